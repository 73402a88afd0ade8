"""Paper-versus-reproduced tables and claim verdicts: how every chapter reports its results.

Two rules of the book's design (``book/design.md``, "Results and the book") live here:

1. Every paper table is shown as *paper value | reproduced value | which run*.
   :func:`paper_vs_reproduced` lines a transcribed table (:func:`handlib.papers.table`) up with a
   reproduced DataFrame of the same row and column names. A row the book did not reproduce shows
   NaN and the run ``"not run"``; nothing is filled in or interpolated.
2. Every claim a paper makes ("X beats Y at PCK@0.02") gets a verdict, ``holds``, ``does not
   hold`` or ``inconclusive``, with the numbers and the data it was tested on.

The verdict rule (:func:`claim_verdict`). Let ``d`` be the reproduced subject value minus the
strongest reproduced reference value, signed so that ``d > 0`` means the subject is better
(``claim["better"]`` says whether higher or lower is better). With the noise level
``noise = max(margin, seeds_std)``:

- ``inconclusive`` if the run is a smoke run (its numbers prove only that the code runs), if a
  needed value was not reproduced, or if ``|d| <= noise`` (the difference is within the margin
  or within one seed-to-seed standard deviation of the metric);
- ``inconclusive`` also when ``floor`` is given and any compared value is not better than it
  by more than that value's own interval (``floor_margins``: label -> interval, e.g. twice the
  standard error of the model's score against the floor's and its seed spread; 0 when not
  given): a model that has not learnt beyond a prediction that ignores the input cannot be
  ordered against another, however small the test-set noise of their difference. ``floor`` is
  one number for every label, or a mapping label -> number when the labels are two scores of
  one model (a *contrast*: fingertips against palm joints), whose floor is the same two scores
  of the constant prediction; a contrast's reason then says the floor's own order, which a
  model that learnt nothing would inherit;
- ``inconclusive`` when ``needs_seeds`` (a model-against-model comparison) and no seed-to-seed
  spread is known ("one seed"): a difference between two single runs may be the seed's;
- ``holds`` if ``d > noise``; ``does not hold`` if ``d < -noise``.

``margin`` defaults to :data:`DEFAULT_RELATIVE_MARGIN` times the size of the reference value, a
difference too small to call on one run. ``seeds_std`` is the standard deviation of the metric
across seeds; when the reproduced values are lists (one value per seed) it is computed from them
(the larger of the subject's and the reference's sample standard deviations) and the means are
compared. :func:`paired_bootstrap_margin` gives a claim's ``margin`` from the test set itself:
twice the standard error of the score difference of two models scored on the same test samples.
A claim about the subject's own value (``reference: null``, "reaches 0.999") compares
the reproduced value with the paper's: it holds unless it is worse by more than the noise.

A claim of equivalence (``better: similar``, with ``tolerance`` a fraction of the reference's
value, on an error metric) is inconclusive unless the paper itself gives the tolerance
(``tolerance_from``, ``handlib.papers.check_tolerance``): one the book chose with the paper's
gap in view can only confirm it. With the paper's tolerance it holds when ``|d| + noise <= tolerance`` (the two are close even at the
far edge of the noise), does not hold when ``|d| - noise > tolerance``, and is inconclusive in
between; ``d`` is then the plain difference, subject minus reference.

Length: the paper-versus-reproduced tables, the verdict rule with the words that describe it
(:func:`rules_of_evidence`) and the verdict files are one module: the rule, its description and
the tables that show it change together.
"""
from __future__ import annotations

import datetime
import inspect
import math
import numbers
import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from handlib import papers, results
from handlib.metrics import record_rows

VERDICTS: tuple[str, ...] = ("holds", "does not hold", "inconclusive")
DEFAULT_RELATIVE_MARGIN = 0.01
NOT_RUN = "not run"
SMOKE_PROFILE = "smoke"
#: Bootstrap resamples of the test set behind a claim's noise margin.
BOOTSTRAP_SAMPLES = 200


def paired_bootstrap_margin(score, subject: Mapping, reference: Mapping, *,
                            samples: int = BOOTSTRAP_SAMPLES, seed: int = 0,
                            reference_score=None) -> float:
    """Twice the standard error of ``score(subject) - score(reference)`` from a paired bootstrap
    over the test samples: both prediction records (``handlib.engine.predict``) cover the same
    samples in the same order, and each resample draws the same rows from both.
    ``reference_score`` (default ``score``) scores the reference: two scores of one record
    (e.g. a model's error on fingertips and on palm joints) are compared with ``subject`` and
    ``reference`` the same record."""
    reference_score = score if reference_score is None else reference_score

    count = len(subject["index"])
    if len(reference["index"]) != count or not np.array_equal(subject["index"],
                                                                reference["index"]):
        raise ValueError("a paired bootstrap needs both records on the same test samples")
    rng = np.random.default_rng(seed)
    differences = []
    for _ in range(samples):
        rows = rng.integers(0, count, count)
        differences.append(score(record_rows(subject, rows))
                           - reference_score(record_rows(reference, rows)))
    return 2.0 * float(np.std(differences, ddof=1))


def rules_of_evidence() -> str:
    """The verdict rule of every chapter (:func:`claim_verdict`, ``handlib.claims``), in words
    for a chapter page: one text, so that no chapter describes the rule differently from the
    code that applies it."""
    return (
        "**How a claim is judged.** Each claim is tested on the data named in its row, comparing "
        "like with like: every compared model contributes one value per training seed, over the "
        "seeds they share. The *noise* of a difference is the larger of twice its standard error "
        f"from a paired bootstrap over the test images ({BOOTSTRAP_SAMPLES} resamples) and the "
        "seed-to-seed standard deviation of the compared models (a model trained on one seed "
        "borrows that of the chapter's main comparison). A claim *holds* when the reproduced "
        "difference exceeds the noise in the claimed direction and *does not hold* when it is "
        "reversed by more than the noise. It is *inconclusive* otherwise, and also:\n\n"
        "- when any compared model is not better than its *floor*, a prediction that ignores the "
        "input (the constant mean pose, the box centre, or a PCK below which models miss nearly "
        "every joint), by more than its own interval: a model that has not learnt cannot be "
        "ordered against another;\n"
        "- when two scores of one model are compared (fingertips against palm joints), unless "
        "each is better than the floor's same score by more than its interval: the floor shows "
        "the same order without any model, and the reason gives the floor's own difference;\n"
        "- with one seed per model and none to borrow (*one seed*): a difference between two "
        "single runs may be the seed's;\n"
        "- for a threshold finer than the models' output resolves (*below resolution*), for a "
        "speed measured on other hardware than the paper's, for smoke runs, and for claims that "
        "cannot be tested here.")


def describe_run(run: str, profile: str | None = None) -> str:
    """How a run is named in tables: ``"run (profile)"``; smoke runs say so."""
    if profile is None:
        return run
    if profile == SMOKE_PROFILE:
        return f"{run} (smoke run: proves the code runs, numbers mean nothing)"
    return f"{run} ({profile})"


def paper_vs_reproduced(paper_table: pd.DataFrame, reproduced: pd.DataFrame,
                        run_label: str | Mapping | pd.Series, profile: str | None = None,
                        columns: Sequence | None = None) -> pd.DataFrame:
    """The *paper | reproduced | run* table.

    ``paper_table`` comes from :func:`handlib.papers.table`; ``reproduced`` has rows and columns
    named as in the paper (a subset, and possibly extra rows the paper does not have). The
    paper's text columns come first, as ``(column, "paper")``: what each row's numbers were
    measured under (MS-FF's and InterNet+'s GT S / GT H protocols, CrossInfoNet's 2D or 3D
    input), with ``(column, "reproduced")`` beside when ``reproduced`` says how its own row was
    measured (e.g. "N (true root depth)"). Then, for each numeric column (or those in
    ``columns``), ``(column, "paper")`` and ``(column, "reproduced")``, and one ``("run", "")``
    column naming the run (one label for all rows, or a mapping row -> label) or ``"not run"``
    for rows without reproduced values. Rows are the paper's rows in the paper's order, then
    extra reproduced rows.
    """
    numeric = list(paper_table.select_dtypes("number").columns)
    if columns is None:
        columns = numeric
    described = [c for c in paper_table.columns if c not in numeric and c not in columns]
    unknown = [c for c in reproduced.columns if c not in paper_table.columns]
    if unknown:
        raise ValueError(f"reproduced columns {unknown} are not in {paper_table.attrs.get('source', 'the paper table')}; "
                         f"its columns are {list(paper_table.columns)}")
    extra_rows = [r for r in reproduced.index if r not in paper_table.index]
    index = paper_table.index.append(pd.Index(extra_rows)) if extra_rows else paper_table.index
    paper = paper_table.reindex(index)
    ours = reproduced.reindex(index=index)
    out = pd.DataFrame(index=index)
    for column in described:
        out[(column, "paper")] = paper[column]
        if column in ours.columns:
            out[(column, "reproduced")] = ours[column]
    for column in columns:
        out[(column, "paper")] = pd.to_numeric(paper[column], errors="coerce")
        values = ours[column] if column in ours.columns else pd.Series(np.nan, index=index)
        out[(column, "reproduced")] = pd.to_numeric(values, errors="coerce")
    measured = ours[[c for c in ours.columns if c not in described]]
    was_run = (measured.notna().any(axis=1) if len(measured.columns)
               else pd.Series(False, index=index))
    if isinstance(run_label, (Mapping, pd.Series)):
        labels = [describe_run(str(run_label[r]), profile) if r in run_label and was_run[r]
                  else NOT_RUN for r in index]
    else:
        labels = [describe_run(run_label, profile) if was_run[r] else NOT_RUN for r in index]
    out[("run", "")] = labels
    out.columns = pd.MultiIndex.from_tuples(out.columns)
    out.index.names = paper_table.index.names
    out.attrs = {**paper_table.attrs, "profile": profile}
    return out


def docstring_markdown(obj) -> str:
    """``obj``'s docstring (a module's: the equations it implements and the choices recorded where
    the paper is silent) as Markdown for a chapter page: Sphinx's inline markup (````code````,
    ``:func:`name```) becomes Markdown code, so the page shows the source's own words and
    cannot drift from them."""
    text = inspect.getdoc(obj) or ""
    text = re.sub(r":[a-z]+:`~?([^`]+)`", r"`\1`", text)
    return re.sub(r"``([^`]+)``", r"`\1`", text)


def styled(frame: pd.DataFrame, title: str | None = None):
    """A table for the book: numbers rounded for reading, NaN and None as an en dash, long text
    columns wrapped, and a caption (default: "<source>. <caption>" from ``frame.attrs``).

    Numbers: whole numbers print as integers (``8``, not ``8.0``); a value with at most five
    significant digits prints as it is (a transcribed ``0.9921`` or ``139.55`` keeps every digit
    the paper printed, a measured ``0.5`` stays ``0.5``); any other value is rounded to three
    significant digits without padding (``0.0233333`` -> ``0.0233``, ``0.00666667`` ->
    ``0.00667``, ``12.3456`` -> ``12.3``), never in exponent form between 1e-4 and 1e15 and
    never rounding digits left of the decimal point (``1234.567`` -> ``1235``). Numbers inside
    text columns (a column that mixes numbers and words) follow the same rule.

    Text: the book's CSS keeps table cells on one line, so rows stay one line tall. A text
    column of sentences (entries past 40 characters, mostly different from row to row) wraps
    within a column 16-32 em wide instead. A text column that holds the same long value (past 40
    characters) in every row, such as a table's one run label, is said once, in the caption
    ("run: ..."), not in every row.
    """
    dash = "\u2013"

    def number(value) -> str:
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return dash
        value = float(value)
        if math.isnan(value):
            return dash
        if math.isinf(value):
            return "\u221e" if value > 0 else "-\u221e"
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        if float(f"{value:.5g}") == value:  # as transcribed, or an exact short value
            return f"{value:.5g}" if 1e-4 <= abs(value) < 1e15 else f"{value:g}"
        if abs(value) < 1e-4:
            return f"{value:.3g}"
        decimals = max(0, 2 - math.floor(math.log10(abs(value))))
        text = f"{value:.{decimals}f}"
        return text.rstrip("0").rstrip(".") if "." in text else text

    def cell(value) -> str:
        if isinstance(value, numbers.Real) and not isinstance(value, bool):
            return number(value)
        if value is None or (not isinstance(value, str) and pd.api.types.is_scalar(value)
                             and pd.isna(value)):
            return dash
        return str(value)

    if title is None:
        title = f"{frame.attrs.get('source', '')}. {frame.attrs.get('caption', '')}".strip(". ")

    def label(column) -> str:
        parts = column if isinstance(column, tuple) else (column,)
        return " ".join(str(p) for p in parts if str(p))

    numeric = list(frame.select_dtypes("number").columns)
    text = [c for c in frame.columns if c not in numeric]
    # A text column that holds one value in every row (a table's single run) is said once, in
    # the caption, instead of making every row as tall or as wide as that text.
    wrap_at, wide = 40, [("white-space", "normal"), ("min-width", "16em"), ("max-width", "32em")]
    unique = frame.columns.is_unique
    constant = [c for c in text if unique and len(frame) > 1 and len(frame.columns) > 1
                and frame[c].map(cell).nunique() == 1 and pd.notna(frame[c].iloc[0])
                and len(cell(frame[c].iloc[0])) > wrap_at]
    if constant:
        said = "; ".join(f"{label(c)}: {cell(frame[c].iloc[0])}" for c in constant)
        title = f"{title} ({said})" if title else said
        frame = frame.drop(columns=constant)
        text = [c for c in text if c not in constant]
    styler = (frame.style.format(number, subset=numeric, na_rep=dash)
              .format(cell, subset=text, na_rep=dash)
              .format_index(cell, axis=0)
              .set_caption(title))
    # Columns of sentences (long and mostly different from row to row) wrap in a readable
    # width; repeated labels stay on one line, so that rows stay one line tall.
    # (a cell's length is its text's, without the markup of a link)
    sentences = []
    for c in (text if unique else []):
        long = [v for v in frame[c].map(lambda value: re.sub(r"<[^>]+>", "", cell(value)))
                if len(v) > wrap_at]
        if long and len(set(long)) > len(long) / 2:
            sentences.append(c)
    if sentences:
        styler = styler.set_table_styles(
            {c: [{"selector": "td", "props": wide}] for c in sentences}, overwrite=False)
    if {"verdict", "reason"} <= set(frame.columns):  # a verdict table: the CSS bounds its widths
        styler = styler.set_table_attributes('class="verdicts"')
    return styler


def _value_and_spread(value: Any) -> tuple[float, float | None]:
    """A reproduced value as (mean, sample std across seeds or None)."""
    if isinstance(value, (Sequence, np.ndarray, pd.Series)) and not isinstance(value, str):
        seeds = np.asarray(value, dtype=float)
        seeds = seeds[~np.isnan(seeds)]
        if seeds.size == 0:
            return math.nan, None
        spread = float(seeds.std(ddof=1)) if seeds.size > 1 else None
        return float(seeds.mean()), spread
    return (math.nan if value is None else float(value)), None


def _lookup(reproduced: pd.DataFrame | Mapping, labels: dict, row: Any) -> Any:
    """The reproduced value of ``row`` for the claim's column (NaN when absent)."""
    if not isinstance(reproduced, pd.DataFrame):
        return reproduced.get(row, math.nan)
    frame = reproduced
    within = labels["within"]
    if (within is not None and isinstance(frame.index, pd.MultiIndex)
            and within in frame.index.get_level_values(0)):
        frame = frame.loc[within]
    if row in frame.index and labels["column"] in frame.columns:
        return frame.loc[row, labels["column"]]
    return math.nan


def claim_verdict(claim: dict, reproduced: pd.DataFrame | Mapping, seeds_std: float | None = None,
                  margin: float | None = None, *, tested_on: str | None = None,
                  profile: str | None = None, run: str | None = None,
                  floor: float | Mapping | None = None, floor_margins: Mapping | None = None,
                  floor_better: str | None = None, needs_seeds: bool = False,
                  unusable: str | None = None) -> dict:
    """The verdict on ``claim`` from reproduced values (the rule is in the module docstring).

    ``reproduced`` is a DataFrame named like the paper table (the claim's row/column are looked
    up, inside ``claim["within"]`` when that outer level exists) or a mapping row -> value, where
    a value may be a list with one entry per seed. ``tested_on`` names the data ("synthetic
    stand-in", "ICVL test set", ...) and ``profile`` the run profile; both default to
    ``reproduced.attrs`` entries ``tested_on``/``profile`` when present.

    Returns a dict: ``claim``, ``verdict``, ``reason``, ``subject``, ``subject_value``,
    ``reference``, ``reference_value`` (for a claim about the subject's own value: the paper's),
    ``difference`` (positive = subject better), ``noise``, ``tested_on``, ``profile``, ``run``,
    and the paper's ``paper_subject_value``/``paper_reference_value``.

    ``unusable`` names why the compared values cannot decide the claim although they exist (for
    a claim on training curves: the models never learnt anything); the verdict is then
    inconclusive with that reason. ``floor``, ``floor_margins`` and ``needs_seeds`` are the
    floor and seed rules of the module docstring; ``floor_better`` ("lower" or "higher") is the
    side of the floor a model that learnt is on, when it is not the claim's ``better`` (a
    contrast "fingertips have the higher error" is on an error metric: "lower").
    """
    attrs = getattr(reproduced, "attrs", {}) or {}
    labels = papers.claim_labels(claim)
    paper_values = papers.claim_values(claim)
    similar = claim["better"] == "similar"
    sign = 1.0 if claim["better"] == "higher" or similar else -1.0

    subject_value, subject_spread = _value_and_spread(_lookup(reproduced, labels, labels["subject"]))
    found = {r: _value_and_spread(_lookup(reproduced, labels, r)) for r in labels["references"]}
    missing = [papers.label_text(r) for r, (v, _) in found.items() if math.isnan(v)]
    if math.isnan(subject_value):
        missing.insert(0, papers.label_text(labels["subject"]))
    if labels["references"] and not missing:  # the strongest reference is the one to beat
        reference = max(found, key=lambda r: sign * found[r][0])
        reference_value, reference_spread = found[reference]
    elif labels["references"]:  # some value was not reproduced
        reference, reference_value, reference_spread = None, math.nan, None
    else:  # a claim about the subject's own value compares with the paper's number
        reference, reference_value, reference_spread = None, paper_values["subject_value"], None

    result = {
        "claim": claim.get("id"), "verdict": "inconclusive", "reason": "",
        "subject": labels["subject"], "subject_value": subject_value,
        "reference": reference, "reference_value": reference_value,
        "difference": math.nan, "noise": math.nan,
        "tested_on": tested_on or attrs.get("tested_on"),
        "profile": profile or attrs.get("profile"), "run": run,
        "paper_subject_value": paper_values["subject_value"],
        "paper_reference_value": paper_values["reference_value"],
    }
    if missing:
        return {**result, "reason": f"{NOT_RUN}: no reproduced value for {', '.join(missing)}"}

    spreads = [s for s in (seeds_std, subject_spread, reference_spread) if s is not None]
    seed_noise = max(spreads, default=0.0)
    margin = DEFAULT_RELATIVE_MARGIN * abs(reference_value) if margin is None else margin
    noise = max(margin, seed_noise)
    difference = sign * (subject_value - reference_value)
    result.update(difference=difference, noise=noise)
    if result["profile"] == SMOKE_PROFILE:
        return {**result, "reason": "smoke run"}
    if unusable:
        return {**result, "reason": unusable}
    if math.isnan(noise):  # e.g. a bootstrap whose resamples left a score undefined
        return {**result, "reason": f"difference {difference:+.3g} with no usable noise estimate "
                                    "(the margin is NaN): nothing to judge it against"}
    values = {labels["subject"]: subject_value,
              **({r: v for r, (v, _) in found.items()} if reference is not None else {})}
    # the side of the floor a model that learnt is on: the metric's, which is the claim's
    # unless the claim is about equivalence (an error metric) or a contrast says otherwise
    floor_better = floor_better or ("lower" if similar else claim["better"])
    at_floor = _not_below_floor(values, floor, floor_margins or {},
                                1.0 if floor_better == "higher" else -1.0)
    if at_floor:
        return {**result, "reason": at_floor}
    if needs_seeds and reference is not None and not spreads:
        return {**result, "reason": f"one seed: difference {difference:+.3g}, but with a single "
                                    "seed per model there is no seed-to-seed spread to judge it "
                                    "against"}
    if similar and claim.get("tolerance_from", {}).get("source") != "paper":
        return {**result, "reason": "tolerance not from the paper: "
                                    f"{claim.get('tolerance_from', {}).get('why', 'not stated')}"}
    if similar:
        return {**result, **_similar_verdict(claim, difference, noise, reference_value)}
    if reference is None:  # own-value claim: reached unless worse than the paper beyond noise
        if difference >= -noise:
            return {**result, "verdict": "holds",
                    "reason": f"reproduced value within {noise:.3g} of the paper's, or better"}
        return {**result, "verdict": "does not hold",
                "reason": f"worse than the paper's value by {-difference:.3g} (> {noise:.3g})"}
    if abs(difference) <= noise:
        what = "seed standard deviation" if spreads and seed_noise >= margin else "margin"
        return {**result, "reason": f"difference {difference:+.3g} within the {what} ({noise:.3g})"}
    floor_order = ""
    if isinstance(floor, Mapping) and reference is not None:
        floor_order = (f"; the floor's own difference: "
                       f"{sign * (floor[labels['subject']] - floor[reference]):+.3g}")
    if difference > 0:
        return {**result, "verdict": "holds",
                "reason": f"subject better by {difference:.3g} (> {noise:.3g}){floor_order}"}
    return {**result, "verdict": "does not hold",
            "reason": f"subject worse by {-difference:.3g} (> {noise:.3g}){floor_order}"}


def _not_below_floor(values: Mapping, floor: float | Mapping | None, margins: Mapping,
                     sign: float) -> str | None:
    """Why one of ``values`` (label -> mean) is not better than its floor by more than its
    interval (``margins``, label -> interval, 0 when absent), or ``None`` (see the module doc)."""
    if floor is None:
        return None
    for label, value in values.items():
        level = floor[label] if isinstance(floor, Mapping) else floor
        interval = float(margins.get(label) or 0.0)
        if not sign * (value - level) > interval:
            side = "below" if sign < 0 else "above"
            return (f"{papers.label_text(label)} ({value:.3g}) is not {side} its floor "
                    f"({level:.3g}) by more than its interval ({interval:.3g}): it has not "
                    "learnt enough to be compared")
    return None


def _similar_verdict(claim: dict, difference: float, noise: float, reference_value: float
                     ) -> dict:
    """Verdict and reason of a ``better: similar`` claim (see the module doc)."""
    tolerance = claim["tolerance"] * abs(reference_value)
    gap = abs(difference)
    if gap + noise <= tolerance:
        return {"verdict": "holds", "reason": f"difference {difference:+.3g} within the "
                                              f"tolerance {tolerance:.3g} even with the noise "
                                              f"({noise:.3g})"}
    if gap - noise > tolerance:
        return {"verdict": "does not hold",
                "reason": f"difference {difference:+.3g} beyond the tolerance {tolerance:.3g} by "
                          f"more than the noise ({noise:.3g})"}
    return {"reason": f"difference {difference:+.3g} too close to the tolerance {tolerance:.3g} "
                      f"for the noise ({noise:.3g})"}


#: The verdict table's columns: the claim, its verdict and the reason first, so that a reader
#: sees all three without scrolling (the book's CSS bounds their widths, ``table.verdicts``);
#: what the paper says, the numbers and the data behind them follow.
VERDICT_COLUMNS = ("claim", "verdict", "reason", "paper says", "subject (reproduced)",
                   "reference (reproduced)", "difference", "tested on", "testable on", "run")


def verdict_table(claims: Sequence[dict], results: Mapping[str, Mapping]) -> pd.DataFrame:
    """One row per claim with its verdict.

    ``results`` maps a claim id to the keyword arguments of :func:`claim_verdict`
    (``reproduced`` and optionally ``seeds_std``, ``margin``, ``tested_on``, ``profile``,
    ``run``, ``floor``, ``floor_margins``, ``floor_better``, ``needs_seeds``, ``unusable``). Claims without results are ``inconclusive``: "not testable here" for claims the
    YAML marks ``not_here``, otherwise "not run".
    """
    rows = []
    for claim in claims:
        base = {"claim": claim["id"], "paper says": papers.format_claim(claim),
                "testable on": claim["testable_on"].replace("_", " ")}
        if claim["id"] in results:
            verdict = claim_verdict(claim, **results[claim["id"]])
            rows.append({
                **base,
                "tested on": verdict["tested_on"],
                "run": describe_run(verdict["run"] or "run", verdict["profile"]),
                "subject (reproduced)": verdict["subject_value"],
                "reference (reproduced)": verdict["reference_value"],
                "difference": verdict["difference"],
                "verdict": verdict["verdict"],
                "reason": verdict["reason"],
            })
        else:
            reason = (f"not testable here: {claim['why']}" if claim["testable_on"] == "not_here"
                      else NOT_RUN)
            rows.append({**base, "tested on": None, "run": NOT_RUN,
                         "subject (reproduced)": math.nan, "reference (reproduced)": math.nan,
                         "difference": math.nan, "verdict": "inconclusive", "reason": reason})
    return pd.DataFrame(rows, columns=VERDICT_COLUMNS).set_index("claim")


# ----------------------------------------------------------------------------- verdict files

#: The file a chapter's verdicts are saved in, in its profile's results folder.
VERDICTS_FILE = "verdicts.json"


def save_verdicts(verdicts: pd.DataFrame, chapter: str, profile: str) -> None:
    """Save a chapter's verdict table (:func:`verdict_table`) as
    ``<results>/<chapter>/<profile>/verdicts.json`` (atomically, with the commit and the time),
    for the book's scoreboard (``handlib.scoreboard``)."""
    table = verdicts.reset_index()
    rows = table.astype(object).where(table.notna(), None)
    results.write_json_atomic(results.results_root() / chapter / profile / VERDICTS_FILE, {
        "chapter": chapter, "profile": profile,
        "git": results.git_state(),
        "written_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "verdicts": rows.to_dict(orient="records"),
    })


def load_verdicts(chapter: str, profile: str) -> dict | None:
    """The saved verdicts of ``chapter`` under ``profile`` (:func:`save_verdicts`), with
    ``verdicts`` as a DataFrame indexed by claim; ``None`` when the chapter has not been run on
    that profile."""
    path = results.results_root() / chapter / profile / VERDICTS_FILE
    if not path.is_file():
        return None
    saved = results.read_json(path)
    return {**saved, "verdicts": pd.DataFrame(saved["verdicts"]).set_index("claim")}
