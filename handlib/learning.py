"""Does each run learn? Its test score against its floor, with an interval, and its curve.

A chapter's comparison means something only between runs that learnt: a model whose error is no
better than a prediction that ignores the input (its *floor*: the constant mean pose, the box
centre, the constant offset, ``handlib.floors``) has nothing to compare. The rule of evidence
(``book/design.md``): a run **learned** when its test score is better than its floor's on the
same test samples by more than the interval of that difference, twice the standard error of a
paired bootstrap over the test samples (``handlib.report.paired_bootstrap_margin``).

- :func:`learning_table`: one row per trained run: its score, its floor's, the margin below the
  floor (positive: better than the floor), the interval, and whether it learned; every chapter's
  runs table carries these columns, and :func:`learned_summary` says "N of M runs learned" from
  them.
- :func:`figure_learning`: the validation score of each run after each epoch against the
  optimiser steps taken so far (``handlib.study.validation_curves``), with each dataset's floor
  drawn across it: the chapter's "Does it learn?" figure.
"""
from __future__ import annotations

import math
from collections.abc import Callable

import pandas as pd
import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from handlib import report, results
from handlib.study import Record, Study, optimiser_steps, validation_curves

Score = Callable[[Record], float]

#: The columns :func:`learning_table` adds to a runs table, in order.
COLUMNS = ("test score", "floor", "margin below floor", "interval", "learned")


def learning_table(study: Study, score: Score, floor_records: dict[str, Record], *,
                   floor_score: Score | None = None, better: str = "lower",
                   samples: int = report.BOOTSTRAP_SAMPLES) -> pd.DataFrame:
    """One row per run with test predictions (index: its run id): ``test score`` (``score`` of
    its record), ``floor`` (``floor_score``, default ``score``, of its dataset's floor record),
    ``margin below floor`` (how much better the run is than the floor: positive when it is
    better, in the score's units), ``interval`` (twice the paired-bootstrap standard error of
    that margin over the test samples) and ``learned`` (margin above interval). A run on a
    dataset without a floor record has NaN floor columns and ``learned`` None."""
    floor_score = score if floor_score is None else floor_score
    sign = -1.0 if better == "lower" else 1.0
    rows = {}
    for run in study.runs:
        record = study.predictions.get(run.run_id)
        if record is None:
            continue
        value = float(score(record))
        row = {"dataset": run.dataset, "name": run.name, "seed": run.seed, "test score": value,
               "floor": math.nan, "margin below floor": math.nan, "interval": math.nan,
               "learned": None}
        floor = floor_records.get(run.dataset)
        if floor is not None:
            floor_value = float(floor_score(floor))
            margin = sign * (value - floor_value)
            interval = report.paired_bootstrap_margin(score, record, floor, samples=samples,
                                                      reference_score=floor_score)
            row.update({"floor": floor_value, "margin below floor": margin,
                        "interval": interval, "learned": bool(margin > interval)})
        rows[run.run_id] = row
    frame = pd.DataFrame.from_dict(rows, orient="index",
                                   columns=["dataset", "name", "seed", *COLUMNS])
    frame.index.name = "run"
    return frame


def learned_summary(table: pd.DataFrame, what: str = "runs") -> str:
    """"N of M runs learned" from :func:`learning_table`'s ``learned`` column (runs without a
    floor are not counted), naming those that did not."""
    judged = table[table["learned"].notna()]
    learned = judged[judged["learned"].astype(bool)]
    text = f"{len(learned)} of {len(judged)} {what} learned"
    stuck = [str(run) for run in judged.index if run not in learned.index]
    if stuck:
        text += f" (not below their floor by more than the interval: {', '.join(stuck)})"
    return text


def figure_learning(study: Study, column: str, names: dict[str, str], floors: dict[str, float],
                    ylabel: str) -> Figure:
    """Does it learn? The validation ``column`` of each run in ``names`` (label -> run name)
    against the optimiser steps, one panel per dataset, with that dataset's floor (``floors``:
    dataset -> its score on the test split) as a dashed line. A pyplot figure, as every chapter
    figure: the notebook cell shows it with ``plt.show()``."""
    found = {dataset: validation_curves(study, dataset, names, column, by="steps")
             for dataset in study.cfg["study"]["datasets"]}
    datasets = [dataset for dataset, curves in found.items() if not curves.empty]
    fig, axes = plt.subplots(1, max(len(datasets), 1), figsize=(4.6 * max(len(datasets), 1), 3.4),
                             squeeze=False)
    axes = axes[0]
    for ax, dataset in zip(axes, datasets):
        for label, curve in found[dataset].items():
            ax.plot(curve.index, curve.to_numpy(), marker="o", markersize=3, label=str(label))
        if dataset in floors:
            ax.axhline(floors[dataset], color="0.3", linestyle="--",
                       label="floor (its test-split score)")
        ax.set_title(dataset, fontsize=9)
        ax.set_xlabel("optimiser steps")
        ax.set_ylabel(ylabel)
        ax.legend(fontsize=7)
    if not datasets:
        axes[0].text(0.5, 0.5, "no training history", ha="center", va="center")
        axes[0].set_axis_off()
    fig.tight_layout()
    return fig


def scale_text(study: Study) -> str:
    """The scale every reproduced number of the study was measured at, for captions: the input
    size, the optimiser steps per run (their range over the runs that trained), the training
    seeds and the data (synthetic stand-ins or the real datasets), so that a reader never takes
    the miniature for the paper's setting."""
    steps = sorted({int(s) for s in (optimiser_steps(run.config, _history(study, run))
                                     for run in study.runs) if not math.isnan(s)})
    step_text = ("? optimiser steps" if not steps else f"{steps[0]:,} optimiser steps per run"
                 if len(steps) == 1 else f"{steps[0]:,}-{steps[-1]:,} optimiser steps per run")
    sizes = sorted({run.config["data"]["input_size"] for run in study.runs})
    seeds = sorted({run.seed for run in study.runs})
    sources = {run.config["data"]["source"] for run in study.runs}
    data = ("synthetic stand-ins" if sources == {"synthetic"} else
            "real datasets" if "synthetic" not in sources else "real datasets and stand-ins")
    return (f"{study.profile} profile: {'/'.join(f'{s}²' for s in sizes)} input, {step_text}, "
            f"seed{'s' if len(seeds) > 1 else ''} {', '.join(map(str, seeds))}, {data}")


def _history(study: Study, run) -> pd.DataFrame | None:
    saved = results.read_run(results.run_dir(study.experiment, study.profile, run.run_id))
    return saved["history"] if saved else None
