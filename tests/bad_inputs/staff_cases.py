"""Bad chat input from staff: every staff command and its argument forms, the ``/newjob``
dialog, every staff button prefix with forged data. Each case names the catalogue key(s)
of the answer expected."""

from __future__ import annotations

from tests.bad_inputs.cases import NOT_A_CODE, NOT_AN_ID, TOO_LONG, ChatCase

STAFF_CASES: list[ChatCase] = []


def add(*cases: ChatCase) -> None:
    STAFF_CASES.extend(cases)


# ------------------------------------------------------------------ job-scoped commands
JOB_COMMANDS = {
    # command: (user, argument template, answer with no arguments in a private chat)
    "invite": ("hr", "{job} Bob Stone", ("staff.usage_invite",)),
    "progress": ("viewer", "{job}", ("staff.usage_progress",)),
    "ranking": ("viewer", "{job}", ("staff.job_unknown",)),
    "slots": ("viewer", "{job}", None),
    "invitesheet": ("hr", "{job}", ("schedule.usage_sheet",)),
    "agreement": ("viewer", "{job}", ("human.usage_agreement",)),
    "stats": ("viewer", "{job}", None),
    "itemstats": ("viewer", "{job}", ("stats.usage_items",)),
    "contractdefaults": ("admin", "{job} monthly_wage=15000", ("contract.defaults_usage",)),
    "grant": ("admin", "console:zed hr_viewer {job}", ("staff.usage_grant",)),
    "revoke": ("admin", "console:zed {job}", ("staff.usage_revoke",)),
}
for command, (user, template, empty) in JOB_COMMANDS.items():
    for kind, value in NOT_A_CODE.items():
        add(
            ChatCase(
                f"/{command}",
                f"job-{kind}",
                user,
                f"/{command} " + template.format(job=value),
                ("staff.job_unknown",),
            )
        )
    if empty is not None:
        add(ChatCase(f"/{command}", "no-args", user, f"/{command}", empty))
    add(
        ChatCase(
            f"/{command}",
            "other-job",
            "opsmgr",
            f"/{command} " + template.format(job="sales"),
            ("access.other_job",),
        )
    )
add(
    ChatCase("/bind", "private-chat", "admin", "/bind sales", ("staff.bind_private",)),
    ChatCase("/bind", "no-args", "admin", "/bind", ("staff.usage_bind",), group=True),
    ChatCase("/bind", "job-unknown", "admin", "/bind nojob", ("staff.job_unknown",), group=True),
    ChatCase("/bind", "job-sql", "admin", "/bind ' OR 1=1--", ("staff.job_unknown",), group=True),
    ChatCase("/bind", "job-too-long", "admin", "/bind " + "b" * 500, ("staff.job_unknown",), True),
    ChatCase("/bind", "other-job", "opsmgr", "/bind sales", ("access.other_job",), group=True),
    ChatCase("/notify", "private-chat", "hr", "/notify digest", ("notify.group_only",)),
    ChatCase("/notify", "bad-mode", "hr", "/notify sales loud", ("notify.usage",), group=True),
    ChatCase("/notify", "two-modes", "hr", "/notify sales all off", ("notify.usage",), True),
    ChatCase("/notify", "job-unknown", "hr", "/notify nojob off", ("staff.job_unknown",), True),
    ChatCase("/notify", "job-sql", "hr", "/notify ' OR 1=1-- off", ("staff.job_unknown",), True),
    ChatCase("/notify", "job-too-long", "hr", "/notify " + "n" * 500, ("staff.job_unknown",), True),
    ChatCase("/notify", "not-bound", "hr", "/notify ops digest", ("notify.not_bound",), True),
    ChatCase("/notify", "other-job", "opsmgr", "/notify sales off", ("access.other_job",), True),
    ChatCase("/notify", "viewer", "viewer", "/notify off", ("access.too_low",), group=True),
    ChatCase("/invite", "no-name", "hr", "/invite sales", ("staff.usage_invite",)),
    ChatCase("/invite", "viewer", "viewer", "/invite sales Bob", ("access.too_low",)),
)

# ------------------------------------------------------------------ candidate commands
CANDIDATE_COMMANDS = {
    # command: (user, template, usage key, unknown-candidate key)
    "decide": ("hr", "{id} approve", "decision.usage", "decision.unknown_candidate"),
    "report": ("viewer", "{id}", "decision.unknown_candidate", "decision.unknown_candidate"),
    "terms": ("hr", "{id} monthly_wage=15000", "contract.terms_usage", "contract.not_approved"),
    "sendcontract": ("hr", "{id}", "decision.unknown_candidate", "decision.unknown_candidate"),
    "ask": ("hr", "{id} How did you do it?", "followup.usage", "followup.unknown_candidate"),
    "score": ("hr", "{id} communication 4", "human.usage", "human.unknown_candidate"),
}
for command, (user, template, usage, unknown) in CANDIDATE_COMMANDS.items():
    for kind, value in NOT_AN_ID.items():
        add(
            ChatCase(
                f"/{command}", kind, user, f"/{command} " + template.format(id=value), (unknown,)
            )
        )
    add(
        ChatCase(f"/{command}", "no-args", user, f"/{command}", (usage,)),
        ChatCase(f"/{command}", "whitespace-args", user, f"/{command}    ", (usage,)),
        ChatCase(
            f"/{command}",
            "other-job",
            "opsmgr",
            f"/{command} " + template.format(id="{done}"),
            ("access.other_job",),
        ),
        ChatCase(
            f"/{command}",
            "stranger",
            "stranger",
            f"/{command} " + template.format(id="{done}"),
            ("common.no_access",),
            group=True,
        ),
    )
add(
    ChatCase("/decide", "missing-outcome", "hr", "/decide {done}", ("decision.usage",)),
    ChatCase("/decide", "unknown-outcome", "hr", "/decide {done} maybe", ("decision.usage",)),
    ChatCase("/decide", "extra-args", "hr", "/decide {done} approve now", ("decision.usage",)),
    ChatCase("/decide", "outcome-sql", "hr", "/decide {done} ';--", ("decision.usage",)),
    ChatCase("/decide", "swapped-args", "hr", "/decide approve {done}", ("decision.usage",)),
    ChatCase(
        "/score", "score-too-high", "hr", "/score {done} communication 9", ("human.bad_score",)
    ),
    ChatCase("/score", "score-zero", "hr", "/score {done} communication 0", ("human.bad_score",)),
    ChatCase(
        "/score", "score-negative", "hr", "/score {done} communication -3", ("human.bad_score",)
    ),
    ChatCase(
        "/score", "score-float", "hr", "/score {done} communication 3.5", ("human.bad_score",)
    ),
    ChatCase(
        "/score", "score-fullwidth", "hr", "/score {done} communication ４", ("human.bad_score",)
    ),
    ChatCase(
        "/score",
        "score-huge",
        "hr",
        "/score {done} communication " + "9" * 30,
        ("human.bad_score",),
    ),
    ChatCase(
        "/score", "score-word", "hr", "/score {done} communication four", ("human.bad_score",)
    ),
    ChatCase(
        "/score",
        "competency-unknown",
        "hr",
        "/score {done} juggling 3",
        ("human.unknown_competency",),
    ),
    ChatCase(
        "/score", "competency-index", "hr", "/score {done} 99 3", ("human.unknown_competency",)
    ),
    ChatCase(
        "/score", "competency-sql", "hr", "/score {done} '--; 3", ("human.unknown_competency",)
    ),
    ChatCase("/score", "missing-score", "hr", "/score {done} communication", ("human.usage",)),
    ChatCase("/ask", "missing-question", "hr", "/ask {live}", ("followup.usage",)),
    ChatCase("/ask", "question-too-long", "hr", "/ask {live} " + TOO_LONG, ("followup.too_long",)),
    ChatCase("/ask", "question-zero-width", "hr", "/ask {live} \u200b\u200b", ("followup.empty",)),
    ChatCase("/ask", "finished-candidate", "hr", "/ask {done} Why?", ("followup.done",)),
    ChatCase("/ask", "not-started", "hr", "/ask {fresh} Why?", ("followup.not_started",)),
    ChatCase(
        "/terms",
        "not-approved",
        "hr",
        "/terms {done} monthly_wage=15000",
        ("contract.not_approved",),
    ),
    ChatCase("/terms", "no-assignment", "hr", "/terms {approved}", ("contract.terms_usage",)),
    ChatCase("/terms", "not-key-value", "hr", "/terms {approved} wage", ("contract.terms_usage",)),
    ChatCase("/terms", "unknown-key", "hr", "/terms {approved} bonus=5", ("contract.terms_usage",)),
    ChatCase(
        "/terms", "wage-word", "hr", "/terms {approved} monthly_wage=abc", ("contract.terms_bad",)
    ),
    ChatCase(
        "/terms",
        "wage-negative",
        "hr",
        "/terms {approved} monthly_wage=-5",
        ("contract.terms_bad",),
    ),
    ChatCase(
        "/terms", "wage-huge", "hr", "/terms {approved} monthly_wage=1e309", ("contract.terms_bad",)
    ),
    ChatCase(
        "/terms", "wage-nan", "hr", "/terms {approved} monthly_wage=NaN", ("contract.terms_bad",)
    ),
    ChatCase(
        "/terms",
        "date-invalid",
        "hr",
        "/terms {approved} start_date=2027-02-30",
        ("contract.terms_bad",),
    ),
    ChatCase(
        "/terms", "date-format", "hr", "/terms {approved} start_date={0}", ("contract.terms_bad",)
    ),
    ChatCase(
        "/sendcontract", "not-approved", "hr", "/sendcontract {done}", ("contract.not_approved",)
    ),
    ChatCase(
        "/sendcontract", "extra-args", "hr", "/sendcontract {done} now", ("contract.not_approved",)
    ),
    ChatCase(
        "/contractdefaults",
        "no-terms",
        "admin",
        "/contractdefaults sales",
        ("contract.defaults_usage",),
    ),
    ChatCase(
        "/contractdefaults",
        "not-key-value",
        "admin",
        "/contractdefaults sales wage",
        ("contract.defaults_usage",),
    ),
    ChatCase(
        "/contractdefaults",
        "wage-word",
        "admin",
        "/contractdefaults sales monthly_wage=abc",
        ("contract.terms_bad",),
    ),
    ChatCase(
        "/contractdefaults",
        "unknown-key",
        "admin",
        "/contractdefaults sales bonus=5",
        ("contract.defaults_usage",),
    ),
    ChatCase("/employee", "no-args", "viewer", "/employee", ("contract.employee_usage",)),
    ChatCase("/employee", "like-wildcard", "viewer", "/employee %", ("contract.employee_none",)),
    ChatCase("/employee", "like-underscore", "viewer", "/employee _", ("contract.employee_none",)),
    ChatCase("/employee", "sql", "viewer", "/employee ' OR 1=1 --", ("contract.employee_none",)),
    ChatCase(
        "/employee", "25-digit-id", "viewer", "/employee " + "7" * 25, ("contract.employee_none",)
    ),
    ChatCase(
        "/employee", "fullwidth-id", "viewer", "/employee ＃１５", ("contract.employee_none",)
    ),
    ChatCase(
        "/employee", "too-long", "viewer", "/employee " + TOO_LONG, ("contract.employee_none",)
    ),
    ChatCase("/employee", "nul", "viewer", "/employee \x00", ("contract.employee_none",)),
)

# ------------------------------------------------------------------ other staff commands
add(
    ChatCase("/grant", "no-platform", "admin", "/grant zed hr_viewer", ("staff.usage_grant",)),
    ChatCase(
        "/grant", "unknown-platform", "admin", "/grant fax:zed hr_viewer", ("staff.usage_grant",)
    ),
    ChatCase(
        "/grant", "unknown-role", "admin", "/grant console:zed superuser", ("staff.usage_grant",)
    ),
    ChatCase(
        "/grant", "role-uppercase", "admin", "/grant console:zed ADMIN", ("staff.usage_grant",)
    ),
    ChatCase(
        "/grant",
        "extra-args",
        "admin",
        "/grant console:zed hr_viewer sales now",
        ("staff.usage_grant",),
    ),
    ChatCase(
        "/grant", "user-html", "admin", "/grant console:<b>x</b> hr_viewer", ("staff.usage_grant",)
    ),
    ChatCase(
        "/grant",
        "user-too-long",
        "admin",
        "/grant console:" + "u" * 100 + " hr_viewer",
        ("staff.usage_grant",),
    ),
    ChatCase(
        "/grant", "user-nul", "admin", "/grant console:z\x00 hr_viewer", ("staff.usage_grant",)
    ),
    ChatCase("/grant", "user-empty", "admin", "/grant console: hr_viewer", ("staff.usage_grant",)),
    ChatCase(
        "/grant", "by-job-admin", "opsmgr", "/grant console:zed admin", ("access.global_needed",)
    ),
    ChatCase("/revoke", "no-platform", "admin", "/revoke zed", ("staff.usage_revoke",)),
    ChatCase(
        "/revoke", "extra-args", "admin", "/revoke console:zed sales now", ("staff.usage_revoke",)
    ),
    ChatCase("/revoke", "nobody", "admin", "/revoke console:nobody", ("staff.revoke_none",)),
    ChatCase("/revoke", "config-role", "admin", "/revoke console:hr", ("staff.revoke_config",)),
    ChatCase("/addquestion", "no-args", "hr", "/addquestion", ("staff.usage_addquestion",)),
    ChatCase(
        "/addquestion",
        "two-parts",
        "hr",
        "/addquestion teamwork | 问题",
        ("staff.usage_addquestion",),
    ),
    ChatCase(
        "/addquestion", "pipes-only", "hr", "/addquestion | | |", ("staff.usage_addquestion…",)
    ),
    ChatCase(
        "/addquestion",
        "competency-bad",
        "hr",
        "/addquestion Bad Name! | 请讲一次你的经历 | Tell me a story | r",
        ("staff.usage_addquestion…",),
    ),
    ChatCase(
        "/addquestion",
        "text-too-long",
        "hr",
        "/addquestion teamwork | 请讲一次你的经历 | " + TOO_LONG + " | r",
        ("staff.usage_addquestion…",),
    ),
    ChatCase(
        "/addquestion",
        "text-too-short",
        "hr",
        "/addquestion teamwork | 短 | x | r",
        ("staff.usage_addquestion…",),
    ),
    ChatCase("/importquestions", "no-file", "hr", "/importquestions", ("staff.import_bad_file",)),
    ChatCase(
        "/importcandidates", "no-file", "hr", "/importcandidates sales", ("schedule.import_usage",)
    ),
    ChatCase("/cancel", "nothing-to-cancel", "viewer", "/cancel", ("staff.nothing_to_cancel",)),
    ChatCase("/slots", "add-no-window", "hr", "/slots add sales", ("schedule.usage_slots",)),
    ChatCase(
        "/slots",
        "add-bad-date",
        "hr",
        "/slots add sales 2026-13-45 09:00-12:00",
        ("schedule.usage_slots|schedule.bad_window",),
    ),
    ChatCase(
        "/slots",
        "add-backwards",
        "hr",
        "/slots add sales 2026-12-01 12:00-09:00",
        ("schedule.bad_window",),
    ),
    ChatCase(
        "/slots",
        "add-capacity-zero",
        "hr",
        "/slots add sales 2026-12-01 09:00-12:00 0",
        ("schedule.usage_slots",),
    ),
    ChatCase(
        "/slots",
        "add-capacity-huge",
        "hr",
        "/slots add sales 2026-12-01 09:00-12:00 " + "9" * 25,
        ("schedule.usage_slots",),
    ),
    ChatCase(
        "/slots",
        "add-fullwidth-time",
        "hr",
        "/slots add sales 2026-12-01 ０９:００-１２:００",
        ("schedule.usage_slots|schedule.bad_window",),
    ),
    ChatCase("/slots", "remove-unknown", "hr", "/slots remove 99999", ("schedule.slot_unknown",)),
    ChatCase(
        "/slots", "remove-25-digit", "hr", "/slots remove " + "8" * 25, ("schedule.slot_unknown",)
    ),
    ChatCase("/slots", "remove-no-id", "hr", "/slots remove", ("schedule.usage_slots",)),
    ChatCase(
        "/slots",
        "policy-bad-value",
        "hr",
        "/slots policy sales startnow maybe",
        ("schedule.usage_slots",),
    ),
    ChatCase(
        "/slots",
        "policy-unknown-job",
        "hr",
        "/slots policy nojob startnow on",
        ("staff.job_unknown",),
    ),
    ChatCase(
        "/questions",
        "unknown-competency",
        "viewer",
        "/questions juggling",
        ("staff.questions_header",),
    ),
    ChatCase("/questions", "sql", "viewer", "/questions ' OR '1'='1", ("staff.questions_header",)),
    ChatCase("unknown command", "word", "hr", "/frobnicate", ("common.unknown_command",)),
    ChatCase("unknown command", "too-long", "hr", "/" + "z" * 300, ("common.unknown_command",)),
    ChatCase("unknown command", "emoji", "hr", "/🙂", ("common.unknown_command",)),
    ChatCase(
        "unknown command", "fullwidth", "hr", "/ｉｎｖｉｔｅ sales Bob", ("common.unknown_command",)
    ),
    ChatCase("unknown command", "format", "hr", "/{0} %s", ("common.unknown_command",)),
    ChatCase(
        "unknown command", "in-group", "hr", "/frobnicate", ("common.unknown_command",), group=True
    ),
    ChatCase("staff text", "plain-text", "hr", "hello?", ("staff.help",)),
)

# ------------------------------------------------------------------ the /newjob dialog
NEWJOB_STEPS = [
    ("code", ()),
    ("title-zh", ("newjob-x",)),
    ("title-en", ("newjob-x", "新岗位")),
    ("competencies", ("newjob-x", "新岗位", "New job")),
    ("pass-line", ("newjob-x", "新岗位", "New job", "communication 50, teamwork 50")),
    ("questions", ("newjob-x", "新岗位", "New job", "communication 50, teamwork 50", "70")),
]
NEWJOB_BAD = {
    "code": {
        "empty": ("", "newjob.bad_code"),
        "too-short": ("a", "newjob.bad_code"),
        "too-long": ("c" * 41, "newjob.bad_code"),
        "spaces": ("new job", "newjob.bad_code"),
        "existing": ("sales", "newjob.bad_code"),
        "sql": ("x';DROP TABLE job;--", "newjob.bad_code"),
        "chinese": ("销售岗", "newjob.bad_code"),
        "fullwidth": ("ｓａｌｅｓ２", "newjob.bad_code"),
        "nul": ("ab\x00cd", "newjob.bad_code"),
        "emoji": ("job🙂", "newjob.bad_code"),
    },
    "title-zh": {
        "empty": ("", "newjob.bad_title"),
        "whitespace": ("   ", "newjob.bad_title"),
        "zero-width": ("\u200b\u200b", "newjob.bad_title"),
        "rtl": ("\u202e销售", "newjob.bad_title"),
        "too-long": ("销" * 101, "newjob.bad_title"),
    },
    "title-en": {
        "empty": ("", "newjob.bad_title"),
        "nul": ("Sales\x00rep", "newjob.bad_title"),
        "too-long": (TOO_LONG, "newjob.bad_title"),
    },
    "competencies": {
        "empty": ("", "newjob.bad_competencies"),
        "not-100": ("communication 50", "newjob.bad_competencies"),
        "unknown": ("juggling 100", "newjob.bad_competencies"),
        "word-weight": ("communication fifty, teamwork fifty", "newjob.bad_competencies"),
        "negative": ("communication -50, teamwork 150", "newjob.bad_competencies"),
        "fullwidth": ("communication ５０, teamwork ５０", "newjob.bad_competencies"),
        "exponent": ("communication 1e2", "newjob.bad_competencies"),
        "duplicate": ("communication 50, communication 50", "newjob.bad_competencies"),
        "huge": ("communication " + "9" * 30, "newjob.bad_competencies"),
        "sql": ("'; DROP TABLE job; --", "newjob.bad_competencies"),
    },
    "pass-line": {
        "too-high": ("120", "newjob.bad_pass_line"),
        "negative": ("-1", "newjob.bad_pass_line"),
        "word": ("seventy", "newjob.bad_pass_line"),
        "nan": ("nan", "newjob.bad_pass_line"),
        "inf": ("inf", "newjob.bad_pass_line"),
        "fullwidth": ("７０", "newjob.bad_pass_line"),
        "exponent": ("7e1", "newjob.bad_pass_line"),
        "huge": ("9" * 400, "newjob.bad_pass_line"),
        "empty": ("", "newjob.bad_pass_line"),
    },
    "questions": {
        "unknown-key": ("nope-01", "newjob.bad_questions"),
        "sql": ("'; DROP TABLE question; --", "newjob.bad_questions"),
        "empty": ("", "newjob.bad_questions"),
        "only-commas": (",,,", "newjob.bad_questions"),
        "nul": ("communication-01,\x00", "newjob.bad_questions"),
        "too-long": ("k" * 300, "newjob.bad_questions"),
    },
}
for step, setup in NEWJOB_STEPS:
    for kind, (text, key) in NEWJOB_BAD[step].items():
        add(
            ChatCase(
                f"/newjob {step}",
                kind,
                "admin",
                text,
                (key,),
                setup=("/newjob", *setup),
                teardown=("/cancel",),
            )
        )
add()

# ------------------------------------------------------------------ staff buttons, forged
BUTTONS: dict[str, tuple[str, dict[str, tuple[str, str]]]] = {
    # prefix: (user, {kind: (data, expected answer)})
    "dec": (
        "hr",
        {
            "no-fields": ("dec", "decision.unknown_candidate"),
            "empty-id": ("dec::a", "decision.unknown_candidate"),
            "missing-outcome": ("dec:{done}", "decision.usage"),
            "unknown-outcome": ("dec:{done}:z", "decision.usage"),
            "extra-field": ("dec:{done}:a:x", "decision.usage"),
            "word-id": ("dec:abc:a", "decision.unknown_candidate"),
            "fullwidth-id": ("dec:１５:a", "decision.unknown_candidate"),
            "25-digit-id": ("dec:" + "9" * 25 + ":a", "decision.unknown_candidate"),
            "negative-id": ("dec:-1:a", "decision.unknown_candidate"),
            "zero-id": ("dec:0:a", "decision.unknown_candidate"),
            "unknown-id": ("dec:99999:a", "decision.unknown_candidate"),
        },
    ),
    "ct": (
        "hr",
        {
            "no-fields": ("ct", "decision.unknown_candidate"),
            "word-id": ("ct:abc:send", "decision.unknown_candidate"),
            "25-digit-id": ("ct:" + "9" * 25 + ":send", "decision.unknown_candidate"),
            "fullwidth-id": ("ct:１５:send", "decision.unknown_candidate"),
            "unknown-action": ("ct:{done}:burn", "contract.not_approved"),
            "not-approved": ("ct:{done}:send", "contract.not_approved"),
        },
    ),
    "ask": (
        "hr",
        {
            "no-id": ("ask", "followup.unknown_candidate"),
            "word-id": ("ask:abc", "followup.unknown_candidate"),
            "25-digit-id": ("ask:" + "9" * 25, "followup.unknown_candidate"),
            "negative-id": ("ask:-3", "followup.unknown_candidate"),
            "unknown-id": ("ask:99999", "followup.unknown_candidate"),
            "finished": ("ask:{done}", "followup.done"),
            "extra-field": ("ask:{live}:x", "followup.unknown_candidate"),
        },
    ),
    "hs": (
        "hr",
        {
            "no-fields": ("hs", "human.unknown_candidate"),
            "competency-out-of-range": ("hs:{done}:9:4", "human.bad_score"),
            "score-too-high": ("hs:{done}:0:9", "human.bad_score"),
            "score-zero": ("hs:{done}:0:0", "human.bad_score"),
            "score-fullwidth": ("hs:{done}:0:４", "human.bad_score"),
            "score-huge": ("hs:{done}:0:" + "9" * 25, "human.bad_score"),
            "words": ("hs:{done}:x:y", "human.bad_score"),
            "25-digit-id": ("hs:" + "9" * 25 + ":0:4", "human.unknown_candidate"),
        },
    ),
}
for prefix, (user, kinds) in BUTTONS.items():
    for kind, (data, key) in kinds.items():
        add(ChatCase(f"button {prefix}", kind, user, f"/press {data}", (key,), group=True))
    genuine = {
        "dec": "dec:{done}:a",
        "ct": "ct:{done}:send",
        "ask": "ask:{live}",
        "hs": "hs:{done}:0:4",
    }
    add(
        ChatCase(
            f"button {prefix}",
            "other-job",
            "opsmgr",
            f"/press {genuine[prefix]}",
            ("access.other_job",),
            group=True,
        )
    )
add(
    ChatCase("button unknown", "staff", "hr", "/press zz:1", ("staff.help",)),
    ChatCase("button unknown", "too-long", "hr", "/press " + "q" * 64, ("staff.help",)),
    ChatCase("button del", "forged-by-staff", "hr", "/press del:1:yes", ("privacy.nothing",)),
)
for kind, line in {
    "button": "/press lang:en",
    "voice": "@voice",
    "file": "@file",
    "sticker": "@sticker",
}.items():
    add(
        ChatCase(
            "/newjob code",
            f"not-text-{kind}",
            "admin",
            line,
            ("newjob.text_only",),
            setup=("/newjob",),
            teardown=("/cancel",),
        )
    )
