"""The ``bench`` sub-command."""

from __future__ import annotations

import argparse
import os
from importlib import import_module

from core.logging import setup_logging
from core.settings import load_settings

# bench name -> module with ``run(settings) -> list[(name, value, unit)]``
# (the ASR bench prints each line as it is measured; the others are printed here)
PRINTS_AS_IT_GOES = {"asr"}
BENCHES = {
    "asr": "bench.asr",
    "code": "bench.code",
    "console": "bench.console",
    "star": "bench.star",
    "telegram": "bench.telegram",
    "hrgroup": "bench.hrgroup",
}


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    bench = sub.add_parser("bench", help="benchmarks; print 'name value unit' lines")
    bench.add_argument("name", choices=["engine", "scale", *BENCHES])
    bench.add_argument(
        "--db",
        default="both",
        choices=["sqlite", "postgres", "both"],
        help="engine bench: database(s)",
    )
    bench.add_argument(
        "--candidates", type=int, default=None, help="engine: 1000, scale: 300 (30 with --fronts 0)"
    )
    bench.add_argument(
        "--workers", default="1", help="scale bench: worker process counts to compare"
    )
    bench.add_argument(
        "--fronts",
        default="1,2,4",
        help="scale bench: front process counts to compare (0: one front inside the bench)",
    )
    bench.add_argument(
        "--rate", type=float, default=15.0, help="scale bench: answers/s offered, all fronts"
    )
    bench.add_argument("--answers", type=int, default=2, help="scale bench: answers per candidate")
    bench.add_argument(
        "--faults",
        action="store_true",
        help="scale bench: SIGKILL a front and a worker and cut the broker mid-run",
    )
    bench.add_argument(
        "--llm-latency",
        type=float,
        default=None,
        help="scale bench: simulated seconds per evaluation in the workers (0.05; 0.2 with"
        " --fronts 0)",
    )
    bench.add_argument(
        "--think",
        type=float,
        default=10.0,
        help="engine bench: mean seconds between a candidate's events",
    )
    bench.set_defaults(func=_bench)


def _bench(args: argparse.Namespace) -> int:
    settings = load_settings(args.config)
    setup_logging("WARNING")
    pg_url = (
        os.environ.get("BENCH_DATABASE_URL")
        or os.environ.get("TEST_DATABASE_URL")
        or "postgresql+psycopg://postgres@127.0.0.1:5432/test"
    )
    fronts = [int(n) for n in args.fronts.split(",") if n.strip()]
    if args.name == "scale" and fronts != [0]:
        from bench import fronts as scale_fronts

        scale_fronts.run(
            settings,
            pg_url=pg_url,
            fronts=fronts,
            workers=[int(n) for n in args.workers.split(",") if n.strip()],
            candidates=args.candidates or 300,
            answers_each=args.answers,
            rate=args.rate,
            llm_s=0.05 if args.llm_latency is None else args.llm_latency,
            faults=args.faults,
        )
        return 0
    if args.name == "scale":
        from bench import scale

        scale.run(
            settings,
            pg_url=pg_url,
            workers=[int(n) for n in args.workers.split(",") if n.strip()],
            candidates=args.candidates or 30,
            llm_s=0.2 if args.llm_latency is None else args.llm_latency,
        )
        return 0
    if args.name == "engine":
        from bench import engine

        databases = ["sqlite", "postgres"] if args.db == "both" else [args.db]
        engine.run(
            settings,
            databases=databases,
            pg_url=pg_url,
            candidates=args.candidates or 1000,
            think_s=args.think,
        )
        return 0
    module = import_module(BENCHES[args.name])
    lines = module.run(settings)
    if args.name not in PRINTS_AS_IT_GOES:
        for name, value, unit in lines:
            print(f"{name} {value} {unit}", flush=True)
    return 0
