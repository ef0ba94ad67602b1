"""Path patterns: the pages a goal or a funnel step names.

A pattern is a path that starts with ``/``, where ``*`` stands for any characters but ``/`` (part
of one segment: ``/docs/*`` is ``/docs/intro`` but not ``/docs/a/b``) and ``**`` for any
characters at all (``/blog/**`` is every page under ``/blog/``); anything else matches itself.
A pattern matches a whole path, never a part of one. The queries match it as a regular
expression (RE2), made here.
"""

from __future__ import annotations

import re

from collector import AudienceError

MAX_PATTERN_CHARACTERS = 300


class PatternError(AudienceError, ValueError):
    """A pattern that cannot name pages; the message says why (a 400 answer)."""

    status = 400


def checked_pattern(text: str) -> str:
    """``text`` as a pattern, or PatternError naming what is wrong."""
    pattern = text.strip()
    if not pattern.startswith("/"):
        raise PatternError(f"a page pattern starts with '/': {pattern[:40]!r}")
    if len(pattern) > MAX_PATTERN_CHARACTERS:
        raise PatternError(f"a page pattern has at most {MAX_PATTERN_CHARACTERS} characters")
    if any(ch.isspace() or not ch.isprintable() for ch in pattern):
        raise PatternError("a page pattern holds no spaces or control characters")
    if "***" in pattern:
        raise PatternError("a page pattern uses '*' (one segment) or '**' (anything), not '***'")
    return pattern


def pattern_regex(pattern: str) -> str:
    """The RE2 expression matching the whole paths ``pattern`` names."""
    parts = []
    for piece in re.split(r"(\*\*|\*)", checked_pattern(pattern)):
        if piece == "**":
            parts.append(".*")
        elif piece == "*":
            parts.append("[^/]*")
        else:
            parts.append(re.escape(piece))
    return "^" + "".join(parts) + "$"
