"""CSV cells a spreadsheet opens as text: the one rule for every CSV the product writes.

A cell beginning with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return would be read as a
formula; page paths and labels are the sites' own text, so such a cell gets a leading quote.
"""

from __future__ import annotations

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: object) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text
