"""User-Agent and client hints -> Agent(browser, major version, OS, device type, bot kind).

Pure and cached. The rules are maintained lists, not ours (see ``collector.ingest.agent_rules``):

- browser, OS and device come from Matomo's Device Detector, given the low-entropy client hints
  every Chromium browser sends (``Sec-CH-UA``, ``Sec-CH-UA-Mobile``, ``Sec-CH-UA-Platform``),
  which settle its reduced User-Agent strings;
- a bot is anything Device Detector's bot list names, a client it types as a library (HTTP
  libraries, command-line tools), or a match in crawler-user-agents (headless and automated
  browsers, monitors, AI fetchers). Each drop is counted by its kind in ``/metrics``.

Device types: ``desktop``; ``mobile`` (smartphones, phablets, feature phones); ``tablet``;
``other`` (TVs and set-top boxes, consoles, car browsers, smart displays and speakers, watches
and VR headsets, media players, cameras, peripherals, e-readers), as the README lists them.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any, NamedTuple

import ua_parser
from device_detector.parser.settings import DESKTOP_OS

from collector.ingest.agent_rules import FastDeviceDetector, crawler_list

CACHE_SIZE = 20_000
MAX_USER_AGENT_LENGTH = 512
MAX_HINT_LENGTH = 256

# Device Detector's types -> ours.
_DEVICE_TYPES = {
    "desktop": "desktop",
    "smartphone": "mobile",
    "phablet": "mobile",
    "feature phone": "mobile",
    "tablet": "tablet",
}
# Its bot categories and crawler-user-agents' tags -> the kinds counted in /metrics.
_BOT_KINDS = {
    "search bot": "search",
    "search-engine": "search",
    "security search bot": "search",
    "search tools": "search",
    "ai data scraper": "ai",
    "ai assistant": "ai",
    "ai search crawler": "ai",
    "ai agent": "ai",
    "ai-crawler": "ai",
    "site monitor": "monitor",
    "monitoring": "monitor",
    "social media agent": "preview",
    "social-preview": "preview",
    "feed fetcher": "feed",
    "feed reader": "feed",
    "feed parser": "feed",
    "feed-reader": "feed",
    "http-library": "library",
    "browser-automation": "automation",
    "security checker": "scanner",
    "scanner": "scanner",
}
BOT_KINDS = frozenset(_BOT_KINDS.values()) | {"crawler", "library", "empty"}


class ClientHints(NamedTuple):
    """The low-entropy User-Agent Client Hints, as sent (``""`` when absent)."""

    brands: str = ""  # Sec-CH-UA
    mobile: str = ""  # Sec-CH-UA-Mobile: ?1 or ?0
    platform: str = ""  # Sec-CH-UA-Platform

    def headers(self) -> dict[str, str]:
        named = (
            ("Sec-CH-UA", self.brands),
            ("Sec-CH-UA-Mobile", self.mobile),
            ("Sec-CH-UA-Platform", self.platform),
        )
        return {name: value for name, value in named if value}


NO_HINTS = ClientHints()


@dataclass(frozen=True, slots=True)
class Agent:
    browser: str
    browser_version: str
    os: str
    device: str  # desktop, mobile, tablet or other
    bot: str = ""  # the kind of bot ("search", "monitor", ...), "" for a person's browser

    @property
    def is_bot(self) -> bool:
        return bool(self.bot)


EMPTY = Agent("", "", "", "other", bot="empty")


def warm_up() -> None:
    """Load the rule lists, build their filters and compile the rules common browsers need now
    (about 1.5 s, before the process serves) rather than in the first requests."""
    for user_agent in _WARM_UP_AGENTS:
        _classify(user_agent, NO_HINTS)


def parse_agent(user_agent: str, hints: ClientHints = NO_HINTS) -> Agent:
    """Cached on the first 512 characters (and 256 of each hint): a huge header cannot grow it."""
    if hints is not NO_HINTS and max(map(len, hints)) > MAX_HINT_LENGTH:
        hints = ClientHints(*(value[:MAX_HINT_LENGTH] for value in hints))
    return _parse_agent(user_agent[:MAX_USER_AGENT_LENGTH], hints)


def cache_info() -> Any:
    return _parse_agent.cache_info()


@lru_cache(maxsize=CACHE_SIZE)
def _parse_agent(user_agent: str, hints: ClientHints) -> Agent:
    if not user_agent.strip():
        return EMPTY
    if not user_agent.isascii():  # browsers send ASCII; the rule filters work on ASCII only
        user_agent = user_agent.encode("ascii", "replace").decode("ascii")
    return _classify(user_agent, hints)


def _classify(user_agent: str, hints: ClientHints) -> Agent:
    detected = FastDeviceDetector(user_agent, headers=hints.headers() or None).parse()
    bot = _bot_kind(user_agent, detected)
    return Agent(
        browser=detected.client_name(),
        browser_version=_major(detected.client_version()),
        os=detected.os_name(),
        device=_device_type(user_agent, detected, hints),
        bot=bot,
    )


def _bot_kind(user_agent: str, detected: FastDeviceDetector) -> str:
    if detected.is_bot():
        category = str(detected.all_details["bot"].get("category") or "")
        return _BOT_KINDS.get(category.lower(), "crawler")
    if detected.client_type() == "library":
        return "library"
    tags = crawler_list().tags(user_agent)
    if tags is not None:
        return next((_BOT_KINDS[tag] for tag in tags if tag in _BOT_KINDS), "crawler")
    device = ua_parser.parse_device(user_agent)  # uap-core's spider rules, in their order
    return "crawler" if device is not None and device.family == "Spider" else ""


def _device_type(user_agent: str, detected: FastDeviceDetector, hints: ClientHints) -> str:
    if _is_e_reader(detected):
        return "other"
    found = str(detected.device_type())
    if found:
        return _DEVICE_TYPES.get(found, "other")
    system = detected.all_details.get("os", {}).get("family")
    if system == "Android":
        return _android_form(user_agent, hints)
    # Matomo's rule: a desktop system without a mobile-only browser is a desktop.
    mobile_browser = detected.uses_mobile_browser()
    if system in DESKTOP_OS and not mobile_browser:
        return "desktop"
    if hints.mobile == "?1" or mobile_browser:
        return "mobile"
    return "other"


def _android_form(user_agent: str, hints: ClientHints) -> str:
    """Named exception: Chrome's reduced User-Agent (``Android 10; K``) has no model, and Device
    Detector waits for ``Sec-CH-UA-Model``, a high-entropy hint we never ask for. Chrome keeps
    the ``Mobile`` token and sends ``Sec-CH-UA-Mobile: ?1`` on phones, and neither on tablets
    (Chrome's "User-Agent reduction" and "User-Agent Client Hints" documentation)."""
    if hints.mobile == "?1" or (hints.mobile != "?0" and " Mobile" in user_agent):
        return "mobile"
    return "tablet"


def _is_e_reader(detected: FastDeviceDetector) -> bool:
    """Named exception: Device Detector types Amazon's e-ink Kindles as tablets (its fixture
    ``tablet-1.yml``); Amazon sells them as e-readers and our taxonomy puts e-readers in
    ``other``. Kindle Fire tablets are named ``Kindle Fire...`` and stay tablets."""
    model = detected.device_model()
    return bool(
        detected.device_brand() == "Amazon"
        and model.startswith("Kindle")
        and not model.startswith("Kindle Fire")
    )


def _major(version: str) -> str:
    digits = version.split(".", 1)[0]
    return digits if digits.isdigit() else ""


# Current browsers of each common family: parsing them at start compiles the rules on their path
# (Device Detector compiles each expression on first use, up to 100 ms for a new family), so the
# first visitors do not wait for it.
_WARM_UP_AGENTS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/18.1 Safari/605.1.15",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (iPad; CPU OS 18_1 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Linux; Android 14; SM-X710) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Linux; Android 14; SAMSUNG SM-S921B) AppleWebKit/537.36 (KHTML, like Gecko) "
    "SamsungBrowser/27.0 Chrome/125.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Android 14; Mobile; rv:133.0) Gecko/133.0 Firefox/133.0",
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
)
