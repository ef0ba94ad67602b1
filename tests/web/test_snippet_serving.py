"""GET /js/*.js: the served bytes are the build of the source, compressed, cached, and small."""

from __future__ import annotations

import gzip

import brotli
import httpx
import pytest

from collector import snippet
from tests.conftest import LiveServer

CORE_BUDGET = 1536  # bytes, gzipped
ADAPTER_BUDGET = 512


def test_served_core_is_the_build_of_the_source(client: httpx.Client) -> None:
    response = client.get("/js/audience.js", headers={"accept-encoding": "identity"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/javascript; charset=utf-8"
    assert "max-age=604800" in response.headers["cache-control"]
    assert response.content.decode() == snippet.build()
    assert "globalPrivacyControl" in response.text  # the source's own words survive minifying
    assert "//" not in response.text.replace("\\/", "").replace("://", "")  # no comments left


@pytest.mark.parametrize("adapter", snippet.ADAPTERS)
def test_each_adapter_file_is_core_plus_adapter(client: httpx.Client, adapter: str) -> None:
    response = client.get(f"/js/audience.{adapter}.js", headers={"accept-encoding": "identity"})
    assert response.status_code == 200
    assert response.text == snippet.build(adapter)
    assert response.text != snippet.build()


def test_compression_etag_and_revalidation(client: httpx.Client) -> None:
    plain = client.get("/js/audience.js", headers={"accept-encoding": "identity"}).content
    request = client.build_request(
        "GET", "/js/audience.js", headers={"accept-encoding": "gzip, br"}
    )
    br = client.send(request, stream=True)
    assert br.headers["content-encoding"] == "br"
    assert br.headers["vary"] == "Accept-Encoding"
    assert brotli.decompress(b"".join(br.iter_raw())) == plain
    gz = httpx.get(f"{client.base_url}/js/audience.js", headers={"accept-encoding": "gzip"})
    assert gz.headers["content-encoding"] == "gzip"
    assert gz.content == plain
    etag = gz.headers["etag"]
    again = client.get("/js/audience.js", headers={"if-none-match": etag})
    assert again.status_code == 304
    assert again.content == b""
    assert client.get("/js/other.js").status_code == 404


def test_size_budgets_on_the_served_bytes(live: LiveServer) -> None:
    def served_gzip(name: str) -> int:
        with httpx.Client() as raw:
            request = raw.build_request(
                "GET", f"{live.url}/js/{name}", headers={"accept-encoding": "gzip"}
            )
            response = raw.send(request, stream=True)
            body = b"".join(response.iter_raw())
            assert response.headers["content-encoding"] == "gzip"
            assert gzip.decompress(body).decode() == snippet.build(snippet.file_names()[name])
            return len(body)

    core = served_gzip("audience.js")
    assert core <= CORE_BUDGET, f"core is {core} bytes gzipped"
    for adapter in snippet.ADAPTERS:
        extra = served_gzip(f"audience.{adapter}.js") - core
        alone = len(gzip.compress(snippet.minify(snippet.source(adapter)).encode(), 9))
        assert max(extra, alone) <= ADAPTER_BUDGET, f"{adapter}: +{extra} / {alone} bytes"


def test_optout_expires_the_cookie_for_allowed_origins(client: httpx.Client) -> None:
    response = client.post(
        "/api/privacy/optout",
        content=b'{"site": "example.com"}',
        headers={"origin": "https://www.example.com"},
    )
    assert response.status_code == 200
    assert response.json() == {"status": "opted out"}
    cookies = response.headers.get_list("set-cookie")
    assert any(c.startswith("audience=;") and "Max-Age=0" in c for c in cookies)
    assert any(c.startswith("__Host-audience=;") for c in cookies)
    assert response.headers["access-control-allow-origin"] == "https://www.example.com"

    other = client.post(
        "/api/privacy/optout",
        content=b'{"site": "example.com"}',
        headers={"origin": "https://evil.test"},
    )
    assert other.status_code == 403
    assert "set-cookie" not in other.headers
    broken = client.post(
        "/api/privacy/optout", content=b"{nope", headers={"sec-fetch-site": "same-origin"}
    )
    assert broken.status_code == 400
