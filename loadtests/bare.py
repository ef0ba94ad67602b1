"""The throughput benchmark's bare baseline: an ASGI app that reads the body and answers 204.

    python -m uvicorn loadtests.bare:app --port 8001 --no-access-log

Whatever the collector does on top of this (parsing, consent, GeoIP, User-Agent, the signed
state, the durable spool, the writer) is what the benchmark's ratio measures.
"""

from __future__ import annotations

from collector.web.asgi import Receive, Scope, Send

_EMPTY = {"type": "http.response.start", "status": 204, "headers": []}


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] != "http":
        return
    more = True
    while more:
        message = await receive()
        more = message.get("more_body", False) and message["type"] == "http.request"
    await send(_EMPTY)
    await send({"type": "http.response.body", "body": b""})
