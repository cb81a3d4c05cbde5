"""``/console``: a one-time sign-in link to the HR web console, in a private chat only;
``python main.py console link PLATFORM:USER`` prints one for operators."""

from __future__ import annotations

import argparse

from dialogs.console.links import LINK_TTL, create_link, link_url, purge_expired
from dialogs.kernel.access import Access
from dialogs.kernel.context import Ctx
from dialogs.kernel.events import CommandReceived
from dialogs.kernel.feature import Command, Feature


def console_command(ctx: Ctx, event: CommandReceived) -> None:
    """Staff with any role get a link bound to them; never in a group chat."""
    if event.is_group:
        ctx.reply("console.private_only")
        return
    token = create_link(ctx.session, event.platform, event.user_id, ctx.lang, ctx.now)
    ctx.audit("console_link", "", chat=event.chat_id)
    ctx.reply(
        "console.link",
        url=link_url(ctx.settings.app.public_base_url, token),
        minutes=int(LINK_TTL.total_seconds() // 60),
    )


# ------------------------------------------------------------------ CLI
def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    console = sub.add_parser("console", help="the HR web console")
    csub = console.add_subparsers(dest="console_command", required=True)
    link = csub.add_parser("link", help="print a one-time sign-in link (10 minutes)")
    link.add_argument("who", help="PLATFORM:USER, e.g. console:hr or telegram:12345")
    link.add_argument("--lang", choices=("zh", "en"), default=None)
    link.add_argument(
        "--demo", action="store_true", help="for the data 'main.py demo' left (data_dir/demo)"
    )
    link.set_defaults(func=_link_command)


def _link_command(args: argparse.Namespace) -> int:
    from core.clock import SystemClock
    from core.logging import setup_logging
    from core.settings import load_settings
    from dialogs.kernel.roles import highest_role, parse_principal
    from storage import migrate
    from storage.db import open_database
    from storage.models import AuditEvent

    principal = parse_principal(args.who)
    if principal is None:
        print("expected PLATFORM:USER (platforms: telegram, wechat, wecom, console)")
        return 2
    settings = load_settings(args.config)
    if args.demo:
        from core.settings import demo_settings

        settings = demo_settings(settings)
    setup_logging(settings.app.log_level)
    db = open_database(settings)
    try:
        migrate.upgrade(db.engine)
        now = SystemClock().now()
        with db.transaction() as session:
            if highest_role(session, settings, *principal) is None:
                print(f"{args.who} holds no role: grant one first (python main.py roles grant)")
                return 1
            lang = args.lang or settings.app.default_language
            token = create_link(session, principal[0], principal[1], lang, now)
            session.add(AuditEvent(at=now, actor="cli", action="console_link", subject=""))
    finally:
        db.engine.dispose()
    print(link_url(settings.app.public_base_url, token))
    return 0


FEATURE = Feature(
    "console",
    commands={"console": Command(Access("view", "any"), console_command)},
    cli=register,
    periodic=(purge_expired,),
)
