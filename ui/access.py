"""Who may use the chat server: the Host and Origin a request names, and how fast a client may
guess passwords.

DNS rebinding: a page on evil.example can point its own name at 127.0.0.1 and then read a
loopback server as if it were its own site; only the Host header still says "evil.example". So a
request whose Host is not a name this server answers to is refused, and so is a request sent by
a page from another site (its Origin), before Gradio sees either. Gradio's own CORS middleware
allows every origin whenever the Host is not a localhost name, which is why this check runs
outside it (GuardedApp).
"""
from __future__ import annotations

import contextvars
import hmac
import ipaddress
import math
import threading
import time
from collections.abc import Callable, Collection
from urllib.parse import urlsplit

from fastapi import HTTPException
from gradio.routes import App, ORJSONResponse
from starlette.datastructures import Headers
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Receive, Scope, Send

LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})

# The address of the client whose request is being served; Gradio's login hook is given only the
# user name and password, so HostCheck records the address here for Logins.
CLIENT: contextvars.ContextVar[str | None] = contextvars.ContextVar("client", default=None)


def host_name(value: str | None) -> str | None:
    """The lower-case host of a Host header or an Origin ("[::1]:7860" -> "::1"), None if it has none."""
    if not value:
        return None
    if _is_ip(value):  # a bare address, as --host takes it ("::1" has no brackets there)
        return value.lower()
    try:
        return urlsplit(value if "//" in value else "//" + value).hostname
    except ValueError:  # e.g. an unbalanced "[" in an IPv6 literal
        return None


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


class HostCheck:
    """ASGI middleware: refuse a Host the server does not answer to (400) and a page from another
    site (403), and record the client's address for Logins.

    Served names: the loopback names, the address listened on, and `extra` (`--allowed-host`).
    Listening on a non-loopback address, any IP address is served too: rebinding needs a name,
    and people reach a LAN machine by its address. With a public share link (`any_host`) every
    Host is served, since the link's name is known only once the tunnel is up and the page is
    public by choice; pages from other sites are still refused.
    """

    def __init__(self, app: ASGIApp, listen: str, extra: Collection[str] = (), any_host: bool = False) -> None:
        self.app = app
        self.names = LOOPBACK | {n for n in map(host_name, [listen, *extra]) if n}
        self.any_ip = host_name(listen) not in LOOPBACK
        self.any_host = any_host

    def serves(self, name: str | None) -> bool:
        return name is not None and (self.any_host or name in self.names or (self.any_ip and _is_ip(name)))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        host = headers.get("host")
        origin = headers.get("origin")
        if not self.serves(host_name(host)):
            refusal = PlainTextResponse(f"this server does not answer to the host {host!r}\n", status_code=400)
            await refusal(scope, receive, send)
            return
        # Same origin (the page this server sent), or a page from a name it answers to.
        if origin is not None and urlsplit(origin).netloc.lower() != host.lower() and host_name(origin) not in self.names:
            refusal = PlainTextResponse(f"requests from pages on {origin} are refused\n", status_code=403)
            await refusal(scope, receive, send)
            return
        client = scope.get("client")
        token = CLIENT.set(client[0] if client else None)
        try:
            await self.app(scope, receive, send)
        finally:
            CLIENT.reset(token)


class GuardedApp(App):
    """Gradio's app with HostCheck outside every middleware Gradio adds (its CORS one above all).

    Blocks.launch(_app=...) is how gr.Server hands Gradio its own App; the public
    app_kwargs={"middleware": [...]} would put the check inside Gradio's CORS middleware, which
    would still answer preflights and add Access-Control-Allow-Origin for foreign pages.
    """

    def __init__(self, listen: str, extra: Collection[str] = (), any_host: bool = False) -> None:
        super().__init__(default_response_class=ORJSONResponse)  # what Gradio gives its own App
        self._check = {"listen": listen, "extra": tuple(extra), "any_host": any_host}

    def build_middleware_stack(self) -> ASGIApp:
        return HostCheck(super().build_middleware_stack(), **self._check)


class Logins:
    """Gradio's auth hook for one user name and password, slowed per client after failed logins:
    after `free` failures in a row, a client's next attempt is refused (HTTP 429) until
    base_seconds * 2**(failures - free) have passed, at most cap_seconds. A refused attempt is
    not checked, so guessing goes no faster by asking more often; a success clears the count."""

    def __init__(self, user: str, password: str, free: int = 3, base_seconds: float = 1.0, cap_seconds: float = 60.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._user, self._password = user.encode(), password.encode()
        self.free, self.base_seconds, self.cap_seconds = free, base_seconds, cap_seconds
        self._clock = clock
        self._failures: dict[str | None, tuple[int, float]] = {}  # client -> (failures in a row, time of the last)
        self._lock = threading.Lock()

    def wait(self, failures: int) -> float:
        """Seconds a client must wait after this many failures in a row."""
        if failures < self.free:
            return 0.0
        return min(self.base_seconds * 2 ** (failures - self.free), self.cap_seconds)

    def __call__(self, user: str, password: str) -> bool:
        client, now = CLIENT.get(), self._clock()
        with self._lock:
            failures, last = self._failures.get(client, (0, 0.0))
            left = self.wait(failures) - (now - last)
            if left > 0:
                raise HTTPException(429, f"too many failed logins; try again in {math.ceil(left)} s")
            # Both compared in constant time, and both always, so timing tells neither.
            ok = hmac.compare_digest(user.encode(), self._user) & hmac.compare_digest(password.encode(), self._password)
            if ok:
                self._failures.pop(client, None)
            else:
                self._failures[client] = (failures + 1, now)
            return ok
