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
- ``inconclusive`` also when ``floor`` is given and every compared value is worse than it (for a
  higher-is-better metric: below it): models that all score near the bottom of a metric, as
  short CPU runs do at PCK@0.01-0.05, cannot order each other, however small the test-set noise;
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
value, on an error metric) holds when ``|d| + noise <= tolerance`` (the two are close even at the
far edge of the noise), does not hold when ``|d| - noise > tolerance``, and is inconclusive in
between; ``d`` is then the plain difference, subject minus reference.
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
    named as in the paper (a subset, and possibly extra rows the paper does not have). For each
    numeric column (or those in ``columns``) the result has ``(column, "paper")`` and
    ``(column, "reproduced")``, then one ``("run", "")`` column naming the run (one label for
    all rows, or a mapping row -> label) or ``"not run"`` for rows without reproduced values.
    Rows are the paper's rows in the paper's order, then extra reproduced rows.
    """
    if columns is None:
        columns = list(paper_table.select_dtypes("number").columns)
    unknown = [c for c in reproduced.columns if c not in paper_table.columns]
    if unknown:
        raise ValueError(f"reproduced columns {unknown} are not in {paper_table.attrs.get('source', 'the paper table')}; "
                         f"its columns are {list(paper_table.columns)}")
    extra_rows = [r for r in reproduced.index if r not in paper_table.index]
    index = paper_table.index.append(pd.Index(extra_rows)) if extra_rows else paper_table.index
    paper = paper_table.reindex(index)
    ours = reproduced.reindex(index=index)
    out = pd.DataFrame(index=index)
    for column in columns:
        out[(column, "paper")] = pd.to_numeric(paper[column], errors="coerce")
        values = ours[column] if column in ours.columns else pd.Series(np.nan, index=index)
        out[(column, "reproduced")] = pd.to_numeric(values, errors="coerce")
    was_run = ours.notna().any(axis=1) if len(ours.columns) else pd.Series(False, index=index)
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
    sentences = []
    for c in (text if unique else []):
        long = [v for v in frame[c].map(cell) if len(v) > wrap_at]
        if long and len(set(long)) > len(long) / 2:
            sentences.append(c)
    if sentences:
        styler = styler.set_table_styles(
            {c: [{"selector": "td", "props": wide}] for c in sentences}, overwrite=False)
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
                  floor: float | None = None, unusable: str | None = None) -> dict:
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
    inconclusive with that reason.
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
    compared = [subject_value] + ([reference_value] if reference is not None else [])
    if similar:  # an error metric: the floor is a value both must be below
        return {**result, **_similar_verdict(claim, difference, noise, reference_value, compared,
                                             floor)}
    if floor is not None and all(sign * (value - floor) < 0 for value in compared):
        return {**result, "reason": f"every compared value is {'below' if sign > 0 else 'above'} "
                                    f"{floor:g}, the floor at which this metric orders models"}
    if reference is None:  # own-value claim: reached unless worse than the paper beyond noise
        if difference >= -noise:
            return {**result, "verdict": "holds",
                    "reason": f"reproduced value within {noise:.3g} of the paper's, or better"}
        return {**result, "verdict": "does not hold",
                "reason": f"worse than the paper's value by {-difference:.3g} (> {noise:.3g})"}
    if abs(difference) <= noise:
        what = "seed standard deviation" if spreads and seed_noise >= margin else "margin"
        return {**result, "reason": f"difference {difference:+.3g} within the {what} ({noise:.3g})"}
    if difference > 0:
        return {**result, "verdict": "holds",
                "reason": f"subject better by {difference:.3g} (> {noise:.3g})"}
    return {**result, "verdict": "does not hold",
            "reason": f"subject worse by {-difference:.3g} (> {noise:.3g})"}


def _similar_verdict(claim: dict, difference: float, noise: float, reference_value: float,
                     compared: list[float], floor: float | None) -> dict:
    """Verdict and reason of a ``better: similar`` claim (see the module doc)."""
    if floor is not None and all(value >= floor for value in compared):
        return {"reason": f"every compared value is above {floor:g}, the floor at which this "
                          "metric orders models"}
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


#: The verdict table's columns, the verdict first so that a reader sees it without scrolling.
VERDICT_COLUMNS = ("claim", "verdict", "paper says", "subject (reproduced)",
                   "reference (reproduced)", "difference", "reason", "tested on", "testable on",
                   "run")


def verdict_table(claims: Sequence[dict], results: Mapping[str, Mapping]) -> pd.DataFrame:
    """One row per claim with its verdict.

    ``results`` maps a claim id to the keyword arguments of :func:`claim_verdict`
    (``reproduced`` and optionally ``seeds_std``, ``margin``, ``tested_on``, ``profile``,
    ``run``, ``floor``, ``unusable``). Claims without results are ``inconclusive``: "not testable here" for claims the
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
