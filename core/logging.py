"""Logging set-up with a filter that keeps secrets and personal fields out of logs."""

from __future__ import annotations

import logging
import re

# Long digit runs (phones, ID numbers), e-mail addresses, bot tokens, bearer keys.
_PATTERNS = [
    (re.compile(r"\b\d{6}(?:19|20)\d{2}\d{4}\d{3}[\dXx]\b"), "[id-number]"),
    (re.compile(r"(?<!\d)1[3-9]\d{9}(?!\d)"), "[phone]"),
    (re.compile(r"\+?\d[\d -]{9,}\d"), "[number]"),
    (re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+"), "[email]"),
    (re.compile(r"\b\d{6,12}:[A-Za-z0-9_-]{30,}\b"), "[bot-token]"),
    # One-time links: contract signing pages and invitation deep links carry their token.
    (re.compile(r"(/sign/)[A-Za-z0-9_-]{16,}"), r"\1[token]"),
    (re.compile(r"([?&]start=)[A-Za-z0-9_-]{16,}"), r"\1[token]"),
    (
        re.compile(r"(?i)(bearer\s+|api[_-]?key[=:]\s*|access_token=|token=|secret=)[^\s&\"']+"),
        r"\1[secret]",
    ),
]
_extra_secrets: set[str] = set()


def register_secret(value: str | None) -> None:
    """Any log line containing this exact value gets it masked."""
    if value and len(value) >= 6:
        _extra_secrets.add(value)


def redact(text: str) -> str:
    for secret in _extra_secrets:
        if secret in text:
            text = text.replace(secret, "[secret]")
    for pattern, repl in _PATTERNS:
        text = pattern.sub(repl, text)
    return text


class RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg = cleaned
            record.args = None
        return True


def setup_logging(level: str = "INFO", file: str | None = None) -> None:
    handlers: list[logging.Handler] = [logging.StreamHandler()]
    if file:
        handlers.append(logging.FileHandler(file, encoding="utf-8"))
    for handler in handlers:
        handler.addFilter(RedactingFilter())
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = handlers
    root.setLevel(level)
    for noisy in ("httpx", "httpcore", "faster_whisper", "apscheduler.executors.default"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
