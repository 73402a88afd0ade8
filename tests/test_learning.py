"""Does each run learn (``handlib.learning``): known answers on a hand-made study whose records
hold one error per test sample, and a training history written as the engine writes it."""
import numpy as np
import pandas as pd
import pytest

from handlib import learning, results
from handlib.study import Run, Study, optimiser_steps, validation_curves

N = 40


def record(errors) -> dict:
    return {"index": np.arange(N), "error": np.asarray(errors, dtype=float)}


def mean_error(p) -> float:
    return float(p["error"].mean())


def toy_study() -> Study:
    """Three runs on dataset A: ``good`` errs 1 everywhere, ``noisy`` alternates 0 and 19.6
    (mean 9.8, just below the floor's 10 but far inside its interval), ``bad`` errs 12."""
    config = {"train": {"batch_size": 8, "epochs": 3}, "data": {"n": {"train": 50}}}
    runs = [Run("A", name, 0, f"A-{name}", config) for name in ("good", "noisy", "bad")]
    errors = {"good": np.ones(N), "noisy": np.tile([0.0, 19.6], N // 2), "bad": np.full(N, 12.0)}
    cfg = {"profile": "toy", "chapter": "toy", "data": {}, "eval": {},
           "study": {"datasets": {"A": {}}, "seeds": [0], "groups": {}}}
    return Study(cfg, runs, {r.run_id: record(errors[r.name]) for r in runs})


def test_a_run_learned_only_below_its_floor_by_more_than_the_interval():
    table = learning.learning_table(toy_study(), mean_error, {"A": record(np.full(N, 10.0))})
    assert table.loc["A-good", "margin below floor"] == pytest.approx(9.0)
    assert table.loc["A-good", "interval"] == pytest.approx(0.0)  # no spread: a sure margin
    assert table["learned"].to_dict() == {"A-good": True, "A-noisy": False, "A-bad": False}
    assert table.loc["A-noisy", "margin below floor"] == pytest.approx(0.2)
    assert table.loc["A-noisy", "interval"] > 0.2                # the bootstrap sees the spread
    assert table.loc["A-bad", "margin below floor"] == pytest.approx(-2.0)
    assert learning.learned_summary(table) == (
        "1 of 3 runs learned (not below their floor by more than the interval: A-noisy, A-bad)")


def test_higher_is_better_turns_the_margin_round():
    table = learning.learning_table(toy_study(), mean_error, {"A": record(np.full(N, 10.0))},
                                    better="higher")
    assert table["learned"].to_dict() == {"A-good": False, "A-noisy": False, "A-bad": True}


def test_a_run_without_a_floor_is_not_judged():
    table = learning.learning_table(toy_study(), mean_error, {})
    assert table["learned"].isna().all() and table["floor"].isna().all()
    assert learning.learned_summary(table) == "0 of 0 runs learned"


def test_the_learning_figure_counts_optimiser_steps_from_the_history():
    study = toy_study()
    history = pd.DataFrame({"epoch": [1, 2, 3], "samples": [48, 48, 48],
                            "val_error": [9.0, 5.0, 2.0]})
    results.write_run(results.run_dir(study.experiment, study.profile, "A-good"),
                      history=history, metrics={}, provenance={})
    curves = validation_curves(study, "A", {"Good": "good", "Bad": "bad"}, "val_error",
                               by="steps")
    assert list(curves) == ["Good"]                        # bad has no history
    assert curves.index.tolist() == [6, 12, 18]            # 48 samples / batch 8 per epoch
    assert curves["Good"].tolist() == [9.0, 5.0, 2.0]
    assert optimiser_steps(study.runs[0].config, history) == 18
    assert optimiser_steps(study.runs[0].config) == 50 // 8 * 3  # before it ran: the config's
    figure = learning.figure_learning(study, "val_error", {"Good": "good"}, {"A": 10.0}, "error")
    assert len(figure.axes) == 1 and len(figure.axes[0].lines) == 2  # the curve and the floor


def test_the_scale_text_names_input_steps_seeds_and_data():
    study = toy_study()
    for run in study.runs:
        run.config.update(data={"n": {"train": 50}, "input_size": 64, "source": "synthetic"})
    assert learning.scale_text(study) == (
        "toy profile: 64² input, 18 optimiser steps per run, seed 0, synthetic stand-ins")
