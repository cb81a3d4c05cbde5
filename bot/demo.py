"""``make demo``: a whole hiring round on the console channel, from job to stored answers.

It creates a sample job through the admin dialog, binds an HR group, invites three
candidates, plays their scripted answers through the engine and prints the
conversation and what was stored. Each later capability adds its stage here.
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import subprocess
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from sqlmodel import col, func, select

from app.wiring import App, build_app
from bot.console import ConsoleMessenger, ConsoleSession
from core.settings import Settings, demo_settings
from dialogs.interview.pipeline import Pipeline
from storage.crypto import token_hash
from storage.models import (
    Answer,
    BackgroundJob,
    Candidate,
    CandidateScore,
    Decision,
    FunnelEvent,
    InterviewSession,
    Invitation,
    OutboxMessage,
)

JOB = "sales-2026"


@dataclass
class Script:
    user: str
    name: str
    language: str
    voice_ok: bool
    answers: list[str]


CANDIDATES = [
    Script(
        "li_na",
        "李娜",
        "zh",
        True,
        [
            "去年我负责的一个大客户因为交付延迟准备终止合同。我的任务是在两周内挽回关系。我先逐条梳理了客户的投诉，"
            "每天和对方项目经理通电话，协调工厂加班并提供了临时替代方案。最终客户续签了120万元的合同，满意度从6分提升到9分。",
            "我曾经需要向不懂技术的财务同事解释系统迁移的风险。我把方案画成三张流程图，用他们熟悉的报表举例，"
            "会后发了一页纸的总结。结果他们当周就批准了预算，迁移比计划提前一周完成。",
            "上个季度我们的退货率突然上升到8%。我拉取了三个月的数据，发现问题集中在一个批次的包装上。"
            "我和仓库一起改了包装规格并加了抽检，一个月后退货率降到了3%。",
        ],
    ),
    Script(
        "tom",
        "Tom Baker",
        "en",
        True,
        [
            "VOICE",
            "I usually try to communicate clearly with everyone and I think communication is very important in any team.",
            "Last spring our weekly report took two days to build by hand. My task was to speed it up. "
            "I wrote a Python script that pulled the data from our CRM and built the tables automatically, "
            "and I trained two colleagues to run it. The report now takes twenty minutes and errors dropped to zero.",
        ],
    ),
    Script(
        "wang_fang",
        "王芳",
        "zh",
        False,
        [
            "我觉得客户很重要，要多沟通。",
            "我喜欢看电影，周末一般去爬山。",
            "遇到问题我会想办法解决。",
        ],
    ),
]


def _say(who: str, line: str) -> None:
    print(f"\n{who} ▸ {line}", flush=True)


def make_voice(text: str, folder: Path, *, voice: str = "en-us") -> Path | None:
    """A spoken answer as a Telegram-style OGG/Opus voice note (needs espeak-ng and ffmpeg)."""
    if not (shutil.which("espeak-ng") and shutil.which("ffmpeg")):
        return None
    wav = folder / "answer.wav"
    ogg = folder / "answer.ogg"
    subprocess.run(
        ["espeak-ng", "-v", voice, "-s", "150", "-w", str(wav), text],
        check=True,
        capture_output=True,
    )
    subprocess.run(
        [
            "ffmpeg",
            "-y",
            "-loglevel",
            "error",
            "-i",
            str(wav),
            "-c:a",
            "libopus",
            "-b:a",
            "24k",
            str(ogg),
        ],
        check=True,
    )
    return ogg


class Demo:
    def __init__(self, app: App, messenger: ConsoleMessenger, work: Path) -> None:
        self.app = app
        self.messenger = messenger
        self.work = work

    async def act(
        self, user: str, line: str, *, chat: str | None = None, language: str | None = None
    ) -> None:
        _say(user if chat is None else f"{user} in {chat}", line)
        await ConsoleSession(self.app, user=user, chat=chat, language=language).send(line)

    async def setup_job(self) -> None:
        print("\n=== 1. An admin creates a job through the guided dialog ===")
        for line in [
            "/newjob",
            JOB,
            "销售代表",
            "Sales representative",
            "customer_focus 40, communication 30, problem_solving 30",
            "70",
            "customer_focus-01, communication-01, problem_solving-01",
            f"/contractdefaults {JOB} contract_type=fixed_term start_date=2027-01-04 end_date=2030-01-03 "
            'probation_months=3 monthly_wage=15000 probation_wage=12000 city=上海 workplace="上海市浦东新区世纪大道100号"',
        ]:
            await self.act("admin", line)
        print("\n=== 2. The admin binds the HR group to the job ===")
        await self.act("admin", f"/bind {JOB}", chat="hr-group")

    async def invite(self) -> dict[str, tuple[str, str]]:
        print("\n=== 3. HR invites three candidates ===")
        found: dict[str, tuple[str, str]] = {}
        for script in CANDIDATES:
            await self.act("hr", f"/invite {JOB} {script.name}")
            # The link is only in HR's reply: the database keeps a hash of its token.
            token = next(
                m[1]
                for _, text in reversed(self.messenger.transcript)
                if (m := re.search(r"/start (\S+)", text))
            )
            with self.app.db.session() as session:
                invitation = session.exec(
                    select(Invitation).where(Invitation.token_hash == token_hash(token))
                ).one()
            found[script.name] = (token, invitation.code)
        return found

    async def interview(self, script: Script, token: str, code: str) -> None:
        print(f"\n=== 4. {script.name} takes the interview ({script.language}) ===")
        act = self._actor(script)
        await act(f"/start {token}")
        await act(f"/press lang:{script.language}")
        await act("/press consent:yes")
        await act("/press sens:yes" if script.voice_ok else "/press sens:no")
        await act(f"{script.name} 000000")  # a typo in the code first
        await act(f"{script.name} {code}")
        await act("/press practice:skip")
        for index, answer in enumerate(script.answers):
            if answer == "VOICE":
                spoken = (
                    "Last year a key customer was about to cancel because of late deliveries. "
                    "I called them every day, arranged weekend shifts and offered a temporary replacement. "
                    "They renewed the contract and ordered twenty percent more."
                )
                voice = make_voice(spoken, self.work)
                if voice is not None:
                    await act(f"/voice {voice}")
                    continue
                answer = spoken
            await act(answer)
            if index == 0 and script.user == "wang_fang":
                # Out-of-place input gets a short answer and changes nothing.
                await act("/dance")
        await act("/press submit")

    def _actor(self, script: Script) -> Callable[[str], Awaitable[None]]:
        async def act(line: str) -> None:
            await self.act(script.user, line, language=script.language)

        return act

    async def finish_jobs(self, timeout_s: float = 900) -> None:
        """Wait for transcription and scoring still queued (retries included)."""
        print("\n=== 5. Background jobs finish: transcripts, AI scores, reports, ranking ===")
        worker = self.app.worker()
        dispatcher = self.app.dispatcher()
        deadline = asyncio.get_running_loop().time() + timeout_s
        while asyncio.get_running_loop().time() < deadline:
            ran = await asyncio.to_thread(worker.run_one)
            await dispatcher.drain()
            if not ran:
                with self.app.db.session() as session:
                    waiting = session.exec(
                        select(func.count())
                        .select_from(BackgroundJob)
                        .where(col(BackgroundJob.status).in_(["pending", "running"]))
                    ).one()
                if waiting == 0:
                    return
                await asyncio.sleep(1)
        print("(some background jobs are still waiting; see `python main.py jobs failed`)")

    async def decide(self) -> None:
        print("\n=== 6. HR decides in the group (AI scores advise, a person decides) ===")
        with self.app.db.session() as session:
            scores = session.exec(
                select(CandidateScore).order_by(col(CandidateScore.total).desc())
            ).all()
        if not scores:
            print("(no candidate was scored)")
            return
        best, worst = scores[0], scores[-1]
        await self.act("viewer", f"/press dec:{best.candidate_id}:a", chat="hr-group")
        await self.act("hr", f"/press dec:{best.candidate_id}:a", chat="hr-group")
        if worst.candidate_id != best.candidate_id:
            await self.act("hr", f"/press dec:{worst.candidate_id}:r", chat="hr-group")

    async def contract(self) -> None:
        print(
            "\n=== 7. Contract: details in chat, pre-check, e-sign link, code in chat, sealed PDF ==="
        )
        with self.app.db.session() as session:
            approved = session.exec(select(Decision).where(Decision.outcome == "approve")).first()
            s = session.exec(
                select(InterviewSession).where(
                    InterviewSession.candidate_id == (approved.candidate_id if approved else -1)
                )
            ).first()
        if approved is None or s is None:
            print("(nobody was approved)")
            return
        user = s.user_id
        await self.act(user, "11010519491231002X")
        await self.act(user, "上海市徐汇区漕溪北路88号")
        await self.act("hr", f"/press ct:{approved.candidate_id}:send", chat="hr-group")
        link = next(
            (
                text
                for chat, text in reversed(self.messenger.transcript)
                if chat == user and "/sign/" in text
            ),
            None,
        )
        if link is None:
            print("(no signing link was sent)")
            return
        token = link.split("/sign/", 1)[1].split()[0]
        print(
            f"\n{user} opens the signing page on their phone (a real browser in the tests; an HTTP client here)"
        )
        await asyncio.to_thread(self._sign_on_page, token, user)
        await self.app.dispatcher().drain()

    def _sign_on_page(self, token: str, user: str) -> None:
        from starlette.applications import Starlette
        from starlette.testclient import TestClient

        from web.contracts import contract_routes

        with TestClient(
            Starlette(routes=contract_routes(self.app)),
            base_url=self.app.settings.app.public_base_url,
        ) as client:
            client.post(f"/sign/{token}/code/send")
            asyncio.run(self.app.dispatcher().drain())
            digits = ""
            for chat, text in reversed(self.messenger.transcript):
                found = re.search(r"(?:code for contract|验证码).*?(\d{6})", text)
                if chat == user and found:
                    digits = found.group(1)
                    break
            print(f"{user} ▸ enters the code from the chat and signs")
            client.post(f"/sign/{token}/code", data={"code": digits})
            with self.app.db.session() as session:
                from storage.contract_models import Contract

                contract = session.exec(select(Contract).where(Contract.status == "sent")).first()
                name = json.loads(contract.terms_json)["employee"]["name"] if contract else ""
            response = client.post(
                f"/sign/{token}/sign", data={"mode": "type", "typed_name": name, "confirm": "yes"}
            )
            print(f"  signing page → HTTP {response.status_code}")

    def report(self) -> None:
        print("\n=== 8. What was stored ===")
        with self.app.db.session() as session:
            for candidate in session.exec(select(Candidate).order_by(col(Candidate.id))).all():
                s = session.exec(
                    select(InterviewSession).where(InterviewSession.candidate_id == candidate.id)
                ).first()
                answers = session.exec(
                    select(Answer)
                    .where(Answer.session_id == (s.id if s else -1))
                    .order_by(col(Answer.position))
                ).all()
                kinds = ", ".join(
                    f"Q{a.position + 1}:{a.kind}/{a.status}" for a in answers if not a.practice
                )
                consent = (
                    f"consent {s.consent_version} at {s.consent_at:%H:%M:%S}"
                    if s and s.consent_at
                    else "no consent"
                )
                voice = "voice/video allowed" if s and s.sensitive_consent else "text only"
                print(
                    f"candidate #{candidate.id} {candidate.name}: {candidate.status}; {consent}; {voice}; answers: {kinds}"
                )
            funnel = session.exec(
                select(FunnelEvent.stage, func.count()).group_by(col(FunnelEvent.stage))
            ).all()
            print("funnel: " + ", ".join(f"{stage} {count}" for stage, count in sorted(funnel)))
            outbox = session.exec(
                select(OutboxMessage.status, func.count()).group_by(col(OutboxMessage.status))
            ).all()
            print("outbox: " + ", ".join(f"{status} {count}" for status, count in outbox))
            for score in session.exec(select(CandidateScore)).all():
                print(
                    f"AI total for candidate #{score.candidate_id}: {score.total} (passed: {score.passed}, provisional: {score.provisional})"
                )
            for decision in session.exec(select(Decision)).all():
                print(
                    f"decision for candidate #{decision.candidate_id}: {decision.status} {decision.outcome or ''} by {decision.decided_by or '-'}"
                )
            from storage.contract_models import Contract, Employee

            for contract in session.exec(select(Contract)).all():
                print(
                    f"contract {contract.contract_no}: {contract.status}, sha256 {str(contract.signed_sha256)[:16]}…"
                )
            for employee in session.exec(select(Employee)).all():
                print(
                    f"employee record: candidate #{employee.candidate_id}, {employee.start_date} → {employee.end_date}, archive until {employee.archive_until}"
                )
            jobs = session.exec(
                select(BackgroundJob.kind, BackgroundJob.status, func.count()).group_by(
                    col(BackgroundJob.kind), col(BackgroundJob.status)
                )
            ).all()
            print("background jobs: " + (", ".join(f"{k} {st} {n}" for k, st, n in jobs) or "none"))
        raw = (self.app.settings.app.data_dir / "demo.sqlite3").read_bytes()
        leaked = [c.name for c in CANDIDATES if c.name.encode() in raw]
        print(
            "personal data in the raw database file: "
            + ("FOUND " + ", ".join(leaked) if leaked else "none (encrypted at rest)")
        )


def _fresh_folder(folder: Path) -> None:
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)


async def run_demo(base: Settings, folder: Path, *, pipeline: Pipeline | None = None) -> int:
    """The whole demo; tests pass a ``pipeline`` with fake models to keep it fast."""
    _fresh_folder(folder)
    settings = demo_settings(base, folder)
    app = build_app(settings, pipeline=pipeline)
    messenger = ConsoleMessenger(outgoing=folder / "outgoing")
    app.channels["console"] = messenger
    with tempfile.TemporaryDirectory() as tmp:
        demo = Demo(app, messenger, Path(tmp))
        await demo.setup_job()
        invitations = await demo.invite()
        for script in CANDIDATES:
            token, code = invitations[script.name]
            await demo.interview(script, token, code)
        await demo.finish_jobs()
        await demo.decide()
        await demo.contract()
        demo.report()
    print("\ndemo finished.")
    return 0


def main(settings: Settings) -> int:
    return asyncio.run(run_demo(settings, settings.app.data_dir / "demo"))
