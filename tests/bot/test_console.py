"""The console channel: what the bot sends is printed; files land owner-only."""

from __future__ import annotations

import asyncio
import io
import stat
from pathlib import Path

from bot.console import ConsoleMessenger
from dialogs.kernel.intents import Button, Send, SendFile


def test_messages_are_printed_with_their_buttons(tmp_path: Path) -> None:
    out = io.StringIO()
    console = ConsoleMessenger(out=out, outgoing=tmp_path / "outgoing")
    send = Send(
        platform="console",
        chat_id="ann",
        text="Question 1 of 3",
        buttons=[[Button(label="Skip", data="skip")]],
    )
    assert asyncio.run(console.deliver(send)) == "1"
    assert "bot → ann: Question 1 of 3" in out.getvalue()
    assert "[Skip](/press skip)" in out.getvalue()
    assert console.transcript == [("ann", "Question 1 of 3")]


def test_a_file_is_the_recipients_copy_owner_only_and_inside_the_folder(tmp_path: Path) -> None:
    console = ConsoleMessenger(out=io.StringIO(), outgoing=tmp_path / "outgoing")
    intent = SendFile(
        platform="console",
        chat_id="ann",
        path="contracts/1/signed.pdf.enc",
        filename="../../contract.pdf",
        caption="Your contract",
        mime_type="application/pdf",
    )
    asyncio.run(console.deliver(intent, file_data=b"%PDF-1.7 signed"))
    path = tmp_path / "outgoing" / "contract.pdf"
    assert path.read_bytes() == b"%PDF-1.7 signed"
    assert not (tmp_path / "contract.pdf").exists()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
