"""The ASGI types of the collector's lean handlers, reading a request body under a cap, and
answering with JSON (with ``X-Content-Type-Options: nosniff``) or nothing."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import orjson

from collector import AudienceError

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


_JSON_HEADERS = [(b"content-type", b"application/json"), (b"x-content-type-options", b"nosniff")]


class BodyTooLarge(AudienceError):
    """The request body is longer than the handler accepts."""

    status = 413


async def read_body(receive: Receive, limit: int, declared_length: str = "") -> bytes:
    """The whole body, or BodyTooLarge as soon as it (or its Content-Length) passes ``limit``."""
    if declared_length.isdigit() and int(declared_length) > limit:
        raise BodyTooLarge
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


async def answer(
    send: Send,
    status: int,
    payload: dict[str, Any] | None,
    headers: list[tuple[bytes, bytes]] | None = None,
) -> None:
    """A whole answer: ``payload`` as JSON, or an empty body when it is None."""
    body = b"" if payload is None else orjson.dumps(payload)
    response_headers = [
        (b"content-length", str(len(body)).encode()),
        (b"cache-control", b"no-store"),
        *(headers or []),
    ]
    if body:  # never an accepted beacon's 202, whose answer stays as lean as it is
        response_headers += _JSON_HEADERS
    await send({"type": "http.response.start", "status": status, "headers": response_headers})
    await send({"type": "http.response.body", "body": body})
