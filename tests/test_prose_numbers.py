"""No numbers typed into prose: every digit a reader sees in a chapter's Markdown is produced by code
(a glued value, a table, a figure), or is one of the few things that are truly prose: a reference to
a numbered part of a paper ("Table 3", "Eq. (2)", "Sec. 4.1"), a name ("ResNet-34",
"InterHand2.6M", "H100"), "2D"/"3D", a citation year, a list marker, a heading's number.

The scanner blanks out what is not prose (code spans and roles such as {glue:text}`x:.2f`, fenced
code, URLs, link targets, HTML comments, the option lines of a directive), then the allow-list
below, then reports every digit left, with its context, as `file:cell-index:"...context..."`.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))
BOOK_PAGES = sorted((REPO / "book").glob("*.md"))

# Not prose at all: removed before the allow-list is applied.
NOT_PROSE = [
    re.compile(r"^(```|~~~)(?!\{)[^\n]*\n.*?^\1[ \t]*$", re.M | re.S),  # fenced code (not a directive)
    re.compile(r"^(```|~~~)\{[^\n]*$", re.M),  # a directive's opening line: its name and argument
    re.compile(r"^:[\w-]+:[^\n]*$", re.M),  # a directive's option lines (":width: 80%")
    re.compile(r"(`+).*?\1", re.S),  # code spans, and roles' targets: {glue:text}`x:.2f`, {cite}`k2019`
    re.compile(r"<!--.*?-->", re.S),  # HTML comments
    re.compile(r"\]\([^)]*\)"),  # a link's target
    re.compile(r"<?https?://[^\s>)]+>?"),  # bare URLs
]

# Math ($...$ and $$...$$) is scanned too, but its structural digits are allowed: the subscripts
# and superscripts of symbols ("t_0", "\rVert_2", "\sum_{k=1}") and a formula's own constant 1/x.
MATH = re.compile(r"\$\$.*?\$\$|\$[^$\n]+\$", re.S)
MATH_STRUCTURE = re.compile(r"[_^](?:\d|\{[^{}]*\})|\\t?frac\{1\}")

_REF = r"\(?(?:\d+(?:\.\d+)*|[IVX]+\b)\)?(?:\([a-z]\))?"  # 3, 4.1, (2), IV, 3(b)
ALLOWED = [
    # A reference to a numbered part of a paper or of this book, single, listed or a range:
    # "Table 3", "Tables 1-3", "Figs. 2, 3 and 6", "Eq. (2)", "eqs. 4-5", "Sec. 4.1", "§3.2",
    # "Algorithm 1", "Fig. 3(b)", and this book's numbered claims, "claim 1".
    re.compile(
        r"(?:\b(?:Tables?|Fig(?:ure)?s?\.?|[Ee]qs?\.|[Ee]quations?|Sec(?:tion)?s?\.?|Algorithms?"
        r"|Appendix|[Cc]laims?)|§)\s*" + _REF + r"(?:\s*(?:,|-|–|and|&|to)\s*" + _REF + r")*"
    ),
    # Dimensionality is a word, not a measurement: "2D", "3D", "2.5D".
    re.compile(r"\b[23](?:\.5)?D\b"),
    # Names that contain digits: backbones, baselines, a dataset, a metric's name as the papers
    # write it, number formats, accelerators.
    re.compile(
        r"\bResNet-\d+|\bCPN-?\d+(?:/\d+)*|\bHRNet-W\d+(?:/W\d+)*|\bMobileNetV\d\b|\bInterHand2\.6M\b"
        r"|\bHANDS2017\b|\bPCK@\d+(?:\.\d+)?|\b(?:fp|bf|float)(?:16|32|64)\b|\b[AH]\d00\b"
        r"|\b(?:RTX|GTX) \d{3,4}(?: Ti)?"
    ),
    # A citation's year: "Xiao et al. (2018)".
    re.compile(r"\bet al\.,? \(?(?:19|20)\d\d\)?"),
    # A paper's symbols for feature maps: ResNet's stages "C2-C5", an encoder's levels "F1-F4".
    re.compile(r"\b[CF][1-9]\b"),
    # Kernel sizes name a layer type: "1×1 convolution", "3×3/2 convolution", "1×1 laterals".
    re.compile(
        r"\b([1-9])×\1(?:/2)?(?= (?:conv|depthwise|pointwise|transposed|lateral|merge|expansion"
        r"|projection|kernel))"
    ),
    # The unit interval and its signed twin, the range of a normalised quantity: "[0, 1]", "[-1, 1]".
    re.compile(r"\[[-−]?[01], 1\]"),
    # An inline enumeration: "two choices: (1) the heat map alone; (2) ...".
    re.compile(r"(?<![^\s:;,])\([1-9]\)(?= [a-zA-Z])"),
    # Markdown's ordered-list markers and a heading's own number: "1. ", "## 2.1 Data".
    re.compile(r"^[ \t]*\d+\.(?= )|^#{1,6} \d+(?:\.\d+)*\.?(?= )", re.M),
]

# A paragraph that starts "Worked example:" narrates the hand-made inputs of an illustration whose
# answers the code cell under it computes (the chapters' equivalent of a unit test).
WORKED_EXAMPLE = re.compile(r"(?:^|\n\n)Worked example:.*?(?=\n\n|\Z)", re.S)

NUMBER = re.compile(r"\d+(?:[.,]\d+)*")


def _blank(text: str, pattern: re.Pattern) -> str:
    """Replace each match with spaces of the same length, so later offsets still hold."""
    return pattern.sub(lambda m: re.sub(r"[^\n]", " ", m.group(0)), text)


def typed_numbers(text: str, context: int = 30) -> list[str]:
    """The numbers in `text` that are not allowed prose, each with `context` characters around it."""
    scanned = text
    for pattern in (WORKED_EXAMPLE, *NOT_PROSE):
        scanned = _blank(scanned, pattern)
    scanned = MATH.sub(lambda m: _blank(m.group(0), MATH_STRUCTURE), scanned)
    for pattern in ALLOWED:
        scanned = _blank(scanned, pattern)
    found = []
    for m in NUMBER.finditer(scanned):
        before = text[max(0, m.start() - context):m.start()]
        after = text[m.end():m.end() + context]
        found.append(" ".join(f"...{before}[{m.group(0)}]{after}...".split()))
    return found


def markdown_cells(path: Path) -> list[tuple[str, str]]:
    """(location, text) of each Markdown cell of a notebook, or the whole text of a .md page."""
    if path.suffix == ".md":
        return [(path.name, path.read_text())]
    cells = json.loads(path.read_text())["cells"]
    return [
        (f"{path.name}:{i}", "".join(c["source"]) if isinstance(c["source"], list) else c["source"])
        for i, c in enumerate(cells)
        if c["cell_type"] == "markdown"
    ]


def test_the_scanner_flags_a_typed_count_and_allows_references_and_code():
    assert typed_numbers("trained for 64 optimiser steps") == ["...trained for [64] optimiser steps..."]
    assert typed_numbers("as in Table 3 and Eq. (2), with `code 64`") == []
    assert typed_numbers("Tables 1-3, Figs. 2, 3 and 6, eqs. 4-5, Sec. 4.1, §3.2, Fig. 3(b)") == []
    assert typed_numbers("a ResNet-34 in 2D and 3D on InterHand2.6M, fp32 on an H100") == []
    assert typed_numbers("took {glue:text}`train_s:.0f` s, see [the run](https://x.org/a1/2)") == []
    assert typed_numbers("PCK over 20-50 mm") == ["...PCK over [20]-50 mm...", "...PCK over 20-[50] mm..."]


def test_the_scanner_allows_math_symbols_but_not_numbers_in_math():
    assert typed_numbers(r"$$ \frac{1}{N} \sum_{k=1}^{N} \lVert x_k \rVert_2 $$ over $t_0$") == []
    assert typed_numbers(r"at $\sigma = 0.02$ the") == [r"...at $\sigma = [0.02]$ the..."]


def test_the_scanner_allows_a_worked_example_paragraph_only():
    text = "Worked example: errors of 1 and 9 mm.\n\nThe model trains 64 steps."
    assert typed_numbers(text, context=7) == ["...trains [64] steps...."]


@pytest.mark.parametrize("path", NOTEBOOKS + BOOK_PAGES, ids=lambda p: p.name)
def test_no_numbers_typed_into_prose(path):
    offending = [
        f'{where}:"{snippet}"' for where, text in markdown_cells(path) for snippet in typed_numbers(text)
    ]
    assert not offending, (
        f"{path.name}: numbers typed into Markdown prose; compute each from the configuration, the "
        "results or paper.yaml and glue it, or rephrase:\n" + "\n".join(offending)
    )
