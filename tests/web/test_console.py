"""The HR web console over HTTP: sign-in links, per-job authorisation on every page and
action, CSRF, decisions through the chat's path, export escaping, headers."""

from __future__ import annotations

import csv
import io
import re
import threading
import time

import pytest
from openpyxl import load_workbook
from sqlmodel import col, select
from starlette.testclient import TestClient

from app.wiring import App
from bench.console_seed import attach_recording, seed_job, tone_wav
from core.clock import FakeClock
from dialogs.console.links import create_link, purge_expired
from dialogs.kernel.roles import set_grant
from storage.models import (
    Answer,
    AuditEvent,
    Candidate,
    Decision,
    HumanScore,
    InterviewSession,
    Job,
    KeyValue,
    OutboxMessage,
)
from tests.harness import Chat
from web.app import create_app
from web.console.routes import console_routes

EVIL = '=HYPERLINK("http://x","y")'


@pytest.fixture
def world(app: App, clock: FakeClock) -> dict[str, int]:
    """Jobs "sales" (6 candidates, the first with a scored answer) and "ops" (2); staff:
    sv views sales only, sm manages sales only, om manages ops only."""
    with app.db.transaction() as session:
        sales = seed_job(
            session, "sales", 6, clock.now(), names=["Ann Lee", EVIL, "-2+3", "@SUM(A1)"]
        )
        ops = seed_job(session, "ops", 2, clock.now(), with_answers=0, seed=3)
        for user, role, job in (
            ("sv", "hr_viewer", sales),
            ("sm", "hr_manager", sales),
            ("om", "hr_manager", ops),
        ):
            set_grant(session, "console", user, role, job.id, clock.now())
        first = session.exec(
            select(Candidate.id).where(Candidate.job_id == sales.id).order_by(col(Candidate.id))
        ).first()
        other = session.exec(select(Candidate.id).where(Candidate.job_id == ops.id)).first()
    return {"sales": sales.id or 0, "ops": ops.id or 0, "cand": first or 0, "ops_cand": other or 0}


def client_for(app: App, **options: float) -> TestClient:
    routes = console_routes(app, **options)
    return TestClient(create_app(app, extra_routes=routes), base_url="http://testserver")


def link_token(app: App, clock: FakeClock, who: str, lang: str = "en") -> str:
    with app.db.transaction() as session:
        return create_link(session, "console", who, lang, clock.now())


def sign_in(app: App, clock: FakeClock, who: str, lang: str = "en") -> TestClient:
    client = client_for(app)
    token = link_token(app, clock, who, lang)
    form = client.get(f"/console/login/{token}")
    assert form.status_code == 200
    pre = re.search(r'name="pre" value="([^"]+)"', form.text)
    assert pre is not None
    done = client.post(
        f"/console/login/{token}", data={"pre": pre.group(1)}, follow_redirects=False
    )
    assert done.status_code == 303, done.text
    return client


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found is not None
    return found.group(1)


def test_console_command_sends_a_link_that_signs_in_once(
    app: App, chat: Chat, world: dict[str, int]
) -> None:
    replies = chat.send("hr", "/console")
    url = next(
        m.group(0) for d in replies if (m := re.search(r"http\S+/console/login/\S+", d.text))
    )
    token = url.rsplit("/", 1)[1]
    with app.db.session() as session:  # only the hash is stored
        keys = [
            k for k in session.exec(select(KeyValue.key)).all() if k.startswith("console_link:")
        ]
    assert len(keys) == 1 and token not in keys[0]
    client = client_for(app)
    page = client.get(f"/console/login/{token}")
    pre = re.search(r'name="pre" value="([^"]+)"', page.text)
    assert pre is not None and "HttpOnly" in page.headers["set-cookie"]
    first = client.post(
        f"/console/login/{token}", data={"pre": pre.group(1)}, follow_redirects=False
    )
    assert first.status_code == 303
    cookie = first.headers["set-cookie"]
    assert "console_session=" in cookie and "HttpOnly" in cookie
    assert "SameSite=strict" in cookie or "samesite=strict" in cookie.lower()
    assert "Path=/console" in cookie
    jobs = client.get("/console")
    assert jobs.status_code == 200 and "sales" in jobs.text and "ops" in jobs.text
    form = client.get(f"/console/login/{token}")  # the sign-in form again (a new form token)
    pre = re.search(r'name="pre" value="([^"]+)"', form.text)
    assert pre is not None
    again = client.post(f"/console/login/{token}", data={"pre": pre.group(1)})
    assert again.status_code == 410 and "already been used" in again.text


def test_console_is_private_chat_only_and_staff_only(chat: Chat, world: dict[str, int]) -> None:
    group = chat.send("hr", "/console", group="hr-room")
    assert "private chat" in group[0].text and "/console/login/" not in group[0].text
    stranger = chat.send("nobody", "/console", lang="en")
    assert all("/console/login/" not in d.text for d in stranger)


def test_expired_forged_and_unsigned_requests_are_refused(
    app: App, clock: FakeClock, world: dict[str, int]
) -> None:
    client = client_for(app)
    assert client.get("/console").status_code == 401
    token = link_token(app, clock, "hr")
    page = client.get(f"/console/login/{token}")
    pre = re.search(r'name="pre" value="([^"]+)"', page.text)
    assert pre is not None
    # Without the form's own token (a cross-site POST) the link is not spent.
    assert client.post(f"/console/login/{token}", data={"pre": "forged"}).status_code == 403
    clock.advance(minutes=11)
    late = client.post(f"/console/login/{token}", data={"pre": pre.group(1)})
    assert late.status_code == 410 and "expired" in late.text
    forged = client.post("/console/login/" + "A" * 43, data={"pre": pre.group(1)})
    assert forged.status_code == 404
    client.cookies.set("console_session", "B" * 43, path="/console")
    assert client.get("/console").status_code == 401


def test_session_expires_and_signs_out(app: App, clock: FakeClock, world: dict[str, int]) -> None:
    client = sign_in(app, clock, "hr")
    page = client.get("/console")
    out = client.post("/console/logout", data={"csrf": csrf_of(page.text)})
    assert out.status_code == 200 and "signed out" in out.text
    assert client.get("/console").status_code == 401
    client = sign_in(app, clock, "hr")
    link_token(app, clock, "hr")  # a link never used
    clock.advance(hours=9)
    assert purge_expired(app.db, app.services) == 2  # that link and the live session
    assert client.get("/console").status_code == 401


def test_each_page_checks_the_role_for_its_job(
    app: App, clock: FakeClock, world: dict[str, int]
) -> None:
    om = sign_in(app, clock, "om")  # a manager of ops only
    jobs = om.get("/console")
    assert "ops" in jobs.text and f"/console/jobs/{world['sales']}" not in jobs.text
    for path in (
        f"/console/jobs/{world['sales']}",
        f"/console/jobs/{world['sales']}/export.csv",
        f"/console/jobs/{world['sales']}/export.xlsx",
        f"/console/candidates/{world['cand']}",
        "/console/jobs/999999",  # a job that does not exist looks the same
    ):
        response = om.get(path)
        assert response.status_code == 403, path
        assert "no role for this job" in response.text and "ops" in response.text
    refused = om.post(
        f"/console/candidates/{world['cand']}/decide",
        data={"csrf": csrf_of(jobs.text), "outcome": "a"},
    )
    assert refused.status_code == 403
    assert om.get(f"/console/jobs/{world['ops']}").status_code == 200
    with app.db.session() as session:
        denied = session.exec(select(AuditEvent).where(AuditEvent.action == "access_denied")).all()
        assert len(denied) == 6 and all(a.actor == "console:om" for a in denied)
        assert (
            session.exec(select(Decision).where(Decision.candidate_id == world["cand"]))
            .one()
            .status
            == "pending"
        )


def test_a_viewer_sees_but_cannot_decide_and_csrf_is_checked(
    app: App, clock: FakeClock, world: dict[str, int]
) -> None:
    sv = sign_in(app, clock, "sv")
    page = sv.get(f"/console/candidates/{world['cand']}")
    assert page.status_code == 200
    assert '<mark class="el-action"' in page.text and "clear and specific" in page.text
    assert "advisory" in page.text
    refused = sv.post(
        f"/console/candidates/{world['cand']}/decide",
        data={"csrf": csrf_of(page.text), "outcome": "a"},
    )
    assert refused.status_code == 403 and "HR manager" in refused.text
    sm = sign_in(app, clock, "sm")
    page = sm.get(f"/console/candidates/{world['cand']}")
    no_token = sm.post(f"/console/candidates/{world['cand']}/decide", data={"outcome": "a"})
    assert no_token.status_code == 403 and "form expired" in no_token.text
    wrong = sm.post(
        f"/console/candidates/{world['cand']}/decide", data={"csrf": "x" * 32, "outcome": "a"}
    )
    assert wrong.status_code == 403
    with app.db.session() as session:
        assert (
            session.exec(select(Decision).where(Decision.candidate_id == world["cand"]))
            .one()
            .status
            == "pending"
        )


def test_decision_goes_through_the_chat_path_and_the_first_press_wins(
    app: App, clock: FakeClock, world: dict[str, int]
) -> None:
    sm = sign_in(app, clock, "sm")
    hr = sign_in(app, clock, "hr")
    page = sm.get(f"/console/candidates/{world['cand']}")
    other = hr.get(f"/console/candidates/{world['cand']}")
    done = sm.post(
        f"/console/candidates/{world['cand']}/decide",
        data={"csrf": csrf_of(page.text), "outcome": "n"},
    )
    assert done.status_code == 200 and "Decision saved: next round" in done.text
    late = hr.post(
        f"/console/candidates/{world['cand']}/decide",
        data={"csrf": csrf_of(other.text), "outcome": "r"},
    )
    assert late.status_code == 409 and "Already decided: next round by console:sm" in late.text
    with app.db.session() as session:
        d = session.exec(select(Decision).where(Decision.candidate_id == world["cand"])).one()
        assert (d.outcome, d.decided_by, d.decided_in_chat) == (
            "next_round",
            "console:sm",
            "console:web-console",
        )
        assert session.get(Candidate, world["cand"]).status == "next_round"  # type: ignore[union-attr]
        audits = session.exec(select(AuditEvent).where(AuditEvent.action == "decision")).all()
        assert [a.actor for a in audits] == ["console:sm"]
        told = session.exec(
            select(OutboxMessage).where(OutboxMessage.chat_id == f"cand{world['cand']}")
        ).all()
        assert len(told) == 1  # the candidate is told, as from chat


def test_candidates_table_sorts_filters_and_pages(
    app: App, clock: FakeClock, world: dict[str, int]
) -> None:
    hr = sign_in(app, clock, "hr")
    base = f"/console/jobs/{world['sales']}"
    page = hr.get(base, params={"sort": "total", "dir": "asc", "size": "10"})
    ids = [int(x) for x in re.findall(r'href="/console/candidates/(\d+)">#', page.text)]
    with app.db.session() as session:
        from storage.models import CandidateScore

        totals = {
            s.candidate_id: s.total
            for s in session.exec(select(CandidateScore)).all()
            if s.total is not None
        }
    scored = [i for i in ids if i in totals]
    assert [totals[i] for i in scored] == sorted(totals[i] for i in scored)
    assert ids[-len(ids) + len(scored) :] == scored or ids[: len(scored)] == scored
    only = hr.get(base, params={"status": "started"})
    assert only.status_code == 200 and "(1 candidates)" in only.text
    paged = hr.get(base, params={"size": "10", "page": "1", "mode": "voice"})
    assert "(1 candidates)" in paged.text
    bad = hr.get(base, params={"sort": "name; DROP", "page": "-3", "min_total": "nan"})
    assert bad.status_code == 200


def test_candidates_table_filters_by_competency_and_human_score_with_charts(
    app: App, clock: FakeClock, world: dict[str, int]
) -> None:
    """The competency and human-score filters in SQL (JSON on both databases), shown in
    the page's links by ids and values only, and the charts drawn from the same set."""
    from storage.models import CandidateScore

    with app.db.transaction() as session:
        scores = {
            s.candidate_id: s
            for s in session.exec(
                select(CandidateScore).where(CandidateScore.job_id == world["sales"])
            ).all()
        }
        ranked = sorted(scores, key=lambda c: scores[c].per_competency["communication"])
        rated, high = ranked[0], ranked[-1]
        for cid, competency, score, scorer in (
            (rated, "communication", 2, "console:sm"),
            (high, "communication", 5, "console:sm"),
            (high, "customer_focus", 4, "console:x"),
        ):
            session.add(
                HumanScore(candidate_id=cid, competency=competency, score=score, scorer=scorer)
            )
    hr = sign_in(app, clock, "hr")
    base = f"/console/jobs/{world['sales']}"

    def ids(params: dict[str, str]) -> set[int]:
        page = hr.get(base, params={**params, "size": "200"})
        assert page.status_code == 200
        return {int(x) for x in re.findall(r'href="/console/candidates/(\d+)">#', page.text)}

    middle = scores[ranked[len(ranked) // 2]].per_competency["communication"]
    wanted = {c for c in scores if scores[c].per_competency["communication"] >= middle}
    assert 0 < len(wanted) < len(scores)
    assert ids({"comp": "communication", "comp_min": f"{middle:g}"}) == wanted
    assert ids({"comp": "communication", "comp_min": "100"}) == set()
    everyone = ids({})
    assert ids({"comp": "salary", "comp_min": "50"}) == everyone  # not the job's: ignored
    assert ids({"human": "yes"}) == {rated, high}
    assert ids({"human": "no"}) == everyone - {rated, high}
    assert ids({"min_human": "4"}) == {high}  # mean of 5 and 4
    assert ids({"min_human": "4.6"}) == set()
    assert ids({"human": "no", "min_human": "1"}) == set()
    late = hr.get(base, params={"page": "999", "comp": "communication", "comp_min": "0"})
    assert f"Page 1 of 1 ({len(scores)} candidates)" in late.text  # past the end: the last
    assert late.text.count('href="/console/candidates/') == 2 * len(scores)
    page = hr.get(
        base,
        params={"comp": "communication", "comp_min": f"{middle:g}", "human": "yes", "sort": "id"},
    )
    links = re.findall(r'href="(/console/jobs/\d+\?[^"]+)"', page.text)
    assert links and all(
        f"comp=communication&amp;comp_min={middle:g}&amp;human=yes" in link for link in links
    )
    assert "Ann" not in " ".join(links)
    assert 'id="f-comp"' in page.text and 'value="communication" selected' in page.text
    assert page.text.count('class="chart-bar"') == len(wanted & {rated, high})
    charts = hr.get(base)
    assert charts.text.count('class="chart-bar"') == len(scores)
    svg = charts.text[charts.text.index('id="chart-ranking"') :]
    assert f"#{world['cand']} Ann Lee" in svg  # the name decrypted
    assert 'role="img"' in charts.text and "Pass line 70" in charts.text
    average = sum(s.total or 0 for s in scores.values()) / len(scores)
    assert f"Job average {average:.1f}" in charts.text
    zh = sign_in(app, clock, "hr", lang="zh").get(base)
    assert "及格线 70" in zh.text and "分数分布" in zh.text and "能力维度" in zh.text


def test_export_is_safe_against_formula_injection(
    app: App, clock: FakeClock, world: dict[str, int]
) -> None:
    hr = sign_in(app, clock, "hr")
    response = hr.get(f"/console/jobs/{world['sales']}/export.csv")
    assert response.status_code == 200 and "attachment" in response.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    names = [r[1] for r in rows[1:]]
    assert "'" + EVIL in names and "'-2+3" in names and "'@SUM(A1)" in names and "Ann Lee" in names
    xlsx = hr.get(f"/console/jobs/{world['sales']}/export.xlsx")
    sheet = load_workbook(io.BytesIO(xlsx.content)).active
    assert sheet is not None
    cells = [c.value for c in sheet["B"]]
    assert "'" + EVIL in cells and not any(str(v).startswith("=") for v in cells)
    with app.db.session() as session:
        actions = {a.action for a in session.exec(select(AuditEvent)).all()}
    assert {"export_csv", "export_xlsx"} <= actions


def test_headers_language_switch_and_no_personal_data_in_urls(
    app: App, clock: FakeClock, world: dict[str, int]
) -> None:
    hr = sign_in(app, clock, "hr", lang="zh")
    page = hr.get(f"/console/jobs/{world['sales']}")
    assert "候选人" in page.text
    assert "script-src" not in page.headers["content-security-policy"]
    assert "form-action 'self'" in page.headers["content-security-policy"]
    assert page.headers["x-frame-options"] == "DENY" and page.headers["cache-control"] == "no-store"
    assert page.headers["referrer-policy"] == "no-referrer"
    assert not re.search(r'href="[^"]*Ann', page.text)
    switched = hr.post(
        "/console/lang",
        data={"csrf": csrf_of(page.text), "lang": "en", "next": "//evil.example"},
        follow_redirects=False,
    )
    assert switched.headers["location"] == "/console"
    assert "Candidates" in hr.get(f"/console/jobs/{world['sales']}").text
    with app.db.session() as session:
        job = session.exec(select(Job).where(Job.code == "sales")).one()
    assert job.id == world["sales"]


def test_recording_is_served_in_ranges_authorised_and_audited(
    app: App, clock: FakeClock, world: dict[str, int]
) -> None:
    data = tone_wav(0.5)
    with app.db.transaction() as session:
        aid = attach_recording(session, app.db.media, world["cand"], data)
    hr = sign_in(app, clock, "sv")
    page = hr.get(f"/console/candidates/{world['cand']}")
    assert f'src="/console/answers/{aid}/media"' in page.text
    whole = hr.get(f"/console/answers/{aid}/media")
    assert whole.status_code == 200 and whole.content == data
    assert (
        whole.headers["content-type"] == "audio/wav" and whole.headers["accept-ranges"] == "bytes"
    )
    part = hr.get(f"/console/answers/{aid}/media", headers={"Range": "bytes=100-199"})
    assert part.status_code == 206 and part.content == data[100:200]
    assert part.headers["content-range"] == f"bytes 100-199/{len(data)}"
    tail = hr.get(f"/console/answers/{aid}/media", headers={"Range": "bytes=-10"})
    assert tail.status_code == 206 and tail.content == data[-10:]
    late = hr.get(f"/console/answers/{aid}/media", headers={"Range": f"bytes={len(data)}-"})
    assert late.status_code == 416
    om = sign_in(app, clock, "om")
    assert om.get(f"/console/answers/{aid}/media").status_code == 403
    assert om.get("/console/answers/99999/media").status_code == 403
    with app.db.session() as session:
        played = session.exec(
            select(AuditEvent).where(AuditEvent.action == "recording_played")
        ).all()
    assert [a.actor for a in played] == ["console:sv"]  # whole file once; ranges not from 0


def test_a_rater_sees_others_scores_only_after_giving_their_own(
    app: App, clock: FakeClock, world: dict[str, int]
) -> None:
    cid = world["cand"]
    hr = sign_in(app, clock, "hr")
    page = hr.get(f"/console/candidates/{cid}")
    saved = hr.post(
        f"/console/candidates/{cid}/score",
        data={"csrf": csrf_of(page.text), "competency": "0", "score": "2", "comment": "=cmd"},
    )
    assert saved.status_code == 200 and "Your score is saved." in saved.text
    sm = sign_in(app, clock, "sm")
    before = sm.get(f"/console/candidates/{cid}")
    assert "1 scored — shown after you give yours" in before.text and "2.0 (n=1)" not in before.text
    bad = sm.post(
        f"/console/candidates/{cid}/score",
        data={"csrf": csrf_of(before.text), "competency": "9", "score": "7"},
    )
    assert bad.status_code == 400
    sm.post(
        f"/console/candidates/{cid}/score",
        data={"csrf": csrf_of(before.text), "competency": "0", "score": "4"},
    )
    after = sm.get(f"/console/candidates/{cid}")
    assert "2.0 (n=1)" in after.text and "shown after you give yours" not in after.text
    sv = sign_in(app, clock, "sv")  # a viewer: no form, and a forged post is refused
    seen = sv.get(f"/console/candidates/{cid}")
    assert "Save my score" not in seen.text and "3.0 (n=2)" in seen.text
    refused = sv.post(
        f"/console/candidates/{cid}/score",
        data={"csrf": csrf_of(seen.text), "competency": "0", "score": "5"},
    )
    assert refused.status_code == 403
    with app.db.session() as session:
        rows = session.exec(select(HumanScore).where(HumanScore.candidate_id == cid)).all()
        assert sorted((r.scorer, r.score) for r in rows) == [("console:hr", 2), ("console:sm", 4)]
        audits = session.exec(select(AuditEvent).where(AuditEvent.action == "human_score")).all()
        assert len(audits) == 2
        stray = session.exec(
            select(OutboxMessage).where(OutboxMessage.chat_id == "web-console")
        ).all()
        assert stray == []


def test_live_page_streams_rows_when_an_answer_arrives(
    app: App, clock: FakeClock, world: dict[str, int]
) -> None:
    cid = world["cand"]
    with app.db.transaction() as session:
        s = session.exec(select(InterviewSession).where(InterviewSession.candidate_id == cid)).one()
        s.state = "question"  # the seeded interview is still going
        session.add(s)
        sid = s.id or 0
    client = client_for(app, live_poll_s=0.1, live_max_s=1.5)
    token = link_token(app, clock, "sv")
    form = client.get(f"/console/login/{token}")
    pre = re.search(r'name="pre" value="([^"]+)"', form.text)
    assert pre is not None
    client.post(f"/console/login/{token}", data={"pre": pre.group(1)})
    page = client.get(f"/console/jobs/{world['sales']}/live")
    assert page.status_code == 200 and f'href="/console/candidates/{cid}"' in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert '<script src="/console/static/console_live.js"' in page.text

    def answer_later() -> None:
        time.sleep(0.4)
        with app.db.transaction() as session:
            session.add(
                Answer(session_id=sid, position=1, kind="text", text="More.", status="received")
            )

    writer = threading.Thread(target=answer_later)
    writer.start()
    with client.stream("GET", f"/console/jobs/{world['sales']}/live/events") as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        body = "".join(stream.iter_text())
    writer.join()
    events = [e for e in body.split("\n\n") if e.startswith("event: rows")]
    assert len(events) == 2  # the first snapshot, then the one after the new answer
    assert "<td>1</td><td>82.0</td>" in events[0] and "<td>2</td>" in events[1]
    om = sign_in(app, clock, "om")
    assert om.get(f"/console/jobs/{world['sales']}/live").status_code == 403
    assert om.get(f"/console/jobs/{world['sales']}/live/events").status_code == 403


def test_console_posts_take_forms_only(app: App, clock: FakeClock, world: dict[str, int]) -> None:
    hr = sign_in(app, clock, "hr")
    page = hr.get(f"/console/candidates/{world['cand']}")
    sent = hr.post(
        f"/console/candidates/{world['cand']}/decide",
        content=b'{"csrf": "%s", "outcome": "a"}' % csrf_of(page.text).encode(),
        headers={"content-type": "application/json"},
    )
    assert sent.status_code == 415
    assert sent.headers["x-content-type-options"] == "nosniff"
    with app.db.session() as session:
        d = session.exec(select(Decision).where(Decision.candidate_id == world["cand"])).one()
    assert d.status == "pending"


@pytest.mark.postgres_subset.with_args(lambda params: False)  # no database difference
def test_an_oversized_console_post_is_refused_before_it_is_read(
    app: App, clock: FakeClock, world: dict[str, int]
) -> None:
    """The signing page's body limit holds for the console's forms too: a note (or any
    form) past ``[web] max_body_bytes`` gets 413 with the strict headers, and nothing
    is stored."""
    hr = sign_in(app, clock, "hr")
    page = hr.get(f"/console/candidates/{world['cand']}")
    limit = app.settings.web.max_body_bytes
    for path, field in (("note", "text"), ("score", "comment"), ("decide", "outcome")):
        sent = hr.post(
            f"/console/candidates/{world['cand']}/{path}",
            data={"csrf": csrf_of(page.text), field: "x" * (limit + 1)},
        )
        assert sent.status_code == 413, path
        assert sent.headers["x-content-type-options"] == "nosniff"
        assert "frame-ancestors 'none'" in sent.headers["content-security-policy"]
    with app.db.session() as session:
        d = session.exec(select(Decision).where(Decision.candidate_id == world["cand"])).one()
        assert d.status == "pending"
        assert not session.exec(select(AuditEvent).where(AuditEvent.action == "note_added")).all()


def test_follow_up_question_goes_through_the_chat_rules(
    app: App, clock: FakeClock, world: dict[str, int]
) -> None:
    cid = world["cand"]
    sm = sign_in(app, clock, "sm")
    page = sm.get(f"/console/candidates/{cid}")
    assert "Ask a follow-up question" in page.text
    closed = sm.post(
        f"/console/candidates/{cid}/ask",
        data={"csrf": csrf_of(page.text), "question": "What did you learn?"},
    )
    assert closed.status_code == 200 and 'id="notice"' in closed.text  # the interview is over
    with app.db.session() as session:
        s = session.exec(select(InterviewSession).where(InterviewSession.candidate_id == cid)).one()
        assert s.extra_questions == []
    om = sign_in(app, clock, "om")
    refused = om.post(
        f"/console/candidates/{cid}/ask",
        data={"csrf": csrf_of(om.get("/console").text), "question": "Hi?"},
    )
    assert refused.status_code == 403
    sv = sign_in(app, clock, "sv")
    assert "Ask a follow-up question" not in sv.get(f"/console/candidates/{cid}").text
    with app.db.session() as session:
        stray = session.exec(
            select(OutboxMessage).where(OutboxMessage.chat_id == "web-console")
        ).all()
    assert stray == []


def test_follow_up_is_added_to_an_interview_in_progress(
    app: App, chat: Chat, clock: FakeClock
) -> None:
    from tests.dialogs.hr_helpers import begin, setup_job

    setup_job(chat)
    cid = begin(chat, "eve", "Eve Stone")
    hr = sign_in(app, clock, "hr")
    page = hr.get(f"/console/candidates/{cid}")
    added = hr.post(
        f"/console/candidates/{cid}/ask",
        data={"csrf": csrf_of(page.text), "question": "What would you do differently?"},
    )
    assert added.status_code == 200
    with app.db.session() as session:
        s = session.exec(select(InterviewSession).where(InterviewSession.candidate_id == cid)).one()
        audits = session.exec(select(AuditEvent).where(AuditEvent.action == "followup_added")).all()
    assert [(q["text_en"], q["by"]) for q in s.extra_questions] == [
        ("What would you do differently?", "console:hr")
    ]
    assert [a.actor for a in audits] == ["console:hr"]
    notice = re.search(r'<p class="notice" role="status" id="notice">([^<]+)</p>', added.text)
    assert notice is not None and str(cid) in notice.group(1)


def test_compare_two_to_four_candidates_of_one_job(
    app: App, clock: FakeClock, world: dict[str, int]
) -> None:
    sv = sign_in(app, clock, "sv")
    table_page = sv.get(f"/console/jobs/{world['sales']}")
    ids = re.findall(r'name="c" value="(\d+)" form="compare"', table_page.text)[:3]
    assert len(ids) == 3
    base = f"/console/jobs/{world['sales']}/compare"
    page = sv.get(base, params=[("c", i) for i in ids])
    assert page.status_code == 200 and all(
        f'href="/console/candidates/{i}"' in page.text for i in ids
    )
    assert "Customer focus (40%)" in page.text
    assert sv.get(base, params=[("c", ids[0])]).status_code == 400  # one is not a comparison
    mixed = sv.get(base, params=[("c", ids[0]), ("c", str(world["ops_cand"]))])
    assert mixed.status_code == 400  # a candidate of another job is not shown
    om = sign_in(app, clock, "om")
    assert om.get(base, params=[("c", i) for i in ids]).status_code == 403
