"""The collector's views besides the hot endpoint and the privacy API: health, metrics, snippet."""

from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

from collector import snippet

SNIPPET_CACHE = "public, max-age=604800, stale-while-revalidate=86400"
SNIPPETS = snippet.file_names()
READINESS_SECONDS = 2.0


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "alive"})


async def readyz(request: Request) -> Response:
    """Checked off the event loop, with a deadline; neither waits for the store (the writer's
    health is what it last saw, and the spool's files), so a slow query does not stall it."""
    state = request.app.state
    writer_health = getattr(state, "writer_health", lambda: None)

    def look() -> tuple[dict[str, bool], dict[str, float | None] | None]:
        return state.readiness(), writer_health()

    loop = asyncio.get_running_loop()
    try:
        checks, health = await asyncio.wait_for(loop.run_in_executor(None, look), READINESS_SECONDS)
    except TimeoutError:
        checks, health = {"store": False}, None
    status = 200 if all(checks.values()) else 503
    answer: dict[str, object] = {"ready": status == 200, "checks": checks}
    if health is not None:
        answer["writer"] = health
    return JSONResponse(answer, status_code=status)


async def metrics(request: Request) -> Response:
    runtime = request.app.state.runtime
    if runtime.shared_metrics is None:
        text = runtime.metrics.render()
    else:  # every process's figures, read from their snapshot files off the event loop
        loop = asyncio.get_running_loop()
        combined = await loop.run_in_executor(
            None, runtime.shared_metrics.combined, runtime.metrics
        )
        text = combined.render()
    return PlainTextResponse(text, media_type="text/plain; version=0.0.4")


async def script(request: Request) -> Response:
    """A snippet file, with its ETag, a week of caching, and brotli or gzip when accepted."""
    name = request.path_params["name"]
    if name not in SNIPPETS:
        return JSONResponse({"error": f"no such script: {name}"}, status_code=404)
    asset = snippet.asset(SNIPPETS[name])
    headers = {
        "etag": asset.etag,
        "cache-control": SNIPPET_CACHE,
        "vary": "Accept-Encoding",
        "access-control-allow-origin": "*",
        "x-content-type-options": "nosniff",
    }
    if asset.etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    accepted = request.headers.get("accept-encoding", "")
    body = asset.body
    if "br" in accepted:
        body, headers["content-encoding"] = asset.brotli, "br"
    elif "gzip" in accepted:
        body, headers["content-encoding"] = asset.gzip, "gzip"
    return Response(body, media_type="text/javascript; charset=utf-8", headers=headers)
