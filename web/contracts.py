"""Mounts the contract signing pages on the web app and wires them to the chat."""

from __future__ import annotations

from starlette.routing import BaseRoute

from app.host import App
from app.runtime import Runtime
from contracts.files import ContractFiles
from contracts.signing import build_signer
from dialogs.contracting.flow import ContractEvents
from web.signing import signing_routes


def contract_routes(app: App) -> list[BaseRoute]:
    """Signing routes whose codes go to the candidate's chat through the outbox."""
    settings = app.settings
    events = ContractEvents(app.db, app.services)
    signer = build_signer(
        settings.contracts,
        settings.app.data_dir,
        clock=app.services.clock,
        timezone=settings.app.timezone,
    )
    routes: list[BaseRoute] = list(
        signing_routes(
            app.db.transaction,
            events.send_code,
            signer,
            files=ContractFiles.in_data_dir(settings.app.data_dir, app.db.keyring),
            clock=app.services.clock,
            secure_cookies=settings.app.public_base_url.startswith("https://"),
            on_signed=events.signed,
            on_declined=events.declined,
        )
    )
    return routes


async def start_signing(rt: Runtime) -> None:
    """Runner hook: the signing pages are always served when the bot runs."""
    rt.add_routes(contract_routes(rt.app))
