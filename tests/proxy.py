"""A reverse proxy for the tests, as a site puts the product under a path of its own origin:
``/stats/...`` goes to the collector without the prefix (with the client's address, the scheme
and the Host, as deploy/nginx.conf sends them), and the rest is the site's own pages."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import uvicorn

from tests.conftest import free_port

HOP_BY_HOP = {b"connection", b"keep-alive", b"transfer-encoding", b"upgrade", b"host"}


class PrefixProxy:
    def __init__(
        self, prefix: str, upstream: str, site: Any, site_paths: tuple[str, ...] = ()
    ) -> None:
        self.prefix = prefix.rstrip("/")
        self.site = site  # the ASGI app of the site's own pages
        self.site_paths = site_paths  # always the site's, even with the product at the root
        self.upstream = httpx.URL(upstream)
        # a transport, not a client: no cookie jar shared by every browser, no header of its
        # own (the browser's, accept-encoding among them, are the ones sent)
        self.transport = httpx.AsyncHTTPTransport()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":  # its client's connections closed at shutdown
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await self.transport.aclose()
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        path: str = scope["path"]
        ours = path == self.prefix or path.startswith(self.prefix + "/")
        if not ours or path.startswith(self.site_paths or ("\0",)):
            await self.site(scope, receive, send)
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        raw = scope.get("raw_path") or path.encode()
        headers = [(k, v) for k, v in scope["headers"] if k.lower() not in HOP_BY_HOP]
        host = dict(scope["headers"]).get(b"host", b"")
        headers += [
            (b"host", host),
            (b"x-forwarded-for", scope["client"][0].encode()),
            (b"x-forwarded-proto", scope["scheme"].encode()),
        ]
        request = httpx.Request(
            scope["method"],
            self.upstream.copy_with(path=raw[len(self.prefix) :].decode("latin-1") or "/",
                                    query=scope.get("query_string", b"")),
            headers=headers,
            content=body,
        )  # fmt: skip
        response = await self.transport.handle_async_request(request)
        content = b"".join([chunk async for chunk in response.aiter_raw()])  # as it was sent
        await response.aclose()
        await send(
            {
                "type": "http.response.start",
                "status": response.status_code,
                "headers": [(k, v) for k, v in response.headers.raw if k.lower() not in HOP_BY_HOP],
            }
        )
        await send({"type": "http.response.body", "body": content})


@contextmanager
def serving(app: Any) -> Iterator[str]:
    """``app`` under uvicorn on 127.0.0.1: its base URL."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the proxy did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
