"""What keeps a local server local: a per-start access token and Host/Origin checks.

Every request must carry the token printed at start (as notebook servers do): in the URL's
``token`` query parameter (the first page load; the answer then sets a same-site cookie), in an
``X-Vaekit-Token`` header, or in that cookie. The Host header must name the address the server
was bound to (so a web page on another name that resolves to 127.0.0.1 -- DNS rebinding -- is
refused), and an Origin header, when a browser sends one, must be this server's own.
"""

from __future__ import annotations

import json
import secrets
from http.cookies import SimpleCookie
from urllib.parse import parse_qs

TOKEN_HEADER = b"x-vaekit-token"
LOOPBACK = ("127.0.0.1", "localhost", "[::1]")


def new_token() -> str:
    return secrets.token_urlsafe(24)


def cookie_name(port: int) -> str:
    return f"vaekit_token_{port}"  # cookies ignore ports; servers on two ports keep their own


def allowed_hosts(host: str, port: int) -> set[str]:
    """The Host header values a browser sends for this server."""
    names = set(LOOPBACK) if host in ("127.0.0.1", "localhost", "::1") else {host}
    if host in ("0.0.0.0", "::"):
        names = set()  # any name reaches it: only the token guards it (the start warns of that)
    return {f"{n}:{port}" for n in names} | names


class Guard:
    """ASGI middleware: refuse (403, one line of JSON) what fails the checks above."""

    def __init__(self, app, token: str, host: str, port: int):
        self.app, self.token, self.port = app, token, port
        self.hosts = allowed_hosts(host, port)
        self.cookie = cookie_name(port)

    async def __call__(self, scope, receive, send):
        if scope["type"] == "websocket":  # the page uses none; refuse rather than half-check
            return await send({"type": "websocket.close", "code": 1008})
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        host = headers.get("host", "")
        if self.hosts and host not in self.hosts:
            return await _refuse(send, 403, f"Host header {host[:80]!r} is not this server's "
                                 f"({sorted(self.hosts)[0]}); open the URL vaekit serve printed")
        origin = headers.get("origin")
        foreign = origin is not None and origin.split("://", 1)[-1] not in self.hosts
        if origin != "null" and self.hosts and foreign:
            return await _refuse(send, 403, f"Origin {origin[:80]!r} is not this server's; "
                                 "requests from other sites are refused")
        if origin == "null":
            return await _refuse(send, 403, "Origin 'null' (a sandboxed or file: page) is refused")
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        given = (query.get("token", [None])[0] or headers.get(TOKEN_HEADER.decode())
                 or _cookie(headers.get("cookie", ""), self.cookie))
        if not given or not secrets.compare_digest(str(given), self.token):
            what = "a wrong access token" if given else "no access token"
            return await _refuse(send, 401, f"{what}: open the URL vaekit serve printed (it carries "
                                 "?token=...), or send the token in an X-Vaekit-Token header")
        if "token" in query:
            send = _with_cookie(send, self.cookie, self.token)
        return await self.app(scope, receive, send)


def _cookie(header: str, name: str) -> str | None:
    try:
        jar = SimpleCookie(header)
    except Exception:  # noqa: BLE001 -- a malformed Cookie header is just no cookie
        return None
    return jar[name].value if name in jar else None


def _with_cookie(send, name: str, token: str):
    async def wrapped(message):
        if message["type"] == "http.response.start":
            cookie = f"{name}={token}; Path=/; HttpOnly; SameSite=Strict".encode("latin-1")
            message = dict(message, headers=[*message.get("headers", []), (b"set-cookie", cookie)])
        await send(message)
    return wrapped


async def _refuse(send, status: int, reason: str) -> None:
    body = json.dumps({"error": reason}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
