"""HTTP workers and the store owner: what a worker cannot answer goes to the owner, over a socket.

With ``--workers N`` on the embedded store, only the parent process may open chDB. The workers
answer beacons, the snippet, health checks and the metrics themselves, and pass the visitor's
privacy API and page and the dashboards to the parent, which serves them on a Unix socket in a
directory only the collector's user may enter. The worker says who the client is and how it
connected in ``CLIENT_HEADER`` (dropping any copy the client sent); the parent's ``ClientScope``
puts that back into the request.
"""

from __future__ import annotations

import logging
from pathlib import Path

import httpx

from collector.web import http
from collector.web.asgi import ASGIApp, BodyTooLarge, Receive, Scope, Send, answer, read_body

log = logging.getLogger("audience.forward")

CLIENT_HEADER = b"x-audience-client"
MAX_FORWARDED_BODY = 1 << 20
_HOP_BY_HOP = {
    b"connection", b"keep-alive", b"proxy-authenticate", b"proxy-authorization", b"te",
    b"trailer", b"transfer-encoding", b"upgrade",
}  # fmt: skip
_NOT_FORWARDED = _HOP_BY_HOP | {b"content-length", CLIENT_HEADER}
_NOT_RETURNED = _HOP_BY_HOP | {b"date", b"server"}  # the worker's uvicorn adds its own date


class ToStoreOwner:
    """An ASGI app that forwards each request to the store owner's socket and streams back."""

    def __init__(self, socket_path: Path, timeout_seconds: float = 60.0) -> None:
        self.socket_path = socket_path
        self._client = httpx.AsyncClient(
            transport=httpx.AsyncHTTPTransport(uds=str(socket_path)),
            base_url="http://store-owner",
            timeout=timeout_seconds,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":  # when served on its own rather than mounted
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        try:
            body = await read_body(receive, MAX_FORWARDED_BODY)
        except BodyTooLarge:
            await answer(send, 413, {"error": f"body is larger than {MAX_FORWARDED_BODY} bytes"})
            return
        client_host, client_port = scope.get("client") or ("", 0)
        headers = [(name, value) for name, value in scope["headers"] if name not in _NOT_FORWARDED]
        headers.append((CLIENT_HEADER, f"{scope['scheme']} {client_port} {client_host}".encode()))
        request = self._client.build_request(
            scope["method"],
            httpx.URL(
                path=http.without_root(_raw_path(scope), scope),
                query=scope.get("query_string", b""),
            ),
            headers=headers,
            content=body,
        )
        try:
            response = await self._client.send(request, stream=True)
        except httpx.TransportError as error:
            log.warning("the store owner did not answer: %s", error)
            await answer(
                send, 503, {"error": "the store owner process is not answering; retry shortly"}
            )
            return
        try:
            await send(
                {
                    "type": "http.response.start",
                    "status": response.status_code,
                    "headers": [
                        (name, value)
                        for name, value in response.headers.raw
                        if name.lower() not in _NOT_RETURNED
                    ],
                }
            )
            async for chunk in response.aiter_raw():
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b""})
        finally:
            await response.aclose()

    async def aclose(self) -> None:
        await self._client.aclose()

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return


def _raw_path(scope: Scope) -> str:
    """The request's path as it came, which the owner's server, given the same root path,
    reads again under it."""
    raw: bytes = scope.get("raw_path", scope["path"].encode())
    return raw.decode("latin-1")


class ClientScope:
    """The owner's side: the request's scheme and client as the worker saw them."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            headers = [(name, value) for name, value in scope["headers"] if name != CLIENT_HEADER]
            found = [value for name, value in scope["headers"] if name == CLIENT_HEADER]
            if not found:
                await answer(
                    send, 400, {"error": "requests here come from the collector's workers"}
                )
                return
            scheme, port, host = found[0].decode("latin-1").split(" ", 2)
            scope = dict(scope, headers=headers, scheme=scheme, client=(host, int(port)))
        await self.app(scope, receive, send)
