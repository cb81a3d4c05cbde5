"""Coding questions come in through the same YAML and CSV imports as the others."""

from __future__ import annotations

import json

from sqlmodel import select

from coding.question import CodingSpec
from storage.models import Question
from tests.dialogs.invitations.test_bulk_invite import send_file
from tests.harness import Chat

YAML = """
questions:
  - key: co-code-sum
    competency: python_skills
    zh: 编程题：读入两个整数，输出它们的和。
    en: "Coding: read two integers and print their sum."
    coding:
      language: python
      time_limit_s: 1
      memory_mb: 64
      starter: "a, b = map(int, input().split())\\n"
      examples: [{name: one, stdin: "1 2\\n", expected_stdout: "3\\n"}]
      tests:
        - {name: big, stdin: "1000000 2000000\\n", expected_stdout: "3000000\\n", weight: 2}
      reference: "a, b = map(int, input().split())\\nprint(a + b)\\n"
  - key: co-code-bad
    competency: python_skills
    zh: 编程题：没有测试的题目。
    en: "Coding: a question without tests."
    coding: {language: python, tests: []}
  - key: co-code-cobol
    competency: python_skills
    zh: 编程题：用不存在的语言。
    en: "Coding: in a language nobody configured."
    coding: {language: cobol, tests: [{name: a, stdin: "", expected_stdout: ""}]}
  - key: co-code-mode
    competency: python_skills
    zh: 编程题：只写了模式。
    en: "Coding: only the mode given."
    modes: [code]
"""


def test_import_coding_questions_from_yaml(chat: Chat) -> None:
    text = send_file(chat, "hr", YAML.encode(), "q.yaml", "")[-1].text
    assert "Imported 1 questions" in text
    assert "row 2:" in text and "row 3:" in text and "row 4:" in text
    assert "unknown language" in text
    assert "the code mode needs a coding part" in text
    with chat.app.db.session() as session:
        row = session.exec(select(Question).where(Question.key == "co-code-sum")).one()
    assert row.modes == "code"
    spec = CodingSpec.model_validate(row.coding)
    assert spec.time_limit_s == 1 and spec.memory_mb == 64
    assert [c.name for c in spec.suite().tests] == ["one", "big"]
    assert [c.hidden for c in spec.suite().tests] == [False, True]


def test_a_chinese_speaking_hr_reads_each_coding_problem_in_chinese(chat: Chat) -> None:
    bad = (
        YAML
        + """  - key: co-code-extra
    competency: python_skills
    zh: 编程题：多写了一个设置。
    en: "Coding: one setting too many."
    coding: {language: python, speed: 3, time_limit_s: 99, tests: [{name: a, stdin: "", expected_stdout: ""}]}
"""
    )
    text = send_file(chat, "hr", bad.encode(), "q.yaml", "", lang="zh")[-1].text
    assert "未配置的编程语言" in text
    assert "编程作答方式需要编程题设置" in text
    assert "coding.speed 不是编程题的设置项" in text
    assert "coding.time_limit_s 必须 ≤ 10" in text
    assert "coding.tests：至少需要 1 个" in text
    for english in ("unknown language", "Value error", "Extra inputs", "should be"):
        assert english not in text


def test_import_a_coding_question_from_csv(chat: Chat) -> None:
    coding = {
        "language": "python",
        "tests": [{"name": "a", "call": {"function": "f", "args": [1]}, "expected": 2}],
    }
    cell = json.dumps(coding).replace('"', '""')
    data = (
        "key,competency,zh,en,coding\n"
        f'co-code-csv,python_skills,编程题：实现函数 f,"Coding: write f","{cell}"\n'
        "co-plain,teamwork,请讲一次团队合作的经历,Tell me about teamwork,\n"
    )
    text = send_file(chat, "hr", data.encode(), "q.csv", "")[-1].text
    assert "Imported 2 questions" in text
    with chat.app.db.session() as session:
        rows = {q.key: q for q in session.exec(select(Question)).all()}
    assert rows["co-code-csv"].modes == "code"
    assert rows["co-code-csv"].coding["tests"][0]["call"]["function"] == "f"
    assert rows["co-plain"].coding == {} and rows["co-plain"].modes == "voice,video,text"
