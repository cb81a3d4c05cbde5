"""``python main.py wechat ...``: operator tools for the WeChat and WeCom channels."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from sqlmodel import select

from bot.wechat import build_wechat, wechat_invite_qr
from core.errors import ChannelError
from storage.models import GroupBinding


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``python main.py wechat ...``: operator tools for the WeChat and WeCom channels."""
    wechat = sub.add_parser(
        "wechat", help="WeChat/WeCom tools: bind the HR robot to a job, make an invitation QR code"
    )
    wsub = wechat.add_subparsers(dest="wechat_command", required=True)
    bind = wsub.add_parser(
        "bind-robot",
        help="send a job's HR progress posts and decision cards to a WeCom group robot",
    )
    bind.add_argument("job", help="job code")
    bind.add_argument(
        "--chat", default="robot", help="'robot' (WECOM_ROBOT_WEBHOOK) or 'robot:<webhook key>'"
    )
    bind.add_argument(
        "--lang",
        choices=["zh", "en"],
        default=None,
        help="language of the posts (default: app.default_language)",
    )
    bind.set_defaults(func=_bind_robot)
    qr = wsub.add_parser(
        "qr", help="an Official Account QR code that starts the interview of an invitation token"
    )
    qr.add_argument("token", help="the invitation token (write -- before one starting with -)")
    qr.add_argument("--out", default="invitation-qr.png", help="where to write the image")
    qr.set_defaults(func=_qr)


def _bind_robot(args: argparse.Namespace) -> int:
    from app.wiring import build_app
    from core.settings import load_settings
    from storage.models import Job

    chat = str(args.chat)
    if chat != "robot" and not chat.startswith("robot:"):
        print("--chat must be 'robot' or 'robot:<webhook key>'", file=sys.stderr)
        return 2
    app = build_app(load_settings(args.config))
    lang = args.lang or app.settings.app.default_language
    with app.db.transaction() as session:
        job = session.exec(select(Job).where(Job.code == args.job)).first()
        if job is None:
            print(f"no job with the code {str(args.job)[:40]!r}", file=sys.stderr)
            return 1
        exists = session.exec(
            select(GroupBinding).where(
                GroupBinding.platform == "wecom",
                GroupBinding.chat_id == chat,
                GroupBinding.job_id == job.id,
            )
        ).first()
        if exists is None:
            exists = GroupBinding(platform="wecom", chat_id=chat, job_id=job.id or 0)
        exists.language = lang
        session.add(exists)
    print(f"job {job.code}: HR posts go to WeCom {chat} ({lang})")
    return 0


def _qr(args: argparse.Namespace) -> int:
    from app.wiring import build_app
    from core.settings import load_settings
    from dialogs.invitations.invites import find_invitation

    app = build_app(load_settings(args.config))
    with app.db.session() as session:
        invitation = find_invitation(session, str(args.token))
        usable = invitation is not None and invitation.status in ("pending", "opened")
    if not usable:
        print("no open invitation has this token", file=sys.stderr)
        return 1
    try:
        data = wechat_invite_qr(build_wechat(app).client, str(args.token))
    except ChannelError as exc:
        print(f"could not make the QR code: {exc.safe_message()}", file=sys.stderr)
        return 1
    Path(args.out).write_bytes(data)
    print(f"wrote {args.out}")
    return 0
