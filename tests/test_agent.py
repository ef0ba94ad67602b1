"""parse_agent: browser, major version, OS, device type and bot detection from a User-Agent."""

from __future__ import annotations

import pytest

from collector.agent import MAX_USER_AGENT_LENGTH, Agent, cache_info, parse_agent
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


@pytest.mark.parametrize(
    ("user_agent", "expected"),
    [
        pytest.param(CHROME, Agent("Chrome", "131", "Windows", "desktop", False), id="chrome"),
        pytest.param(FIREFOX, Agent("Firefox", "133", "Ubuntu", "desktop", False), id="firefox"),
        pytest.param(SAFARI, Agent("Safari", "17", "Mac OS X", "desktop", False), id="safari"),
        pytest.param(EDGE, Agent("Edge", "131", "Windows", "desktop", False), id="edge"),
        pytest.param(IPHONE, Agent("Mobile Safari", "17", "iOS", "mobile", False), id="iphone"),
        pytest.param(
            ANDROID_PHONE,
            Agent("Chrome Mobile", "131", "Android", "mobile", False),
            id="android-phone",
        ),
        pytest.param(IPAD, Agent("Mobile Safari", "17", "iOS", "tablet", False), id="ipad"),
        pytest.param(
            ANDROID_TABLET, Agent("Chrome", "131", "Android", "tablet", False), id="android-tablet"
        ),
    ],
)
def test_browsers(user_agent: str, expected: Agent) -> None:
    assert parse_agent(user_agent) == expected


@pytest.mark.parametrize(
    "user_agent",
    [
        pytest.param(GOOGLEBOT, id="googlebot"),
        pytest.param(GOOGLEBOT_SMARTPHONE, id="googlebot-smartphone"),
        pytest.param(BINGBOT, id="bingbot"),
        pytest.param("curl/8.5.0", id="curl"),
        pytest.param("python-requests/2.32.3", id="python-requests"),
        pytest.param("Wget/1.21.4", id="wget"),
        pytest.param(HEADLESS, id="headless-chrome"),
        pytest.param("", id="empty"),
        pytest.param("   ", id="blank"),
    ],
)
def test_bots(user_agent: str) -> None:
    assert parse_agent(user_agent).is_bot is True


def test_empty_user_agent_has_no_browser() -> None:
    assert parse_agent("") == Agent("", "", "", "other", is_bot=True)


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
