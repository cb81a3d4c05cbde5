"""Signing codes under concurrency, on the real database (SQLite, and PostgreSQL when
``TEST_DATABASE_URL`` is set): the wrong-try counter and the code quota cannot be raced."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlmodel import Session, select

from app.wiring import App
from contracts.service import (
    MAX_CODES_PER_LINK,
    MAX_WRONG_TRIES,
    CodeError,
    LinkError,
    LinkProblem,
    complete_signing,
    decline,
    new_code,
    open_link,
    verify_code,
)
from contracts.signing import SignatureMark, build_signer
from core.clock import FakeClock
from core.settings import ContractSettings
from storage.contract_models import Contract, Employee, SigningEvent, SigningLink
from tests.contracts.support import contract_files, seed_signing_link

PARALLEL = 20


def _link(app: App, clock: FakeClock, tmp_path: Path) -> str:
    return seed_signing_link(app, clock, contract_files(tmp_path / "files"))


def _meeting_point(app: App) -> Callable[[], None]:
    """Where every request has read the link and none has written yet.

    On PostgreSQL the requests really run side by side, so this forces the worst
    interleaving. SQLite serializes write transactions (a lock in this process and
    ``BEGIN IMMEDIATE``), so there the requests cannot meet inside one and run one by one.
    """
    if app.db.is_sqlite:
        return lambda: None
    barrier = threading.Barrier(PARALLEL, timeout=30)

    def meet() -> None:
        barrier.wait()

    return meet


def _in_parallel(work: Callable[[int], str]) -> Counter[str]:
    with ThreadPoolExecutor(PARALLEL) as pool:
        return Counter(pool.map(work, range(PARALLEL)))


def test_parallel_wrong_codes_lock_the_link_exactly_once(
    app: App, clock: FakeClock, tmp_path: Path
) -> None:
    token = _link(app, clock, tmp_path)
    with app.db.transaction() as s:
        link, contract = open_link(s, token, clock=clock)
        code = new_code(s, link, contract, clock=clock)
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    meet = _meeting_point(app)

    def attempt(_: int) -> str:
        with app.db.transaction() as s:
            try:
                link, contract = open_link(s, token, clock=clock)
            except LinkError as exc:
                meet()
                return exc.problem.value
            meet()
            try:
                return "accepted" if verify_code(s, link, contract, wrong, clock=clock) else "wrong"
            except LinkError as exc:
                return exc.problem.value

    outcomes = _in_parallel(attempt)

    assert outcomes == {"wrong": MAX_WRONG_TRIES, "locked": PARALLEL - MAX_WRONG_TRIES}
    with Session(app.db.engine) as s:
        link = s.exec(select(SigningLink)).one()
        assert (link.wrong_tries, link.locked, link.code_hash) == (MAX_WRONG_TRIES, True, None)
        kinds = Counter(e.kind for e in s.exec(select(SigningEvent)).all())
        assert (kinds["code_failed"], kinds["locked"]) == (MAX_WRONG_TRIES, 1)
    # The right code does not get through a locked link.
    with app.db.transaction() as s, pytest.raises(LinkError) as refused:
        open_link(s, token, clock=clock)
    assert refused.value.problem is LinkProblem.LOCKED


def test_the_right_code_is_refused_once_the_link_is_locked(
    app: App, clock: FakeClock, tmp_path: Path
) -> None:
    """A request that read the link before the fifth wrong code was committed."""
    token = _link(app, clock, tmp_path)
    with app.db.transaction() as s:
        link, contract = open_link(s, token, clock=clock)
        code = new_code(s, link, contract, clock=clock)
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    with app.db.session() as slow:  # the candidate's own request, still in flight
        stale, stale_contract = open_link(slow, token, clock=clock)
        slow.expunge_all()
    for _ in range(MAX_WRONG_TRIES):
        with app.db.transaction() as s:
            link, contract = open_link(s, token, clock=clock)
            assert verify_code(s, link, contract, wrong, clock=clock) is None
    with app.db.transaction() as s:
        s.add(stale)
        s.add(stale_contract)
        try:
            verify_code(s, stale, stale_contract, code, clock=clock)
        except (LinkError, CodeError):
            pass
        else:
            raise AssertionError("the right code got through a locked link")
    with Session(app.db.engine) as s:
        link = s.exec(select(SigningLink)).one()
        assert (link.locked, link.session_hash, link.verified_at) == (True, None, None)


def test_parallel_code_requests_send_one_code(app: App, clock: FakeClock, tmp_path: Path) -> None:
    token = _link(app, clock, tmp_path)
    meet = _meeting_point(app)
    codes: list[str] = []

    def ask(_: int) -> str:
        with app.db.transaction() as s:
            link, contract = open_link(s, token, clock=clock)
            meet()
            try:
                codes.append(new_code(s, link, contract, clock=clock))
            except CodeError as exc:
                return exc.reason
            return "sent"

    outcomes = _in_parallel(ask)

    assert outcomes == {"sent": 1, "wait": PARALLEL - 1}
    with Session(app.db.engine) as s:
        link = s.exec(select(SigningLink)).one()
        assert link.codes_sent == 1
    # ... and the one code sent is the one that works.
    with app.db.transaction() as s:
        link, contract = open_link(s, token, clock=clock)
        assert verify_code(s, link, contract, codes[0], clock=clock) is not None
    assert MAX_CODES_PER_LINK > 1


@pytest.mark.parametrize("second", ["sign", "decline"])
def test_a_contract_submitted_twice_at_once_is_signed_once(
    app: App, clock: FakeClock, tmp_path: Path, second: str
) -> None:
    """Two submissions of the signing page side by side (a double tap, a retry): one
    sealed PDF and one employee record, or one decline; never both, never two."""
    files = contract_files(tmp_path / "files")
    token = seed_signing_link(app, clock, files)
    with app.db.transaction() as s:
        link, contract = open_link(s, token, clock=clock)
        code = new_code(s, link, contract, clock=clock)
    with app.db.transaction() as s:
        link, contract = open_link(s, token, clock=clock)
        secret = verify_code(s, link, contract, code, clock=clock)
    assert secret is not None
    signer = build_signer(ContractSettings(), tmp_path / "pki")
    barrier = threading.Barrier(2, timeout=30)

    def submit(which: int) -> str:
        barrier.wait()
        with app.db.transaction() as s:
            try:
                link, contract = open_link(s, token, clock=clock, lock=True)
                if which == 1 and second == "decline":
                    decline(
                        s, link, contract, "found another job", browser_secret=secret, clock=clock
                    )
                    return "declined"
                complete_signing(
                    s, link, contract, browser_secret=secret, mark=SignatureMark(typed_name="张三"),
                    signer=signer, clock=clock, files=files,
                )  # fmt: skip
                return "signed"
            except LinkError as exc:
                return exc.problem.value

    with ThreadPoolExecutor(2) as pool:
        outcomes = Counter(pool.map(submit, range(2)))

    assert sum(outcomes.values()) == 2 and outcomes[LinkProblem.USED.value] == 1, outcomes
    with Session(app.db.engine) as s:
        contract = s.exec(select(Contract)).one()
        employees = s.exec(select(Employee)).all()
        if outcomes["signed"]:
            assert contract.status == "signed" and len(employees) == 1
        else:
            assert contract.status == "declined" and employees == []
