"""Every CSV cell the product writes opens as text in a spreadsheet."""

from __future__ import annotations

import pytest

from collector.web.csvcells import safe_cell


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        ("/pricing", "/pricing"),
        ('=HYPERLINK("x")', '\'=HYPERLINK("x")'),
        ("+33 1", "'+33 1"),
        ("-1", "'-1"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tcmd", "'\tcmd"),
        ("\rcmd", "'\rcmd"),
        ("a=b", "a=b"),
        (42, "42"),
        (None, ""),
        ("", ""),
    ],
)
def test_formulas_are_quoted_and_the_rest_is_kept(value: object, cell: str) -> None:
    assert safe_cell(value) == cell
