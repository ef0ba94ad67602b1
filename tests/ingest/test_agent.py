"""parse_agent: browser, major version, OS, device type and bot kind from a User-Agent and the
low-entropy client hints. The corpus of real strings is tested in test_agent_corpus.py."""

from __future__ import annotations

import pytest

from collector.ingest.agent import (
    BOT_KINDS,
    MAX_USER_AGENT_LENGTH,
    Agent,
    ClientHints,
    cache_info,
    parse_agent,
)
from tests.conftest import CHROME, IPHONE

FIREFOX = "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"
SAFARI = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.6 Safari/605.1.15"
)
EDGE = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.2903.86"
)
ANDROID_PHONE = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/131.0.6778.104 Mobile Safari/537.36"
)
IPAD = (
    "Mozilla/5.0 (iPad; CPU OS 17_6 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.6 Mobile/15E148 Safari/604.1"
)
ANDROID_TABLET = (
    "Mozilla/5.0 (Linux; Android 13; SM-X710) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/131.0.6778.104 Safari/537.36"
)
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
GOOGLEBOT_SMARTPHONE = (
    "Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/131.0.6778.69 Mobile Safari/537.36 "
    "(compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
)
BINGBOT = "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)"
HEADLESS = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 "
    "(KHTML, like Gecko) HeadlessChrome/131.0.0.0 Safari/537.36"
)
DATADOG_SYNTHETICS = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.6099.109 Safari/537.36 DatadogSynthetics"
)
CUBOT_PHONE = (
    "Mozilla/5.0 (Linux; Android 12; CUBOT P80) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/120.0.6099.230 Mobile Safari/537.36"
)
REDUCED_ANDROID = (  # the form Chrome's User-Agent reduction sends on phones and tablets alike
    "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
)
CHROME_BRANDS = '"Google Chrome";v="131", "Chromium";v="131", "Not_A Brand";v="24"'


@pytest.mark.parametrize(
    ("user_agent", "expected"),
    [
        pytest.param(CHROME, Agent("Chrome", "131", "Windows", "desktop"), id="chrome"),
        pytest.param(FIREFOX, Agent("Firefox", "133", "Ubuntu", "desktop"), id="firefox"),
        pytest.param(SAFARI, Agent("Safari", "17", "Mac", "desktop"), id="safari"),
        pytest.param(EDGE, Agent("Microsoft Edge", "131", "Windows", "desktop"), id="edge"),
        pytest.param(IPHONE, Agent("Mobile Safari", "17", "iOS", "mobile"), id="iphone"),
        pytest.param(
            ANDROID_PHONE,
            Agent("Chrome Mobile", "131", "Android", "mobile"),
            id="android-phone",
        ),
        pytest.param(IPAD, Agent("Mobile Safari", "17", "iPadOS", "tablet"), id="ipad"),
        pytest.param(
            ANDROID_TABLET, Agent("Chrome", "131", "Android", "tablet"), id="android-tablet"
        ),
    ],
)
def test_browsers(user_agent: str, expected: Agent) -> None:
    assert parse_agent(user_agent) == expected


@pytest.mark.parametrize(
    ("user_agent", "kind"),
    [
        pytest.param(GOOGLEBOT, "search", id="googlebot"),
        pytest.param(GOOGLEBOT_SMARTPHONE, "search", id="googlebot-smartphone"),
        pytest.param(BINGBOT, "search", id="bingbot"),
        pytest.param("curl/8.5.0", "library", id="curl"),
        pytest.param("python-requests/2.32.3", "library", id="python-requests"),
        pytest.param("Wget/1.21.4", "library", id="wget"),
        pytest.param(HEADLESS, "automation", id="headless-chrome"),
        pytest.param(DATADOG_SYNTHETICS, "monitor", id="datadog-synthetics"),
        pytest.param("", "empty", id="empty"),
        pytest.param("   ", "empty", id="blank"),
    ],
)
def test_bots_and_their_kind(user_agent: str, kind: str) -> None:
    agent = parse_agent(user_agent)
    assert agent.is_bot is True
    assert agent.bot == kind
    assert kind in BOT_KINDS


def test_a_phone_whose_model_contains_bot_is_a_visitor() -> None:
    agent = parse_agent(CUBOT_PHONE)
    assert agent.is_bot is False
    assert agent.device == "mobile"


@pytest.mark.parametrize(
    ("hints", "device"),
    [
        pytest.param(ClientHints(CHROME_BRANDS, "?1", '"Android"'), "mobile", id="phone"),
        pytest.param(ClientHints(CHROME_BRANDS, "?0", '"Android"'), "tablet", id="tablet"),
    ],
)
def test_client_hints_settle_chromes_reduced_user_agent(hints: ClientHints, device: str) -> None:
    """Chrome's reduced string names no model; Sec-CH-UA-Mobile says which form it is."""
    agent = parse_agent(REDUCED_ANDROID, hints)
    assert (agent.browser, agent.os, agent.device) == ("Chrome", "Android", device)


def test_a_user_agent_with_non_ascii_characters_is_read_without_them() -> None:
    """Browsers send ASCII; any other character is read as "?", so the rule filters still apply."""
    agent = parse_agent(CHROME + " (Ünïcödé; ☃)")
    assert agent == parse_agent(CHROME + " (?n?c?d?; ?)")
    assert (agent.browser, agent.os, agent.device) == ("Chrome", "Windows", "desktop")
    assert not agent.is_bot


def test_empty_user_agent_has_no_browser() -> None:
    assert parse_agent("") == Agent("", "", "", "other", bot="empty")


@pytest.mark.parametrize(
    ("user_agent", "version"),
    [
        pytest.param(CHROME, "131", id="chrome-131.0.0.0"),
        pytest.param(EDGE, "131", id="edge-131.0.2903.86"),
        pytest.param(ANDROID_PHONE, "131", id="chrome-mobile-131.0.6778.104"),
        pytest.param(FIREFOX, "133", id="firefox-133.0"),
        pytest.param(IPHONE, "17", id="safari-17.6"),
    ],
)
def test_browser_version_is_the_major_version_only(user_agent: str, version: str) -> None:
    agent = parse_agent(user_agent)
    assert agent.browser_version == version
    assert agent.browser_version.isdigit()


def test_a_very_long_user_agent_is_parsed_by_its_prefix() -> None:
    long_agent = CHROME + " " + "x" * (4 * MAX_USER_AGENT_LENGTH)
    agent = parse_agent(long_agent)
    assert agent.browser == "Chrome"
    assert agent.browser_version == "131"
    assert agent.is_bot is False


def test_results_are_cached() -> None:
    unique = FIREFOX.replace("133.0", "133.0 cache-test")
    before = cache_info()
    first = parse_agent(unique)
    middle = cache_info()
    assert middle.misses == before.misses + 1
    second = parse_agent(unique)
    third = parse_agent(unique)
    after = cache_info()
    assert after.hits == middle.hits + 2
    assert after.misses == middle.misses
    assert first is second is third


def test_the_cache_key_is_bounded_by_the_truncation() -> None:
    head = (FIREFOX.replace("133.0", "133.0 huge-test") + " " + "z" * 600)[:MAX_USER_AGENT_LENGTH]
    first = parse_agent(head + "x" * 1_000_000)
    before = cache_info()
    second = parse_agent(head + "y" * 2_000_000)  # differs only past the first 512 characters
    assert cache_info().hits == before.hits + 1
    assert first is second
