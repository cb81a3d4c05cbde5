"""The scorer's audit: distributions by answer mode, language and HR's candidate groups."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from app.wiring import App
from dialogs.interview.pipeline import store_evaluation
from scoring.audit import Scored, audit_dimension, read_groups_csv
from storage.models import Answer, Candidate, CandidateScore, InterviewSession, Invitation, Job


def test_four_fifths_warning_and_gap() -> None:
    rows = [Scored(80.0, {"mode": "text"}) for _ in range(5)]
    rows += [Scored(75.0 if i < 2 else 50.0, {"mode": "voice"}) for i in range(5)]
    rows += [Scored(90.0, {"mode": "video"})]  # one answer: shown, never warned on
    audit = audit_dimension(rows, "mode", pass_line=70)
    by = {g.name: g for g in audit.groups}
    assert by["text"].pass_rate == 1.0 and by["text"].impact_ratio == 1.0
    assert by["voice"].pass_rate == 0.4 and by["voice"].impact_ratio == 0.4
    assert by["voice"].warn and not by["text"].warn and not by["video"].warn
    assert audit.warnings == ["voice"]
    assert audit.gap == pytest.approx(90.0 - 60.0)


def test_groups_csv() -> None:
    assert read_groups_csv("\ufeffcandidate_id,group\n1,A\n2, B \n\n") == {"1": "A", "2": "B"}
    with pytest.raises(ValueError, match="line 2"):
        read_groups_csv("candidate_id,group\n1\n")
    with pytest.raises(ValueError, match="no candidate"):
        read_groups_csv("candidate_id,group\n")


def _seed(app: App) -> list[int]:
    ids: list[int] = []
    now = dt.datetime(2026, 11, 20, 9, 0, tzinfo=dt.UTC)
    with app.db.transaction() as session:
        job = Job(code="au1", title_zh="审计", title_en="Audit", competencies=[], pass_line=60)
        session.add(job)
        session.flush()
        assert job.id is not None
        for i in range(10):
            person = Candidate(job_id=job.id, name=f"c{i}")
            session.add(person)
            session.flush()
            assert person.id is not None
            ids.append(person.id)
            invitation = Invitation(
                token_hash=f"t{i}", candidate_id=person.id, job_id=job.id, code=f"{i:04d}",
                expires_at=now,
            )  # fmt: skip
            session.add(invitation)
            session.flush()
            voice = i % 2 == 0
            s = InterviewSession(
                candidate_id=person.id, job_id=job.id, invitation_id=invitation.id or 0,
                platform="console", chat_id=f"c{i}", user_id=f"u{i}", state="done",
                language="zh" if voice else "en",
            )  # fmt: skip
            session.add(s)
            session.flush()
            answer = Answer(
                session_id=s.id or 0, question_text="q", competency="x", position=0,
                kind="voice" if voice else "text", text="a", status="scored",
            )  # fmt: skip
            session.add(answer)
            session.flush()
            total = 50.0 if voice else 75.0
            store_evaluation(session, answer, {"total": total, "model": "m"}, now=now)
            session.add(CandidateScore(candidate_id=person.id, job_id=job.id, total=total))
    return ids


def test_audit_cli_on_a_jobs_data(
    app: App, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from main import main

    ids = _seed(app)
    s = app.settings
    config = tmp_path / "config.toml"
    config.write_text(
        f'[app]\ndata_dir = "{s.app.data_dir}"\n[database]\nurl = "{s.database.url}"\n'
        f'[security]\nkey_file = "{s.security.key_file}"\n',
        encoding="utf-8",
    )
    groups = tmp_path / "groups.csv"
    groups.write_text(
        "candidate_id,group\n"
        + "".join(f"{c},{'A' if n % 2 else 'B'}\n" for n, c in enumerate(ids)),
        encoding="utf-8",
    )
    assert main(["--config", str(config), "audit", "au1", "--groups", str(groups), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    audits = {a["dimension"]: a for a in data["audits"]}
    modes = {g["name"]: g for g in audits["mode"]["groups"]}
    assert modes["voice"]["n"] == 5 and modes["voice"]["pass_rate"] == 0.0
    assert modes["text"]["pass_rate"] == 1.0
    assert audits["mode"]["warnings"] == ["voice"] and audits["mode"]["gap"] == 25.0
    assert audits["lang"]["warnings"] == ["zh"]
    assert {g["name"] for g in audits["group"]["groups"]} == {"A", "B"}
    assert main(["--config", str(config), "audit", "au1"]) == 0
    assert "WARNING" in capsys.readouterr().out
