"""Channel sub-commands: ``run``, ``chat`` and ``demo``."""

from __future__ import annotations

import argparse
import asyncio

from core.logging import setup_logging
from core.settings import load_settings


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    run = sub.add_parser(
        "run", help="run the bot: channels enabled in config.toml, outbox, workers"
    )
    run.add_argument(
        "--demo", action="store_true", help="serve the data 'main.py demo' left (data_dir/demo)"
    )
    run.set_defaults(func=_run)
    chat = sub.add_parser("chat", help="take an interview or act as HR in the terminal")
    chat.add_argument("--user", default="candidate", help="who you are (e.g. admin, hr, alice)")
    chat.add_argument("--group", default=None, help="act inside this group chat")
    chat.add_argument("--lang", default=None, choices=["zh", "en"])
    chat.set_defaults(func=_chat)
    demo = sub.add_parser("demo", help="run a scripted hiring round on the console channel")
    demo.set_defaults(func=_demo)


def _run(args: argparse.Namespace) -> int:
    from app.runner import main

    settings = load_settings(args.config)
    if getattr(args, "demo", False):
        from core.settings import demo_settings

        settings = demo_settings(settings)
    setup_logging(settings.app.log_level)
    return main(settings)


def _chat(args: argparse.Namespace) -> int:
    from app.wiring import build_app
    from bot.console import ConsoleMessenger, interactive

    settings = load_settings(args.config)
    setup_logging("WARNING")
    app = build_app(settings)
    app.channels["console"] = ConsoleMessenger(outgoing=settings.app.data_dir / "outgoing")
    asyncio.run(interactive(app, user=args.user, chat=args.group, language=args.lang))
    return 0


def _demo(args: argparse.Namespace) -> int:
    from bot.demo import main

    settings = load_settings(args.config)
    setup_logging("WARNING")
    return main(settings)
