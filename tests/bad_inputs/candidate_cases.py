"""Bad chat input from candidates and strangers: ``/start`` links, answers, buttons and
commands at each interview state. Each case names the catalogue key(s) of the answer."""

from __future__ import annotations

from tests.bad_inputs.cases import TOO_LONG, WEIRD_TEXT, ChatCase

CANDIDATE_CASES: list[ChatCase] = []


def add(*cases: ChatCase) -> None:
    CANDIDATE_CASES.extend(cases)


# ------------------------------------------------------------------ /start links
START_BAD = {
    "unknown": "nosuchtoken",
    "too-long": "t" * 300,
    "sql": "'OR'1'='1",
    "html": "<script>",
    "format": "{0}%s",
    "nul": "abc\x00def",
    "rtl": "\u202eabcdef",
    "emoji": "🎟️🎟️",
    "fullwidth": "ＡＢＣＤＥＦ１２３",
    "spaces": "a b c",
    "25-digit": "1" * 25,
    "truncated": "{token_cut}",
    "extended": "{token_plus}",
    "uppercased": "{token_upper}",
}
for kind, token in START_BAD.items():
    add(ChatCase("/start", f"token-{kind}", "stranger", f"/start {token}", ("invite.invalid",)))
add(
    ChatCase("/start", "token-of-another", "stranger", "/start {token_question}", ("invite.used",)),
    ChatCase("/start", "token-locked", "stranger", "/start {token_locked}", ("invite.used",)),
    ChatCase(
        "/start", "in-group", "stranger", "/start {token_fresh}", ("common.no_access",), group=True
    ),
    ChatCase("stranger", "unknown-command", "stranger", "/frobnicate", ("common.unknown_command",)),
    ChatCase("stranger", "staff-command", "stranger", "/invite sales Bob", ("common.no_access",)),
    ChatCase("stranger", "text", "stranger", "hello", ("common.help_unknown",)),
    ChatCase("stranger", "button", "stranger", "/press lang:en", ("common.help_unknown",)),
    ChatCase("stranger", "staff-button", "stranger", "/press dec:{done}:a", ("common.no_access",)),
)

# ------------------------------------------------------------------ candidates, per state
PRESS = "common.press_button"
STATE_TEXT_ANSWER = {
    "language": PRESS,
    "consent": PRESS,
    "sensitive": PRESS,
    "identity": "identity.ask",
    "review": PRESS,
    "done": "closing.already",
    "declined": "closing.declined",
    "locked": "closing.locked",
}
for state, key in STATE_TEXT_ANSWER.items():
    for kind, text in WEIRD_TEXT.items():
        add(ChatCase(f"state {state}", f"text-{kind}", f"cand:{state}", text, (key,)))
    too_long = key if state in ("done", "declined", "locked") else "common.too_long_text"
    add(ChatCase(f"state {state}", "text-too-long", f"cand:{state}", TOO_LONG, (too_long,)))
for state in ("question", "practice"):
    add(
        ChatCase(f"state {state}", "text-empty", f"cand:{state}", "", ("question.empty",)),
        ChatCase(
            f"state {state}", "text-whitespace", f"cand:{state}", " \t \n ", ("question.empty",)
        ),
        ChatCase(
            f"state {state}",
            "text-zero-width",
            f"cand:{state}",
            "\u200b\u2060\ufeff",
            ("question.empty",),
        ),
        ChatCase(
            f"state {state}", "text-too-long", f"cand:{state}", TOO_LONG, ("common.too_long_text",)
        ),
    )
for state in ("details_id", "details_address"):
    ask = "contract.bad_id" if state == "details_id" else "contract.bad_address"
    for kind, text in WEIRD_TEXT.items():
        if state == "details_address" and kind in ("sql", "html", "format", "mixed-lang"):
            continue  # five characters or more: an address as far as anyone can tell
        add(ChatCase(f"state {state}", f"text-{kind}", f"cand:{state}", text, (ask,)))
    add(ChatCase(f"state {state}", "text-too-long", f"cand:{state}", TOO_LONG, (ask,)))
add(
    ChatCase(
        "state details_id",
        "checksum",
        "cand:details_id",
        "11010519491231002Y",
        ("contract.bad_id",),
    ),
    ChatCase(
        "state details_id",
        "fullwidth",
        "cand:details_id",
        "１１０１０５１９４９１２３１００２Ｘ",
        ("contract.bad_id",),
    ),
    ChatCase("state details_id", "25-digit", "cand:details_id", "1" * 25, ("contract.bad_id",)),
    ChatCase(
        "state details_id", "button", "cand:details_id", "/press consent:yes", ("contract.ask_id",)
    ),
)
# identity: answers that are no name-and-code pair do not use up a try
add(
    ChatCase("state identity", "name-only", "cand:identity", "Identity EN", ("identity.ask",)),
    ChatCase("state identity", "code-only", "cand:identity", "123456", ("identity.ask",)),
    ChatCase(
        "state identity",
        "code-arabic-indic",
        "cand:identity",
        "Identity EN ١٢٣٤٥٦",
        ("identity.ask",),
    ),
    ChatCase(
        "state identity",
        "code-five-digits",
        "cand:identity",
        "Identity EN 12345",
        ("identity.ask",),
    ),
    ChatCase(
        "state identity", "name-invisible", "cand:identity", "\u200b 123456", ("identity.ask",)
    ),
    ChatCase(
        "state identity",
        "code-25-digit",
        "cand:identity",
        "Identity EN " + "1" * 25,
        ("identity.ask",),
    ),
    ChatCase(
        "state identity", "code-letters", "cand:identity", "Identity EN abcdef", ("identity.ask",)
    ),
)
# forged and out-of-place buttons
CANDIDATE_BUTTONS = {
    "language": {"lang-unknown": "lang:fr", "lang-empty": "lang:", "consent-early": "consent:yes"},
    "consent": {
        "consent-unknown": "consent:maybe",
        "lang-again": "lang:zh",
        "sens-early": "sens:yes",
    },
    "sensitive": {"sens-unknown": "sens:perhaps", "consent-again": "consent:no"},
    "identity": {"any-button": "lang:en"},
    "practice": {"practice-unknown": "practice:later", "submit-early": "submit"},
    "question": {
        "rr-word": "rr:abc",
        "rr-empty": "rr:",
        "rr-fullwidth": "rr:１",
        "rr-25-digit": "rr:" + "9" * 25,
        "rr-negative": "rr:-1",
        "rr-unknown": "rr:99999",
        "rr-float": "rr:1.5",
        "submit-early": "submit",
        "practice-late": "practice:skip",
    },
    "review": {
        "rr-word": "rr:abc",
        "rr-25-digit": "rr:" + "9" * 25,
        "rr-unknown": "rr:99999",
        "submit-extra": "submit:now",
        "lang-late": "lang:en",
    },
}
RR_GONE = "question.rerecord_gone"
for state, kinds in CANDIDATE_BUTTONS.items():
    for kind, data in kinds.items():
        key = RR_GONE if data.startswith("rr:") else PRESS
        add(ChatCase(f"state {state}", f"button-{kind}", f"cand:{state}", f"/press {data}", (key,)))
for state in ("done", "declined", "locked"):
    add(
        ChatCase(
            f"state {state}",
            "button-forged",
            f"cand:{state}",
            "/press rr:1",
            (STATE_TEXT_ANSWER[state],),
        )
    )
# commands nobody knows, and /start with someone else's or a bad token mid-interview
for state in ("language", "consent", "identity", "question", "review", "done"):
    add(
        ChatCase(
            f"state {state}",
            "unknown-command",
            f"cand:{state}",
            "/frobnicate",
            ("common.unknown_command",),
        ),
        ChatCase(
            f"state {state}",
            "staff-command",
            f"cand:{state}",
            "/decide {done} approve",
            ("common.unknown_command",),
        ),
        ChatCase(
            f"state {state}",
            "start-bad-token",
            f"cand:{state}",
            "/start nosuchtoken",
            ("invite.invalid",),
        ),
    )

# ------------------------------------------------------------------ media and other events
# What an adapter hands over besides text: voice and video notes (too long, too large, not
# downloaded), media it refused, files, stickers, WeChat QR scans with bad scenes.
MEDIA = {
    "voice-too-long": "@voice:long",
    "voice-too-large": "@voice:huge",
    "voice-not-downloaded": "@voice:nopath",
    "rejected-too-large": "@rejected:too_large",
    "rejected-too-long": "@rejected:too_long",
    "rejected-wrong-type": "@rejected:wrong_type",
    "rejected-download-failed": "@rejected:download_failed",
    "sticker": "@sticker",
    "file": "@file",
    "file-captioned": "@file:/importquestions",
}
ANSWERING = {
    "voice-too-long": "question.too_long_media",
    "voice-too-large": "question.too_large_media",
    "voice-not-downloaded": "question.download_failed",
    "rejected-too-large": "question.too_large_media",
    "rejected-too-long": "question.too_long_media",
    "rejected-wrong-type": "question.wrong_type",
    "rejected-download-failed": "question.download_failed",
}
for state in ("language", "consent", "sensitive", "identity", "practice", "question", "review"):
    for kind, spec in MEDIA.items():
        if kind == "sticker":
            key = "common.unsupported"
        elif kind.startswith("file"):
            key = "common.file_unexpected"
        elif state in ("practice", "question"):
            key = ANSWERING[kind]
        elif state == "identity":
            key = "identity.ask"
        else:
            key = PRESS
        add(ChatCase(f"state {state}", f"media-{kind}", f"cand:{state}", spec, (key,)))
for state in ("done", "declined", "locked"):
    for kind in ("voice-too-long", "rejected-too-large", "sticker", "file"):
        add(
            ChatCase(
                f"state {state}",
                f"media-{kind}",
                f"cand:{state}",
                MEDIA[kind],
                (STATE_TEXT_ANSWER[state],),
            )
        )
for kind in ("voice-too-long", "sticker", "file"):
    key = {"sticker": "common.unsupported", "file": "common.file_unexpected"}.get(
        kind, "contract.ask_id"
    )
    add(ChatCase("state details_id", f"media-{kind}", "cand:details_id", MEDIA[kind], (key,)))
for kind in ("voice-too-long", "sticker", "file", "rejected-too-large"):
    add(ChatCase("stranger", f"media-{kind}", "stranger", MEDIA[kind], ("common.help_unknown",)))
SCENES = {
    "unknown": "nosuchscene",
    "too-long": "s" * 300,
    "nul": "qr\x00scene",
    "sql": "' OR 1=1 --",
    "emoji": "🎟️",
    "fullwidth": "ＳＣＥＮＥ",
}
for kind, scene in SCENES.items():
    add(
        ChatCase("wechat scan", f"scene-{kind}", "stranger", f"@scene:{scene}", ("invite.invalid",))
    )
add(
    ChatCase("wechat scan", "scene-empty", "stranger", "@scene:", ("common.help_unknown",)),
    ChatCase(
        "wechat scan", "scene-of-another", "stranger", "@scene:{token_question}", ("invite.used",)
    ),
    ChatCase(
        "wechat scan",
        "scene-in-interview",
        "cand:question",
        "@scene:nosuchscene",
        ("invite.invalid",),
    ),
)

# ------------------------------------------------------------------ booking a slot
# The "sched" job has interview slots: after identity the candidate picks a time.
SCHEDULE_TEXT = {
    "zone-unknown": "Mars/Phobos",
    "zone-offset": "UTC+25",
    "zone-traversal": "../../etc/localtime",
    "zone-nul": "Asia/Shang\x00hai",
    "zone-too-long": "Europe/" + "x" * 300,
    "zone-fullwidth": "Ａｓｉａ/Ｓｈａｎｇｈａｉ",
    "empty": "",
    "tomorrow": "tomorrow 9am",
}
for kind, text in SCHEDULE_TEXT.items():
    add(
        ChatCase("state schedule", f"text-{kind}", "cand:schedule", text, ("schedule.use_buttons",))
    )
SCHEDULE_BUTTONS = {
    "book-word-id": "sch:b:abc",
    "book-25-digit-id": "sch:b:" + "9" * 25,
    "book-negative-id": "sch:b:-1",
    "book-fullwidth-id": "sch:b:１",
    "book-no-id": "sch:b",
    "unknown-action": "sch:zz",
    "day-unknown": "sch:day:mars",
    "part-before-day": "sch:part:noon",
    "prefix-only": "sch",
    "other-state": "lang:en",
}
for kind, data in SCHEDULE_BUTTONS.items():
    add(ChatCase("state schedule", f"button-{kind}", "cand:schedule", f"/press {data}", (PRESS,)))
add(
    ChatCase("state schedule", "sticker", "cand:schedule", "@sticker", ("common.unsupported",)),
    ChatCase("state schedule", "file", "cand:schedule", "@file", ("common.file_unexpected",)),
    ChatCase(
        "state schedule",
        "unknown-command",
        "cand:schedule",
        "/frobnicate",
        ("common.unknown_command",),
    ),
)

# ------------------------------------------------------------------ /language with an argument
LANGUAGE_ARGS = {
    "unknown": "fr",
    "sql": "' OR 1=1",
    "emoji": "🇫🇷",
    "too-long": "e" * 300,
    "nul": "e\x00n",
    "fullwidth": "ＥＮ",
}
for state in ("language", "identity", "question", "done"):
    for kind, arg in LANGUAGE_ARGS.items():
        add(
            ChatCase(
                f"state {state}",
                f"/language-{kind}",
                f"cand:{state}",
                f"/language {arg}",
                ("common.language_usage",),
            )
        )

# ------------------------------------------------------------------ staff opening links
add(
    ChatCase("/start by staff", "token-unknown", "hr", "/start nosuchtoken", ("invite.invalid",)),
    ChatCase(
        "/start by staff", "token-too-long", "viewer", "/start " + "t" * 300, ("invite.invalid",)
    ),
    ChatCase(
        "/start by staff", "token-of-another", "admin", "/start {token_question}", ("invite.used",)
    ),
)
for word in ("resume", "pause", "review", "mydata", "deleteme", "language"):
    add(ChatCase("candidate command", f"by-staff-{word}", "hr", f"/{word}", ("staff.help",)))
    add(
        ChatCase(
            "candidate command",
            f"by-stranger-{word}",
            "stranger",
            f"/{word}",
            ("common.help_unknown",),
        )
    )

# ------------------------------------------------------------------ text-only answers
for kind, spec in {"voice": "@voice", "video": "@video", "voice-too-long": "@voice:long"}.items():
    add(
        ChatCase(
            "state textonly",
            f"media-{kind}",
            "cand:textonly",
            spec,
            ("question.text_only_reminder",),
        )
    )
add(ChatCase("state textonly", "text-zero-width", "cand:textonly", "\u200b", ("question.empty",)))
