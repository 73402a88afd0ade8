"""report.styled: how the book prints a table's numbers, missing values and long text."""
from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from handlib import papers, report


def cells(styler) -> list[str]:
    return re.findall(r"<td[^>]*>([^<]*)</td>", styler.to_html())


@pytest.mark.parametrize("value, shown", [
    (0.0233333, "0.0233"),      # measured: three significant digits, no padding
    (0.00666667, "0.00667"),
    (-0.0416667, "-0.0417"),
    (12.3456, "12.3"),
    (1234.567, "1235"),         # never rounds left of the decimal point
    (0.939, "0.939"),           # transcribed values keep every printed digit
    (0.9921, "0.9921"),
    (139.55, "139.55"),
    (0.5, "0.5"),
    (8.0, "8"),                 # whole numbers as integers
    (25_557_032.0, "25557032"),
    (1.234567e-7, "1.23e-07"),
    (np.nan, "–"),              # missing: an en dash, never NaN
])
def test_numbers_are_rounded_for_reading(value, shown):
    assert cells(report.styled(pd.DataFrame({"v": [value]}))) == [shown]


def test_missing_values_print_as_a_dash_in_every_column():
    frame = pd.DataFrame({"OHKM m": [np.nan, 8.0], "run": [None, "ours"],
                          "mixed": [np.nan, 0.0233333]}, dtype=object)
    frame["OHKM m"] = frame["OHKM m"].astype(float)
    shown = cells(report.styled(frame))
    assert shown == ["–", "–", "–", "8", "ours", "0.0233"]
    assert not re.search(r">\s*(nan|NaN|None)\s*<", report.styled(frame).to_html())


def test_paper_tables_print_as_transcribed():
    table = papers.table("rcsf", "1")
    numeric = table.select_dtypes("number").to_numpy().ravel()
    printed = [float(c) for c in cells(report.styled(table)) if re.fullmatch(r"-?[\d.]+", c)]
    assert sorted(printed) == sorted(v for v in numeric if not np.isnan(v))


def test_long_text_columns_wrap_and_short_ones_do_not():
    frame = pd.DataFrame({"claim": ["a sentence long enough to need wrapping in a table " * 2],
                          "verdict": ["holds"], "value": [0.5]})
    html = report.styled(frame).to_html()
    assert re.search(r"td\.col0 \{[^}]*white-space: normal", html)
    assert not re.search(r"td\.col[12] \{", html)


def test_caption_defaults_to_the_source_and_caption():
    frame = pd.DataFrame({"v": [1.0]})
    frame.attrs = {"source": "Table 3", "caption": "PCK on two datasets"}
    assert "<caption>Table 3. PCK on two datasets</caption>" in report.styled(frame).to_html()
    assert "<caption>Mine</caption>" in report.styled(frame, "Mine").to_html()


def test_a_column_with_one_value_in_every_row_moves_to_the_caption():
    frame = pd.DataFrame({"paper": [0.9, 0.8], "reproduced": [0.1, 0.2],
                          "run": ["synthetic stand-in (24 test images, smoke profile)"] * 2})
    frame.attrs = {"source": "Table 1", "caption": "Per-joint PCK"}
    html = report.styled(frame).to_html()
    assert "<caption>Table 1. Per-joint PCK (run: synthetic stand-in (24 test images, smoke profile))" in html
    assert cells(report.styled(frame)) == ["0.9", "0.1", "0.8", "0.2"]
    mixed = frame.assign(run=["a long run label that repeats in these rows, many rows", "not run"])
    assert "not run" in cells(report.styled(mixed))


def test_repeated_long_labels_stay_on_one_line():
    label = "synthetic stand-in (24 test images at 64², smoke profile) (smoke run)"
    frame = pd.DataFrame({"value": [1.5, 2.5, 3.5, 4.5], "run": [label, label, label, "not run"]})
    assert not re.search(r"td\.col1 \{", report.styled(frame).to_html())


def test_the_scoreboard_has_a_row_per_paper_in_two_narrow_tables():
    """The scoreboard reads down the papers (one row each, its chapter linked), split into two
    tables of few columns so that each fits a 1280 px window (tests/test_book_browser.py)."""
    from handlib import scoreboard

    board = scoreboard.scoreboard("smoke")
    assert list(board.index) == [f'<a href="{papers.book(p)["notebook"]}.html">'
                                 f'{papers.book(p)["name"]}</a>' for p in papers.PAPERS]
    for columns in (scoreboard.SUMMARY_COLUMNS, scoreboard.EVIDENCE_COLUMNS):
        html = scoreboard.shown(board, columns).to_html()
        assert 'class="scoreboard"' in html
        assert len(columns) <= 9, f"{columns}: too many columns for a laptop's window"
    assert set(scoreboard.SUMMARY_COLUMNS) | set(scoreboard.EVIDENCE_COLUMNS) <= set(board.columns)
