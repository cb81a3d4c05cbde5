"""``python main.py bench console``: one page of the HR console's candidates table for a
job with 10,000 candidates (sorted by total, with one filter applied: the status; a
competency's minimum score; no person's score and a language), served warm over HTTP
(Starlette's test client, the whole app: session, role check, query, charts, HTML), on SQLite and
on PostgreSQL (``BENCH_DATABASE_URL`` / ``TEST_DATABASE_URL``, else the local default)."""

from __future__ import annotations

import os
import re
import statistics
import time

from core.clock import SystemClock
from core.settings import Settings

Result = tuple[str, float, str]
CANDIDATES = 10_000
WARM = 20
RUNS = 100


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def bench_one(kind: str, base: Settings, pg_url: str | None) -> list[Result]:
    from starlette.testclient import TestClient

    from app.wiring import build_app
    from bench.console_seed import seed_job
    from bench.engine import _database
    from dialogs.console.links import create_link
    from dialogs.kernel.roles import set_grant
    from web.app import create_app
    from web.console.routes import console_routes

    with _database(kind, base, pg_url) as settings:
        clock = SystemClock()
        app = build_app(settings, clock=clock)
        try:
            started = time.perf_counter()
            with app.db.transaction() as session:
                job = seed_job(session, "bench", CANDIDATES, clock.now(), with_answers=20)
                set_grant(session, "console", "bench", "hr_viewer", job.id, clock.now())
            seeded = time.perf_counter() - started
            with app.db.transaction() as session:
                token = create_link(session, "console", "bench", "en", clock.now())
            client = TestClient(create_app(app, extra_routes=console_routes(app)))
            form = client.get(f"/console/login/{token}")
            pre = re.search(r'name="pre" value="([^"]+)"', form.text)
            assert pre is not None
            client.post(f"/console/login/{token}", data={"pre": pre.group(1)})
            url = f"/console/jobs/{job.id}"
            filters = {
                "table_page": {"status": "completed"},
                # The JSON competency score and people's scores (none seeded: all match).
                "competency_page": {"comp": "communication", "comp_min": "60"},
                "human_page": {"human": "no", "language": "en"},
            }
            times: dict[str, list[float]] = {name: [] for name in filters}
            for name, applied in filters.items():
                for i in range(WARM + RUNS):
                    params = {"sort": "total", "dir": "desc", **applied, "page": str(1 + i % 40)}
                    t0 = time.perf_counter()
                    response = client.get(url, params=params)
                    elapsed = time.perf_counter() - t0
                    assert response.status_code == 200, response.status_code
                    assert 'id="chart-ranking"' in response.text
                    if i >= WARM:
                        times[name].append(elapsed)
        finally:
            app.db.engine.dispose()
    results: list[Result] = [(f"console_{kind}_seed_{CANDIDATES}", round(seeded, 1), "s")]
    for name, values in times.items():
        results.append(
            (f"console_{kind}_{name}_p50", round(statistics.median(values) * 1000, 1), "ms")
        )
        results.append(
            (f"console_{kind}_{name}_p95", round(_percentile(values, 0.95) * 1000, 1), "ms")
        )
    return results


def run(settings: Settings) -> list[Result]:
    pg_url = (
        os.environ.get("BENCH_DATABASE_URL")
        or os.environ.get("TEST_DATABASE_URL")
        or "postgresql+psycopg://postgres@127.0.0.1:5432/test"
    )
    results = bench_one("sqlite", settings, None)
    try:
        results += bench_one("postgres", settings, pg_url)
    except Exception as exc:  # no PostgreSQL here: say so instead of a number
        print(f"console_postgres skipped: {type(exc).__name__}", flush=True)
    return results
