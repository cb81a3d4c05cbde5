"""HTTP hardening for the one ASGI app: content types per route and security headers.

:class:`SecurityMiddleware` wraps the whole app (outside the body limit of
``web/app.py``, so even its 413 answers carry the headers):

* **Content types.** A request that carries a body must declare a content type its
  route accepts (:data:`POLICIES`, first matching path prefix); otherwise it is refused
  with 415 before any route code runs. Telegram's webhook takes JSON only; the WeChat and
  WeCom callbacks take XML; the signing pages and the HR console take HTML forms. On these routes, which
  check a signature or token themselves, a body without a declared type is left to the
  route's own parser (WeChat's servers do not always send the header); routes not
  listed must declare JSON or a form.
* **Headers.** Every response gets ``X-Content-Type-Options: nosniff``,
  ``X-Frame-Options: DENY``, ``Referrer-Policy: no-referrer``, ``Cache-Control:
  no-store`` (nothing here may be cached: signing pages carry a one-time token in the
  URL and personal data in the page) and a deny-all ``Content-Security-Policy`` unless
  the route set a stricter one of its own (the signing pages do); HSTS when the public
  URL is https. A route's own value always wins.

Signatures are checked by the routes themselves (Telegram's secret token, WeChat's
signature and AES envelope, the signing link's token and session cookie).
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

JSON = frozenset({"application/json"})
XML = frozenset({"text/xml", "application/xml", "text/plain"})
FORMS = frozenset({"application/x-www-form-urlencoded", "multipart/form-data"})


@dataclass(frozen=True)
class BodyPolicy:
    """Which content types a route prefix accepts for a request body."""

    prefix: str
    types: frozenset[str]
    allow_missing: bool = False


POLICIES: tuple[BodyPolicy, ...] = (
    BodyPolicy("/telegram/", JSON, allow_missing=True),
    BodyPolicy("/wechat/", XML, allow_missing=True),
    BodyPolicy("/wecom/", XML, allow_missing=True),
    BodyPolicy("/sign/", FORMS, allow_missing=True),
    BodyPolicy("/console/", FORMS),
)
DEFAULT_POLICY = BodyPolicy("/", JSON | FORMS)

HEADERS: dict[str, str] = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'; base-uri 'none'",
    "Cross-Origin-Resource-Policy": "same-origin",
}
HSTS = "max-age=31536000"
_BODY_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


def policy_for(path: str, policies: tuple[BodyPolicy, ...] = POLICIES) -> BodyPolicy:
    for policy in policies:
        if path.startswith(policy.prefix):
            return policy
    return DEFAULT_POLICY


def _has_body(headers: list[tuple[bytes, bytes]]) -> bool:
    for name, value in headers:
        if name == b"transfer-encoding":
            return True
        if name == b"content-length":
            try:
                return int(value) > 0
            except ValueError:
                return True  # the body limit answers 400 for it
    return False


def _content_type(headers: list[tuple[bytes, bytes]]) -> str | None:
    for name, value in headers:
        if name == b"content-type":
            return value.decode("latin-1").split(";", 1)[0].strip().lower()
    return None


class SecurityMiddleware:
    """Pure ASGI middleware (no buffering): content-type allow-list and security headers."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        https: bool = False,
        policies: tuple[BodyPolicy, ...] = POLICIES,
    ) -> None:
        self.app = app
        self.policies = policies
        self.headers = dict(HEADERS)
        if https:
            self.headers["Strict-Transport-Security"] = HSTS

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in self.headers.items():
                    headers.setdefault(name, value)
            await send(message)

        raw: list[tuple[bytes, bytes]] = list(scope.get("headers", []))
        if scope.get("method", "GET") in _BODY_METHODS and _has_body(raw):
            policy = policy_for(scope.get("path", ""), self.policies)
            ctype = _content_type(raw)
            if (ctype is None and not policy.allow_missing) or (
                ctype is not None and ctype not in policy.types
            ):
                await _refuse(send_with_headers, 415, b"unsupported content type")
                return
        await self.app(scope, receive, send_with_headers)


async def _refuse(send: Send, status: int, body: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
