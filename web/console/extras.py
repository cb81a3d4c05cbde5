"""Console routes beyond the pages: recordings (ranges, audited), signed contracts'
PDFs (audited) and the live page with server-sent events (``live.py``)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator

from sqlmodel import Session
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from contracts.files import ContractFiles
from contracts.service import signed_pdf
from core.errors import ContractError
from dialogs.console.links import (
    load_session,
)
from dialogs.kernel.access import parse_id
from dialogs.kernel.catalog import t
from storage.models import Job
from web.console import contract_view, live, media
from web.console.auth import (
    Denied,
    audit,
    check_job,
)
from web.console.base import ConsoleBase
from web.console.media import Recording
from web.console.render import page, secure

log = logging.getLogger(__name__)

LIVE_CSP = (
    "default-src 'none'; style-src 'self'; script-src 'self'; connect-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)


class ConsoleExtras(ConsoleBase):
    async def recording(self, request: Request) -> Response:
        """An answer's audio or video, decrypted in memory; ranges; viewing is audited."""
        cs = await self.who(request)
        if cs is None:
            return self.signed_out()
        aid = parse_id(request.path_params["answer_id"])
        header = request.headers.get("range")

        def work(session: Session) -> tuple[Recording, bytes] | Denied:
            found, job = media.find_recording(session, aid or 0)
            denied = check_job(
                session, self.app.settings, cs, "view", job, self.now(), f"answer:{aid or '?'}"
            )
            if denied is not None:
                return denied
            if found is None:
                return Denied(404, t(cs.lang, "console_web.not_found"))
            data = self.app.db.media.get(found.answer.media_path or "")
            # One audit row per playback, not per range request.
            if header is None or header.strip().startswith("bytes=0-"):
                audit(
                    session, cs, self.now(), "recording_played", f"candidate:{found.candidate.id}"
                )
            return found, data

        result = await self.run(work)
        if isinstance(result, Denied):
            return self.denied(cs, result)
        found, data = result
        kind = media.media_type(found.answer.media_path or "")
        wanted = media.parse_range(header, len(data))
        if wanted is False:
            response = Response(status_code=416, headers={"Content-Range": f"bytes */{len(data)}"})
        elif wanted is None or wanted is True:
            response = Response(data, media_type=kind, headers={"Accept-Ranges": "bytes"})
        else:
            first, last = wanted
            response = Response(
                data[first : last + 1],
                status_code=206,
                media_type=kind,
                headers={
                    "Accept-Ranges": "bytes",
                    "Content-Range": f"bytes {first}-{last}/{len(data)}",
                },
            )
        return secure(response)

    async def contract_pdf(self, request: Request) -> Response:
        """A signed contract's sealed PDF, decrypted in memory and checked against its
        SHA-256; for the roles that may handle contracts of its job; audited."""
        cs = await self.who(request)
        if cs is None:
            return self.signed_out()
        cid = parse_id(request.path_params["contract_id"])
        settings = self.app.settings

        def work(session: Session) -> tuple[str, bytes] | Denied:
            contract, job = contract_view.find_contract(session, cid or 0)
            denied = check_job(
                session, settings, cs, "contract_file", job, self.now(), f"contract:{cid or '?'}"
            )
            if denied is not None:
                return denied
            if contract is None or contract.status != "signed" or not contract.signed_pdf_path:
                return Denied(404, t(cs.lang, "console_web.not_found"))
            files = ContractFiles.in_data_dir(settings.app.data_dir, self.app.db.keyring)
            try:
                data = signed_pdf(contract, files)
            except ContractError:
                log.warning("signed contract %s: its PDF is unreadable or changed", contract.id)
                return Denied(500, t(cs.lang, "console_web.contract_unreadable"))
            audit(session, cs, self.now(), "contract_viewed", f"candidate:{contract.candidate_id}")
            return f"contract-{contract.id}-signed.pdf", data

        result = await self.run(work)
        if isinstance(result, Denied):
            return self.denied(cs, result)
        name, data = result
        response = Response(data, media_type="application/pdf")
        response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
        return secure(response)

    async def live_page(self, request: Request) -> Response:
        cs = await self.who(request)
        if cs is None:
            return self.signed_out()

        def work(session: Session) -> tuple[Job, list[live.LiveRow]] | Denied:
            job = self._job(session, cs, request.path_params["job_id"], "view")
            if isinstance(job, Denied):
                return job
            return job, live.live_rows(session, job.id or 0)

        result = await self.run(work)
        if isinstance(result, Denied):
            return self.denied(cs, result)
        job, rows = result
        body = live.live_body(cs.lang, job.code, job.id or 0, rows)
        response = page(cs.lang, job.code, body, cs=cs, path=f"/console/jobs/{job.id}/live")
        response.headers["Content-Security-Policy"] = LIVE_CSP
        return response

    async def live_events(self, request: Request) -> Response:
        cs = await self.who(request)
        if cs is None:
            return self.signed_out()
        raw = request.path_params["job_id"]
        first = await self.run(lambda s: self._job(s, cs, raw, "view"))
        if isinstance(first, Denied):
            return self.denied(cs, first)
        job_id = first.id or 0

        def snapshot(session: Session, last: object) -> tuple[object, str | None] | None:
            # The session and the role are asked again on every poll.
            now = self.now()
            if load_session(session, cs.key, now) is None:
                return None
            job = session.get(Job, job_id)
            if check_job(session, self.app.settings, cs, "view", job, now, "", log=False):
                return None
            mark = live.fingerprint(session, job_id)
            if mark == last:
                return mark, None
            return mark, live.rows_html(cs.lang, live.live_rows(session, job_id))

        async def stream() -> AsyncIterator[bytes]:
            last: object = None
            deadline = time.monotonic() + self.live_max_s
            while time.monotonic() < deadline and not await request.is_disconnected():
                seen = last
                state = await self.run(lambda s: snapshot(s, seen))  # noqa: B023
                if state is None:
                    return
                last, rows = state
                yield live.sse("rows", rows) if rows is not None else b": waiting\n\n"
                await asyncio.sleep(self.live_poll_s)

        response = StreamingResponse(stream(), media_type="text/event-stream")
        response.headers["X-Accel-Buffering"] = "no"
        return secure(response)
