"""Where invitation tokens may (links handed out) and may not (the database) be found."""

from __future__ import annotations

import re

from sqlalchemy import text

from app.wiring import App
from storage.tables import metadata

_LINK = re.compile(r"(?:/start |[?&]start=)([A-Za-z0-9_-]{8,64})")


def link_tokens(text_: str) -> list[str]:
    """The tokens of the invitation links in a message (console ``/start`` or deep links)."""
    return _LINK.findall(text_)


def database_text(app: App) -> str:
    """Every row of every table as the database stores it (encrypted columns stay so)."""
    parts: list[str] = []
    with app.db.engine.connect() as conn:
        for table in metadata.sorted_tables:
            for row in conn.execute(text(f'SELECT * FROM "{table.name}"')):
                parts.append(repr(tuple(row)))
    return "\n".join(parts)
