"""Bad staff files: question banks (CSV, YAML), candidate lists (CSV, XLSX) and calendars
(.ics), each sent as a chat upload with or without its caption. Each case names the
catalogue key(s) of the answer expected; a key ending in "…" means the answer starts so
(the problem rows follow)."""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass

from tests.bad_inputs.cases import Expect


@dataclass(frozen=True)
class FileCase:
    surface: str
    kind: str
    name: str
    data: bytes
    caption: str
    expect: Expect
    user: str = "hr"
    size: int | None = None  # the size the platform reports, when not len(data)

    @property
    def id(self) -> str:
        return f"{self.surface}:{self.kind}"


def _zip(entries: dict[str, bytes], *, compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return buffer.getvalue()


PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
GARBAGE = bytes(range(256)) * 8
HEADER = "key,competency,text_zh,text_en\n"
LAUGHS = (
    'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
    + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)},"
        f"*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)}]\n"
        for i in range(8)
    )
).encode()
ZIP_BOMB = _zip({"xl/worksheets/sheet1.xml": b"<" + b"a" * 30_000_000 + b">"})
NOT_IMPORTED = "staff.import_none…"
BAD_FILE = "staff.import_bad_file"

QUESTION_CASES = [
    FileCase("file questions", "png", "q.png", PNG, "/importquestions", (BAD_FILE,)),
    FileCase("file questions", "exe", "setup.exe", b"MZ" + GARBAGE, "", (BAD_FILE,)),
    FileCase("file questions", "no-extension", "questions", HEADER.encode(), "", (BAD_FILE,)),
    FileCase("file questions", "csv-empty", "q.csv", b"", "", (NOT_IMPORTED,)),
    FileCase("file questions", "csv-header-only", "q.csv", HEADER.encode(), "", (NOT_IMPORTED,)),
    FileCase("file questions", "csv-binary", "q.csv", GARBAGE, "", (NOT_IMPORTED,)),
    FileCase(
        "file questions",
        "csv-utf16",
        "q.csv",
        (HEADER + "co-x,Bad Name!,请讲一次经历经历,Tell me a story\n").encode("utf-16"),
        "",
        (NOT_IMPORTED,),
    ),
    FileCase(
        "file questions",
        "csv-formula-key",
        "q.csv",
        (HEADER + '=HYPERLINK("http://x"),teamwork,请讲一次经历经历,Tell me a story\n').encode(),
        "",
        (NOT_IMPORTED,),
    ),
    FileCase(
        "file questions",
        "csv-existing-key",
        "q.csv",
        (HEADER + "communication-01,communication,请讲一次经历经历,Tell me a story\n").encode(),
        "",
        (NOT_IMPORTED,),
    ),
    FileCase(
        "file questions",
        "csv-oversized-field",
        "q.csv",
        (HEADER + "co-big,teamwork," + "长" * 20_000 + ",Tell me a story\n").encode(),
        "",
        (NOT_IMPORTED,),
    ),
    FileCase(
        "file questions",
        "csv-nul",
        "q.csv",
        (HEADER + "co-nul,team\x00work,请讲一次经历经历,Tell me a story\n").encode(),
        "",
        (NOT_IMPORTED,),
    ),
    FileCase(
        "file questions",
        "csv-bom-bad-rows",
        "q.csv",
        b"\xef\xbb\xbf" + (HEADER + "co-y,Bad Name!,请讲一次经历经历,Tell me a story\n").encode(),
        "",
        (NOT_IMPORTED,),
    ),
    FileCase("file questions", "yaml-empty", "q.yaml", b"", "", (NOT_IMPORTED,)),
    FileCase(
        "file questions", "yaml-syntax", "q.yaml", b"questions: [unclosed", "", (NOT_IMPORTED,)
    ),
    FileCase("file questions", "yaml-scalar", "q.yml", b"just a string", "", (NOT_IMPORTED,)),
    FileCase("file questions", "yaml-bomb", "q.yaml", LAUGHS, "", (NOT_IMPORTED,)),
    FileCase(
        "file questions", "yaml-nested", "q.yaml", b"[" * 5000 + b"]" * 5000, "", (NOT_IMPORTED,)
    ),
    FileCase(
        "file questions",
        "yaml-python-tag",
        "q.yaml",
        b"questions:\n  - !!python/object/apply:os.system ['true']\n",
        "",
        (NOT_IMPORTED,),
    ),
    FileCase(
        "file questions",
        "yaml-wrong-types",
        "q.yaml",
        b"questions:\n  - {key: [1, 2], competency: {a: 1}, zh: 5, en: null}\n",
        "",
        (NOT_IMPORTED,),
    ),
    FileCase(
        "file questions",
        "by-viewer",
        "q.yaml",
        b"questions: []\n",
        "",
        ("access.too_low_global",),
        user="viewer",
    ),
]

CANDIDATES = "/importcandidates sales"
CANDIDATE_CASES = [
    FileCase(
        "file candidates", "pdf", "list.pdf", b"%PDF-1.4\n", CANDIDATES, ("staff.import_bad_file",)
    ),
    FileCase("file candidates", "csv-empty", "c.csv", b"", CANDIDATES, ("schedule.file_empty",)),
    FileCase(
        "file candidates",
        "csv-whitespace",
        "c.csv",
        b" \n\n \t\n",
        CANDIDATES,
        ("schedule.file_empty|schedule.file_header",),
    ),
    FileCase(
        "file candidates",
        "csv-no-header",
        "c.csv",
        b"Ann,13912345678\n",
        CANDIDATES,
        ("schedule.file_header",),
    ),
    FileCase(
        "file candidates", "csv-binary", "c.csv", GARBAGE, CANDIDATES, ("schedule.file_encoding",)
    ),
    FileCase(
        "file candidates",
        "csv-utf32",
        "c.csv",
        "name,phone\nAnn,13912345678\n".encode("utf-32"),
        CANDIDATES,
        ("schedule.file_encoding|schedule.file_header",),
    ),
    FileCase(
        "file candidates",
        "too-big",
        "c.csv",
        b"name,phone\n",
        CANDIDATES,
        ("schedule.file_too_big",),
        size=50 * 1024 * 1024,
    ),
    FileCase("file candidates", "xlsx-not-zip", "c.xlsx", GARBAGE, "", ("schedule.file_xlsx",)),
    FileCase("file candidates", "xlsx-png", "c.xlsx", PNG, CANDIDATES, ("schedule.file_xlsx",)),
    FileCase(
        "file candidates",
        "xlsx-truncated",
        "c.xlsx",
        _zip({"[Content_Types].xml": b"<Types/>"})[:40],
        "",
        ("schedule.file_xlsx",),
    ),
    FileCase(
        "file candidates",
        "xlsx-empty-zip",
        "c.xlsx",
        _zip({"readme.txt": b"hello"}),
        "",
        ("schedule.file_xlsx",),
    ),
    FileCase(
        "file candidates",
        "xlsx-zip-bomb",
        "c.xlsx",
        ZIP_BOMB,
        "",
        ("schedule.file_xlsx|schedule.file_too_big",),
    ),
    FileCase(
        "file candidates",
        "caption-unknown-job",
        "c.csv",
        b"name,phone\nAnn,13912345678\n",
        "/importcandidates nojob",
        ("staff.job_unknown",),
    ),
    FileCase(
        "file candidates",
        "caption-other-job",
        "c.csv",
        b"name,phone\nAnn,13912345678\n",
        CANDIDATES,
        ("access.other_job",),
        user="opsmgr",
    ),
    FileCase(
        "file candidates",
        "by-viewer",
        "c.csv",
        b"name,phone\nAnn,13912345678\n",
        CANDIDATES,
        ("access.too_low",),
        user="viewer",
    ),
]

ICS_HEAD = b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//x//y//EN\r\n"
CALENDAR_CASES = [
    FileCase(
        "file calendar", "garbage", "a.ics", GARBAGE, "/slots sales", ("schedule.bad_calendar",)
    ),
    FileCase("file calendar", "empty", "a.ics", b"", "/slots sales", ("schedule.bad_calendar",)),
    FileCase("file calendar", "png", "a.ics", PNG, "/slots sales", ("schedule.bad_calendar",)),
    FileCase(
        "file calendar",
        "truncated",
        "a.ics",
        ICS_HEAD + b"BEGIN:VEVENT\r\nDTSTART:2027",
        "/slots sales",
        ("schedule.bad_calendar",),
    ),
    FileCase(
        "file calendar",
        "utf16",
        "a.ics",
        (ICS_HEAD + b"END:VCALENDAR\r\n").decode().encode("utf-16"),
        "/slots sales",
        ("schedule.bad_calendar",),
    ),
    FileCase(
        "file calendar",
        "nested",
        "a.ics",
        ICS_HEAD + b"BEGIN:VEVENT\r\n" * 3000 + b"END:VEVENT\r\n" * 3000 + b"END:VCALENDAR\r\n",
        "/slots sales",
        ("schedule.bad_calendar|schedule.slots_added…",),
    ),
    FileCase(
        "file calendar",
        "caption-unknown-job",
        "a.ics",
        ICS_HEAD + b"END:VCALENDAR\r\n",
        "/slots nojob",
        ("staff.job_unknown",),
    ),
    FileCase(
        "file calendar",
        "caption-bad-capacity",
        "a.ics",
        ICS_HEAD + b"END:VCALENDAR\r\n",
        "/slots sales 0",
        ("schedule.usage_slots",),
    ),
    FileCase(
        "file calendar",
        "caption-huge-capacity",
        "a.ics",
        ICS_HEAD + b"END:VCALENDAR\r\n",
        "/slots sales " + "9" * 25,
        ("schedule.usage_slots",),
    ),
    FileCase(
        "file calendar",
        "caption-other-job",
        "a.ics",
        ICS_HEAD + b"END:VCALENDAR\r\n",
        "/slots sales",
        ("access.other_job",),
        user="opsmgr",
    ),
    FileCase(
        "file calendar",
        "by-viewer",
        "a.ics",
        ICS_HEAD + b"END:VCALENDAR\r\n",
        "/slots sales",
        ("access.too_low",),
        user="viewer",
    ),
]

FILE_CASES = QUESTION_CASES + CANDIDATE_CASES + CALENDAR_CASES
