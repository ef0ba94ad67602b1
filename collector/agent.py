"""User-Agent -> Agent(browser, major version, os, device type, is_bot). Pure and cached.

The classification (mobile, tablet, bot...) is the ``user-agents`` library's; the parsing underneath
goes through ``ua-parser``'s best available resolver (the compiled one when installed), because the
pure-Python parser costs about a millisecond per new string.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import ua_parser
from user_agents.parsers import (
    UserAgent,
    parse_browser,
    parse_device,
    parse_operating_system,
)

CACHE_SIZE = 20_000
MAX_USER_AGENT_LENGTH = 512
BOT_MARKERS = (
    "bot", "crawl", "spider", "slurp", "headless", "lighthouse", "preview", "monitor",
    "python-", "curl/", "wget/", "httpclient", "okhttp", "go-http", "java/", "libwww",
    "scrapy", "phantomjs", "pingdom", "uptime", "facebookexternalhit",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Agent:
    browser: str
    browser_version: str
    os: str
    device: str  # desktop, mobile, tablet or other
    is_bot: bool


class _ParsedUserAgent(UserAgent):  # type: ignore[misc]
    """user-agents' classification over a result of ua-parser's fast resolver."""

    def __init__(self, user_agent_string: str) -> None:
        parsed = ua_parser.parse(user_agent_string)
        self.ua_string = user_agent_string
        self.browser = parse_browser(**_fields(parsed.user_agent, "Other"))
        self.os = parse_operating_system(**_fields(parsed.os, "Other"))
        device = parsed.device
        self.device = parse_device(
            device.family if device else "Other",
            device.brand if device else None,
            device.model if device else None,
        )


def _fields(part: object | None, default_family: str) -> dict[str, str | None]:
    names = ("family", "major", "minor", "patch", "patch_minor")
    if part is None:
        return {"family": default_family}
    return {name: getattr(part, name, None) for name in names if hasattr(part, name)}


def warm_up() -> None:
    """Build ua-parser's resolver now (a quarter of a second) rather than in the first request."""
    _ParsedUserAgent("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/131.0.0.0")


def parse_agent(user_agent: str) -> Agent:
    """Cached on the first 512 characters, so a huge header cannot grow the cache."""
    return _parse_agent(user_agent[:MAX_USER_AGENT_LENGTH])


def cache_info() -> Any:
    return _parse_agent.cache_info()


@lru_cache(maxsize=CACHE_SIZE)
def _parse_agent(user_agent: str) -> Agent:
    if not user_agent.strip():
        return Agent("", "", "", "other", is_bot=True)
    parsed = _ParsedUserAgent(user_agent)
    lowered = user_agent.lower()
    is_bot = bool(parsed.is_bot) or any(marker in lowered for marker in BOT_MARKERS)
    return Agent(
        browser=_family(parsed.browser.family),
        browser_version=str(parsed.browser.version[0]) if parsed.browser.version else "",
        os=_family(parsed.os.family),
        device=_device_type(parsed),
        is_bot=is_bot,
    )


def _family(family: str) -> str:
    return "" if family == "Other" else family


def _device_type(parsed: UserAgent) -> str:
    if parsed.is_tablet:
        return "tablet"
    if parsed.is_mobile:
        return "mobile"
    if parsed.is_pc:
        return "desktop"
    return "other"
