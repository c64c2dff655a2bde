"""What every service does at its edge before a route runs: trust forwarded headers only from the proxies
the operator names, and refuse request bodies over a size limit before they are read.

Forwarded headers (issue 13: rate limits were bypassed with a spoofed ``X-Forwarded-For``): uvicorn
trusts them from 127.0.0.1 by default, so any local client could pose as any address. Services run with
``--no-proxy-headers`` (``make run``, compose) and apply uvicorn's own ``ProxyHeadersMiddleware`` here,
only for the addresses or networks in ``<SVC>_FORWARDED_ALLOW_IPS`` (empty: none; the client address is
the TCP peer).

Body size (issue 13: 10 MB bodies were parsed before a 422): a ``Content-Length`` over
``<SVC>_MAX_BODY_BYTES`` is a 413 problem at once; a chunked body is read here up to the limit (413 past it) and
handed on whole.
"""

from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from shared.problems import Problem, problem_response

__all__ = ["BodySizeLimit", "ProxyHeadersMiddleware", "trusted_proxies"]


def trusted_proxies(setting: str) -> list[str]:
    """The addresses/networks of a comma-separated ``forwarded_allow_ips`` setting (empty: none)."""
    return [part.strip() for part in setting.split(",") if part.strip()]


def _replay(messages: list[Message], then: Receive | None = None) -> Receive:
    """A ``receive`` that gives ``messages`` first, then whatever ``then`` gives (disconnects)."""
    pending = list(messages)

    async def receive() -> Message:
        if pending:
            return pending.pop(0)
        if then is None:
            return {"type": "http.disconnect"}
        return await then()

    return receive


class BodySizeLimit:
    """Pure ASGI middleware: 413 ``application/problem+json`` for request bodies over ``max_bytes``."""

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = next((v for k, v in scope.get("headers", []) if k == b"content-length"), None)
        if length is not None and (not length.isdigit() or int(length) > self.max_bytes):
            await self._refuse(scope, receive, send)
            return
        if length is not None:  # declared and within the limit (the server holds the client to it)
            await self.app(scope, receive, send)
            return
        # no Content-Length (chunked): read it here, at most the limit, then hand it on whole
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                await self.app(scope, _replay([message]), send)
                return
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > self.max_bytes:
                await self._refuse(scope, receive, send)
                return
            if not message.get("more_body", False):
                break
        body: Message = {"type": "http.request", "body": b"".join(chunks), "more_body": False}
        await self.app(scope, _replay([body], then=receive), send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        problem = Problem(
            type="https://onewindow.example/problems/body_too_large", title="Request body too large", status=413,
            detail=f"the request body is over {self.max_bytes} bytes", instance=scope.get("path", ""),
            code="body_too_large",
        )
        await problem_response(problem, headers={"Connection": "close"})(scope, receive, send)
