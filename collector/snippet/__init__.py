"""The tracking snippet: built from its source at start, served minified, compressed and cached.

``/js/audience.js`` is the core alone (manual consent through ``audience.consent(true)``);
``/js/audience.<adapter>.js`` is the core with one consent-manager adapter. Each file is the
sources wrapped in one function and minified (local names shortened) by calmjs.parse, a pure
Python ES5 parser, at the first request: what is served is always exactly what the source says.
"""

from __future__ import annotations

import gzip
import hashlib
import importlib.resources
from dataclasses import dataclass
from functools import cache

import brotli
from calmjs.parse import es5
from calmjs.parse.unparsers.es5 import minify_print

ADAPTERS = ("tcf", "gcm", "tarteaucitron", "axeptio", "didomi", "cookiebot", "onetrust", "klaro")
_SOURCE = importlib.resources.files(__name__)


@dataclass(frozen=True)
class Asset:
    body: bytes
    gzip: bytes
    brotli: bytes
    etag: str


def source(name: str) -> str:
    """A source fragment: ``core`` or an adapter's name."""
    path = _SOURCE / "core.js" if name == "core" else _SOURCE / "adapters" / f"{name}.js"
    return path.read_text()


def minify(text: str) -> str:
    """Comments and spaces out, local names shortened; globals keep their names."""
    return str(minify_print(es5(text), obfuscate=True, obfuscate_globals=False))


def build(adapter: str | None = None) -> str:
    """The served script: the core (and the adapter) in one strict-mode function, minified."""
    parts = [source("core")] + ([source(adapter)] if adapter else [])
    return minify('(function(){"use strict";\n' + "\n".join(parts) + "\n})();") + "\n"


@cache
def asset(adapter: str | None = None) -> Asset:
    body = build(adapter).encode()
    return Asset(
        body=body,
        gzip=gzip.compress(body, compresslevel=9, mtime=0),
        brotli=brotli.compress(body, quality=11),
        etag='"' + hashlib.sha256(body).hexdigest()[:20] + '"',
    )


def file_names() -> dict[str, str | None]:
    """Served file name -> adapter (None for the core alone)."""
    return {"audience.js": None} | {f"audience.{name}.js": name for name in ADAPTERS}
