"""deploy/ in step with the code: no container engine runs here, so the compose file
and the systemd units are parsed and their commands checked against the worker pools
and queues of app/celery_jobs.py and against main.py's own argument parser."""

from __future__ import annotations

import argparse
import configparser
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml

from app.celery_jobs import POOLS, QUEUES, ROUTES
from core.settings import load_settings
from main import build_parser
from tests.conftest import ROOT

DEPLOY = ROOT / "deploy"


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    return data


def _parse(argv: list[str]) -> argparse.Namespace:
    assert argv[0] in ("python", "/opt/interviewer/.venv/bin/python"), argv
    assert argv[1] == "main.py", argv
    return build_parser().parse_args(argv[2:])


def test_every_queue_has_a_pool_and_every_routed_kind_a_consumer() -> None:
    consumed = [q for queues in POOLS.values() for q in queues]
    assert sorted(consumed) == sorted(QUEUES), "each queue in exactly one pool"
    assert set(ROUTES.values()) <= set(consumed)


def test_compose_runs_the_pools_of_the_code(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert {"postgres", "rabbitmq", "redis", "objects", "migrate", "front", "vllm"} <= set(services)
    assert services["vllm"]["profiles"] == ["vllm"], "vLLM is optional"
    workers = {name: s for name, s in services.items() if name.startswith("worker-")}
    assert sorted(workers) == sorted(f"worker-{pool}" for pool in POOLS)
    for pool, queues in POOLS.items():
        args = _parse(workers[f"worker-{pool}"]["command"])
        assert args.func.__module__ == "app.worker_cli"
        assert args.queues.split(",") == list(queues)
        assert args.config == "deploy/config.toml"
    gpu = services["worker-gpu"]["deploy"]["resources"]["reservations"]["devices"][0]
    assert gpu["capabilities"] == ["gpu"]
    front = _parse(services["front"]["command"])
    assert front.command == "run" and front.config == "deploy/config.toml"
    assert services["front"]["deploy"]["replicas"] >= 2, "fronts share the outbox (leases)"
    assert "/readyz" in " ".join(services["front"]["healthcheck"]["test"])
    assert services["front"]["environment"]["RATELIMIT_REDIS_URL"].startswith("redis://redis:")
    migrate = _parse(services["migrate"]["command"])
    assert migrate.command == "db" and migrate.func.__name__ == "_upgrade"
    for name in ("front", *workers):
        env = services[name]["environment"]
        assert (
            env["CELERY_BROKER_URL"].startswith("amqp://")
            and "@rabbitmq:5672" in env["CELERY_BROKER_URL"]
        )
        assert "@postgres:5432/" in env["DATABASE_URL"]
        assert services[name]["depends_on"]["migrate"]["condition"] == (
            "service_completed_successfully"
        )


def test_the_deployed_config_selects_celery_s3_and_webhooks() -> None:
    env = {
        "DATABASE_URL": "postgresql+psycopg://interviewer:pw@postgres:5432/interviewer",
        "CELERY_BROKER_URL": "amqp://interviewer:pw@rabbitmq:5672//",
        "TELEGRAM_TOKEN": "123:real-looking-token",
        "TELEGRAM_WEBHOOK_SECRET": "a-webhook-secret-value",
        "S3_SECRET_ACCESS_KEY": "s3-secret-value",
        "RATELIMIT_REDIS_URL": "redis://redis:6379/1",
    }
    settings = load_settings(DEPLOY / "config.toml", env=env)
    assert settings.ratelimit.redis_url is not None  # one send budget per bot, shared
    assert settings.web.drain_grace_seconds > 0
    assert settings.workers.backend == "celery"
    assert settings.media.backend == "s3" and settings.media.s3_endpoint_url
    assert settings.telegram.mode == "webhook" and settings.web.host == "0.0.0.0"
    assert settings.database.url.startswith("postgresql+psycopg://")


def _exec_start(unit: Path) -> list[str]:
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    parser.read_string(unit.read_text())
    return shlex.split(parser["Service"]["ExecStart"])


def test_systemd_units_run_the_same_commands() -> None:
    front = _exec_start(DEPLOY / "systemd" / "interviewer-front.service")
    assert _parse(front).command == "run"
    worker = _exec_start(DEPLOY / "systemd" / "interviewer-worker@.service")
    for queues in POOLS.values():
        instance = ",".join(queues)  # systemctl enable 'interviewer-worker@asr,llm'
        args = _parse([part.replace("%i", instance) for part in worker])
        assert args.command == "worker" and args.queues.split(",") == list(queues)


def test_the_plain_celery_form_loads_the_same_app(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``celery -A app.celery_main worker``: settings from INTERVIEWER_CONFIG."""
    import importlib
    import sys

    config = tmp_path / "config.toml"
    config.write_text(
        f'[app]\ndata_dir = "{tmp_path / "data"}"\n'
        '[workers]\nbackend = "celery"\nqueue_prefix = "plain."\n'
    )
    monkeypatch.setenv("INTERVIEWER_CONFIG", str(config))
    monkeypatch.delitem(sys.modules, "app.celery_main", raising=False)
    module = importlib.import_module("app.celery_main")
    try:
        assert "interviewer.run_job" in module.app.tasks
        assert {q.name for q in module.app.conf.task_queues} == {f"plain.{q}" for q in QUEUES}
    finally:
        sys.modules.pop("app.celery_main", None)


def test_the_scale_bench_starts_the_processes_compose_runs(compose: dict[str, Any]) -> None:
    """``bench scale`` starts fronts and workers directly: the same sub-commands as the
    compose services (only the config path differs), the workers taking every pool's
    queues in one process."""
    from bench.fronts import FRONT_ARGS, WORKER_ARGS

    services = compose["services"]
    front = services["front"]["command"]
    assert front[front.index("--config") + 2 :] == FRONT_ARGS
    bench_worker = build_parser().parse_args(["--config", "x.toml", *WORKER_ARGS])
    consumed: list[str] = []
    for pool in POOLS:
        command = services[f"worker-{pool}"]["command"]
        args = _parse(command)
        assert command[command.index("--config") + 2] == WORKER_ARGS[0] == "worker"
        assert args.func is bench_worker.func
        consumed += args.queues.split(",")
    assert sorted(bench_worker.queues.split(",")) == sorted(consumed)
