"""``contract`` sub-commands: pre-check and render a contract from a ``TERMS.json`` file.

``python main.py contract check TERMS.json [--json] [--lang zh|en]`` prints the findings and
exits 0 when nothing blocks the contract, 1 when something does.
``python main.py contract render TERMS.json -o out.pdf`` writes the unsigned contract.
``python main.py contract validate signed.pdf`` checks a sealed contract offline;
``python main.py contract validate HT-...`` checks a stored one (decrypted in memory).
``python main.py contract employee QUERY`` shows employees and their contracts' end dates.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path
from zoneinfo import ZoneInfo

from contracts.messages import Lang
from contracts.minimum_wage import MinimumWageTable
from contracts.rules import check, is_blocked
from contracts.terms import load_terms
from core.errors import ConfigError
from core.settings import Settings, load_settings


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``contract check`` and ``contract render``."""
    contract = sub.add_parser("contract", help="labour contracts: pre-check and render")
    csub = contract.add_subparsers(dest="contract_command", required=True)

    chk = csub.add_parser("check", help="apply the Labour Contract Law pre-check to TERMS.json")
    chk.add_argument("terms", type=Path, help="contract terms (JSON)")
    chk.add_argument("--json", action="store_true", help='print {"ok", "findings"} as JSON')
    chk.add_argument("--lang", choices=("zh", "en"), default=None, help="message language")
    chk.add_argument("--wages", type=Path, default=None, help="minimum-wage table (TOML)")
    chk.add_argument("--today", type=dt.date.fromisoformat, default=None, help="YYYY-MM-DD")
    chk.set_defaults(func=_check)

    ren = csub.add_parser("render", help="render TERMS.json as the unsigned contract PDF")
    ren.add_argument("terms", type=Path, help="contract terms (JSON)")
    ren.add_argument("-o", "--output", type=Path, required=True, help="PDF file to write")
    ren.add_argument("--number", default="DRAFT", help="contract number printed on it")
    ren.set_defaults(func=_render)

    val = csub.add_parser("validate", help="validate the signatures of a sealed contract PDF")
    val.add_argument("pdf", help="sealed contract PDF file, or the number of a stored contract")
    val.set_defaults(func=_validate)

    bench = csub.add_parser("bench", help="time rendering, sealing and validating a contract")
    bench.add_argument("terms", type=Path, help="contract terms (JSON)")
    bench.add_argument("-n", type=int, default=3, help="rounds")
    bench.set_defaults(func=_bench)

    emp = csub.add_parser(
        "employee", help="look up employees: candidate id, contract number or name"
    )
    emp.add_argument("query", help="candidate id, contract number or (part of) a name")
    emp.set_defaults(func=_employee)


def _defaults(args: argparse.Namespace) -> tuple[Lang, dt.date]:
    """Language and today's date from the settings (or plain defaults without a config)."""
    try:
        settings = load_settings(args.config)
    except ConfigError:
        if args.config:
            raise
        return "zh", dt.datetime.now(ZoneInfo("Asia/Shanghai")).date()
    today = dt.datetime.now(ZoneInfo(settings.app.timezone)).date()
    return settings.app.default_language, today


def _check(args: argparse.Namespace) -> int:
    default_lang, today = _defaults(args)
    lang: Lang = args.lang or default_lang
    terms = load_terms(args.terms)
    wages = MinimumWageTable.load(args.wages)
    findings = check(terms, today=args.today or today, wages=wages)
    ok = not is_blocked(findings)
    if args.json:
        out = {"ok": ok, "findings": [f.as_dict(lang) for f in findings]}
        json.dump(out, sys.stdout, ensure_ascii=False, indent=2)
        print()
    else:
        for f in findings:
            print(f"{f.severity.upper():5}  {f.rule}  [{f.as_dict(lang)['article']}]")
            print(f"       {f.message(lang)}")
        blocks = sum(f.severity == "block" for f in findings)
        if lang == "zh":
            print(
                "可以发送" if ok else f"不能发送：{blocks} 项阻止性问题",
                f"（共 {len(findings)} 项提示）",
            )
        else:
            print(
                "OK to send" if ok else f"BLOCKED: {blocks} blocking finding(s)",
                f"({len(findings)} in all)",
            )
    return 0 if ok else 1


def _render(args: argparse.Namespace) -> int:
    from contracts.render import write_contract  # fpdf2 and pyHanko load only when rendering

    terms = load_terms(args.terms)
    _, today = _defaults(args)
    blocks = [f for f in check(terms, today=today) if f.severity == "block"]
    if blocks:
        rules = ", ".join(sorted({f.rule for f in blocks}))
        print(f"warning: the pre-check blocks these terms ({rules}); draft only", file=sys.stderr)
    rendered = write_contract(terms, args.output, contract_no=args.number)
    print(f"{args.output}: {rendered.pages} pages, sha256 {rendered.sha256}")
    return 0


def _validate(args: argparse.Namespace) -> int:
    import logging

    from contracts.signing import configured_trust_roots, validate_contract

    logging.getLogger("pyhanko").setLevel(logging.CRITICAL)  # the report below says it all
    settings = load_settings(args.config)
    roots = configured_trust_roots(settings.contracts, settings.app.data_dir)
    path = Path(args.pdf)
    # A folder or an unreadable file is an error about that path, not a contract number.
    data = path.read_bytes() if path.exists() else _stored_signed_pdf(settings, args.pdf)
    if data is None:
        print(f"{args.pdf}: no such file, and no signed contract with that number", file=sys.stderr)
        return 2
    if not _readable_pdf(data):
        print(f"{args.pdf}: not a readable PDF file", file=sys.stderr)
        return 2
    report = validate_contract(data, roots)
    for sig in report.signatures:
        print(f"{sig.field:12} {'OK ' if sig.bottom_line else 'BAD'} {sig.summary}")
    print("valid" if report.ok else "NOT VALID")
    return 0 if report.ok else 1


def _readable_pdf(data: bytes) -> bool:
    """True if pyHanko can open the file at all (a signature report needs that much)."""
    import io

    from pyhanko.pdf_utils.reader import PdfFileReader

    try:
        PdfFileReader(io.BytesIO(data), strict=False)
    except Exception:  # any parse error: not a PDF we can report on
        return False
    return True


def _stored_signed_pdf(settings: Settings, contract_no: str) -> bytes | None:
    """The sealed PDF of a stored contract, decrypted in memory (None if there is none)."""
    from sqlmodel import select

    from contracts.files import ContractFiles
    from contracts.service import signed_pdf
    from storage.cli import open_migrated_database
    from storage.contract_models import Contract

    db = open_migrated_database(settings)
    try:
        with db.session() as session:
            contract = session.exec(
                select(Contract).where(Contract.contract_no == contract_no.strip())
            ).first()
        if contract is None or contract.signed_pdf_path is None:
            return None
        return signed_pdf(contract, ContractFiles.in_data_dir(settings.app.data_dir, db.keyring))
    finally:
        db.engine.dispose()


def _employee(args: argparse.Namespace) -> int:
    from contracts.service import lookup_employee
    from storage.cli import open_migrated_database

    settings = load_settings(args.config)
    db = open_migrated_database(settings)
    query: int | str = int(args.query) if args.query.isdigit() else args.query
    with db.transaction() as session:
        records = lookup_employee(session, query)
        for rec in records:
            emp, contract = rec.employee, rec.contract
            end = emp.end_date.isoformat() if emp.end_date else "-"
            print(
                f"{emp.name}\t{emp.position}\t{contract.contract_no}\t{emp.contract_type}\t{emp.start_date}\t{end}"
            )
    if not records:
        print("no employee found")
    return 0 if records else 1


def _bench(args: argparse.Namespace) -> int:
    """Print how long rendering, sealing (local CA and TSA) and validating take."""
    import tempfile
    import time

    from contracts.render import render_contract
    from contracts.signing import SealRequest, SignatureMark, build_signer, validate_contract
    from core.settings import ContractSettings

    terms = load_terms(args.terms)
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        signer = build_signer(ContractSettings(), Path(tmp))
        print(f"contract bench: create local CA {time.perf_counter() - start:.2f} s")
        for round_no in range(1, args.n + 1):
            t0 = time.perf_counter()
            rendered = render_contract(terms, contract_no=f"BENCH-{round_no}")
            t1 = time.perf_counter()
            request = SealRequest(
                f"BENCH-{round_no}",
                terms.employer.name,
                terms.employee.name,
                SignatureMark(typed_name=terms.employee.name),
            )
            sealed = signer.seal(rendered.pdf, request)
            t2 = time.perf_counter()
            ok = validate_contract(sealed.pdf, signer.trust_roots()).ok
            t3 = time.perf_counter()
            print(
                f"contract bench: round {round_no}: {rendered.pages} pages, render {t1 - t0:.2f} s, "
                f"seal (3 signatures + 3 timestamps) {t2 - t1:.2f} s, validate {t3 - t2:.2f} s, "
                f"{len(sealed.pdf) // 1024} KiB, valid={ok}"
            )
    return 0
