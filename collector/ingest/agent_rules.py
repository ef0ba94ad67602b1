"""The maintained rule lists, run fast: Matomo's Device Detector and crawler-user-agents.

Device Detector (the ``device-detector`` port of Matomo's rules, the ones Plausible uses) tries
thousands of regular expressions in order and keeps the first that matches: 8 to 15 ms for one
new User-Agent. Here each ordered list is also compiled into one RE2 filter (``FilteredRE2``):
the literal fragments each expression needs are found in the string at once, then only the
expressions whose fragments are all there are run, in RE2, to say which of them match; the
library then tries only those, in their order, so the first match and every result are the
library's own (``tests/ingest/test_agent_rules.py`` compares both on the corpus and on generated
strings). An RE2 set of the whole list, tried first, built its automaton state by state for every
new string: up to 13 ms for one string at the 99th percentile.

An expression RE2 cannot compile is put in the filter without its lookarounds, which only widens
what it matches, or else is tried every time. A string that is not ASCII, or that comes with a
``Sec-CH-UA-Model`` hint (which the library matches against every brand), skips the filter.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import Any

import crawleruseragents
import re2
from device_detector import DeviceDetector
from device_detector.parser import OS, Bot

Rule = dict[str, Any]
_LOOKAROUNDS = ("(?=", "(?!", "(?<=", "(?<!")


def _options(case_sensitive: bool) -> Any:
    options = re2.Options()
    options.case_sensitive = case_sensitive
    options.log_errors = False
    return options


def without_lookarounds(pattern: str) -> str:
    """The pattern with every lookaround group removed: it matches at least what it did."""
    kept: list[str] = []
    index, end = 0, len(pattern)
    while index < end:
        if pattern.startswith(_LOOKAROUNDS, index):
            index = _group_end(pattern, index)
            continue
        token_end = _token_end(pattern, index)
        kept.append(pattern[index:token_end])
        index = token_end
    return "".join(kept)


def _token_end(pattern: str, index: int) -> int:
    """End of the escape, character class or single character starting at index."""
    if pattern[index] == "\\":
        return index + 2
    if pattern[index] != "[":
        return index + 1
    index += 1
    if index < len(pattern) and pattern[index] == "^":
        index += 1
    if index < len(pattern) and pattern[index] == "]":
        index += 1
    while index < len(pattern) and pattern[index] != "]":
        index += 2 if pattern[index] == "\\" else 1
    return index + 1


def _group_end(pattern: str, index: int) -> int:
    depth = 0
    while index < len(pattern):
        if pattern[index] == "(":
            depth += 1
        elif pattern[index] == ")":
            depth -= 1
            if depth == 0:
                return index + 1
        index = _token_end(pattern, index) if pattern[index] in "\\[" else index + 1
    return index


class OrderedRuleFilter:
    """Which rules of an ordered list can match a string, in their order."""

    def __init__(self, rules: Sequence[Rule]) -> None:
        self.rules = rules
        self._filter = re2.Filter()
        self._position: list[int] = []  # the filter's k-th expression is rules[_position[k]]
        self._always: list[int] = []
        options = _options(case_sensitive=False)
        for position, rule in enumerate(rules):
            pattern = _pattern_of(rule)
            if pattern is not None and self._add_widest_compilable(pattern, options):
                self._position.append(position)
            else:
                self._always.append(position)
        if self._position:
            self._filter.Compile()

    def _add_widest_compilable(self, pattern: str, options: Any) -> bool:
        """Add the pattern, or else the pattern without its lookarounds; False if neither."""
        try:
            self._filter.Add(pattern, options)
        except re2.error:
            try:
                self._filter.Add(without_lookarounds(pattern), options)
            except re2.error:
                return False
        return True

    def candidates(self, text: str) -> Sequence[Rule]:
        if not text.isascii():
            return self.rules
        matched = self._filter.Match(text) if self._position else None
        positions = [self._position[k] for k in matched or ()] + self._always
        positions.sort()
        return [self.rules[position] for position in positions]


def _pattern_of(rule: Rule) -> str | None:
    lazy = rule.get("regex")
    if lazy is None:
        return None
    pattern = object.__getattribute__(lazy, "pattern")  # the library compiles on first use
    return pattern if isinstance(pattern, str) else None


_filters: dict[int, OrderedRuleFilter] = {}


def _filter_for(rules: Sequence[Rule]) -> OrderedRuleFilter:
    """One filter per rule list; the library keeps its lists for the life of the process."""
    found = _filters.get(id(rules))
    if found is None or found.rules is not rules:
        found = _filters[id(rules)] = OrderedRuleFilter(rules)
    return found


def filter_count() -> int:
    return len(_filters)


@cache
def _filtered(parser: Any) -> type:
    """The parser class, trying only the rules its string can match."""

    def regex_list(self: Any) -> Sequence[Rule]:
        rules: Sequence[Rule] = parser.regex_list.fget(self)  # the library's list
        hints = self.client_hints
        if hints is not None and hints.model:
            return rules
        return _filter_for(rules).candidates(self.user_agent)

    def extract_model(self: Any) -> None:
        models = self.ua_data.get("models")
        if models:
            self.ua_data["models"] = _filter_for(models).candidates(self.user_agent)
        parser.extract_model(self)

    namespace: dict[str, Any] = {"__slots__": (), "regex_list": property(regex_list)}
    if hasattr(parser, "extract_model"):
        namespace["extract_model"] = extract_model
    return type(parser.__name__, (parser,), namespace)


class _OSWithoutPlatform(OS):  # type: ignore[misc]
    """The OS parser without the CPU architecture, which we never read: its seven expressions,
    each behind a slow bounded prefix, were half the cost of the OS."""

    __slots__ = ()

    def platform(self) -> str:
        return ""


# The library finds a parser's extra prefilter words by its class name (ahocorasick/classes/
# OS.yml): under another name, "iPhone" alone no longer let the OS rules run at all.
_OSWithoutPlatform.__name__ = OS.__name__


class FastDeviceDetector(DeviceDetector):  # type: ignore[misc]
    """DeviceDetector with the same results, each parser trying only its candidate rules."""

    bot: Any  # the library's slots, set by the parse below
    os: Any
    CLIENT_PARSERS = tuple(_filtered(parser) for parser in DeviceDetector.CLIENT_PARSERS)
    DEVICE_PARSERS = tuple(_filtered(parser) for parser in DeviceDetector.DEVICE_PARSERS)

    def __new__(cls, *args: Any, **kwargs: Any) -> FastDeviceDetector:
        return object.__new__(cls)  # the library's own cache would hand back a DeviceDetector

    def __init__(self, user_agent: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(user_agent, headers=headers, check_cache=False)

    def is_worthless(self) -> bool:
        """The library's test without its normalising rewrites, whose text we never read."""
        if self.headers:
            return False
        return bool(self.is_digit() or self.is_uuid() or self.is_gibberish())

    def parse_bot(self) -> None:
        if not self.bot and (bot := _filtered(Bot)(self.user_agent, self.client_hints).parse()):
            self.bot = bot
            self.all_details["bot"] = bot.ua_data

    def parse_os(self) -> None:
        if self.os:
            return
        if found := _filtered(_OSWithoutPlatform)(self.user_agent, self.client_hints).parse():
            self.os = found
            self.all_details["os"] = found.ua_data


class CrawlerList:
    """crawler-user-agents' patterns (case-sensitive, as the list defines them) as one RE2
    filter."""

    def __init__(self) -> None:
        entries = crawleruseragents.CRAWLER_USER_AGENTS_DATA
        self._filter = re2.Filter()
        self._tags: list[tuple[str, ...]] = []
        options = _options(case_sensitive=True)
        for entry in entries:
            self._filter.Add(entry["pattern"], options)
            self._tags.append(tuple(entry.get("tags", ())))
        self._filter.Compile()
        self.size = len(entries)

    def tags(self, user_agent: str) -> tuple[str, ...] | None:
        """The tags of the first listed pattern the string matches, None when none matches."""
        matched = self._filter.Match(user_agent)
        return self._tags[min(matched)] if matched else None


@cache
def crawler_list() -> CrawlerList:
    return CrawlerList()
