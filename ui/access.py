"""Who may use the chat server: the Host and Origin a request names, how fast a client may
guess passwords, and how much a client may leave in Gradio's upload folder.

DNS rebinding: a page on evil.example can point its own name at 127.0.0.1 and then read a
loopback server as if it were its own site; only the Host header still says "evil.example". So a
request whose Host is not a name this server answers to is refused, and so is a request sent by
a page from another site (its Origin), before Gradio sees either. Gradio's own CORS middleware
allows every origin whenever the Host is not a localhost name, which is why this check runs
outside it (GuardedApp).
"""
from __future__ import annotations

import contextlib
import contextvars
import hmac
import ipaddress
import math
import os
import threading
import time
from collections.abc import Callable, Collection, Iterable, MutableSet
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


class PendingUploads:
    """The files Gradio holds in its upload folder that the page has not submitted for indexing
    yet (Blocks.upload_file_set): at most `max_files` of them and `max_bytes` in all.

    Gradio's /upload route stores whatever it is sent, each file up to launch(max_file_size=...),
    and keeps it for delete_cache's hour: a page (or any client) could fill the disk with files
    it never submits. The chat deletes each upload's files once they are indexed (release_uploads).
    """

    def __init__(self, files: Callable[[], MutableSet[str]], max_files: int, max_bytes: int) -> None:
        self._files, self.max_files, self.max_bytes = files, max_files, max_bytes

    def usage(self) -> tuple[int, int]:
        """(files, bytes) waiting; forgets files that are gone (released, or Gradio's hourly clean-up)."""
        files, total = self._files(), 0
        for path in list(files):
            try:
                total += os.stat(path).st_size
            except OSError:
                files.discard(path)
        return len(files), total

    def refusal(self, incoming: int) -> tuple[int, str] | None:
        """(HTTP status, message) refusing an upload of `incoming` bytes, or None to let it in."""
        count, total = self.usage()
        if count >= self.max_files:
            return 429, (f"{count} uploaded files are waiting to be indexed (the limit is {self.max_files}); "
                         "add them to the index or wait an hour for them to expire")
        if total + incoming > self.max_bytes:
            return 413, (f"uploads waiting to be indexed would take {total + incoming:,} bytes "
                         f"(the limit is {self.max_bytes:,}); add fewer or smaller files at a time")
        return None


def release_uploads(pending: MutableSet[str], paths: Iterable[str]) -> None:
    """Delete Gradio's copies of uploaded files once dealt with (saved into the seeds folder or
    refused) and take them off its list of pending uploads (Blocks.upload_file_set)."""
    for path in paths:
        with contextlib.suppress(OSError):  # gone already, or not ours to delete: forget it either way
            os.unlink(path)
        pending.discard(str(path))


class UploadCap:
    """ASGI middleware: refuse a POST to Gradio's upload route past PendingUploads' limits.
    The byte limit needs the request's Content-Length (browsers send one for a form upload)."""

    def __init__(self, app: ASGIApp, pending: PendingUploads) -> None:
        self.app, self.pending = app, pending

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST" and scope["path"].rstrip("/").endswith("/upload"):
            length = Headers(scope=scope).get("content-length", "0")
            refused = self.pending.refusal(int(length) if length.isdigit() else 0)
            if refused is not None:
                status, message = refused
                await PlainTextResponse(message + "\n", status_code=status)(scope, receive, send)
                return
        await self.app(scope, receive, send)


class GuardedApp(App):
    """Gradio's app with HostCheck (and UploadCap) outside every middleware Gradio adds (its CORS one above all).

    Blocks.launch(_app=...) is how gr.Server hands Gradio its own App; the public
    app_kwargs={"middleware": [...]} would put the check inside Gradio's CORS middleware, which
    would still answer preflights and add Access-Control-Allow-Origin for foreign pages.
    """

    def __init__(self, listen: str, extra: Collection[str] = (), any_host: bool = False,
                 max_pending_files: int = 20, max_pending_bytes: int = 100 * 2**20) -> None:
        super().__init__(default_response_class=ORJSONResponse)  # what Gradio gives its own App
        self._check = {"listen": listen, "extra": tuple(extra), "any_host": any_host}
        self.pending = PendingUploads(lambda: self.get_blocks().upload_file_set, max_pending_files, max_pending_bytes)

    def build_middleware_stack(self) -> ASGIApp:
        return HostCheck(UploadCap(super().build_middleware_stack(), self.pending), **self._check)


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
