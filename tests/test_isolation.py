"""The test suite does not read what the user built: results and caches are the test's own.

The regression this guards: after ``make book`` (cpu), the InterNet+ chapter's unit tests found
the training histories the book had just written under ``book/results/internet_plus/cpu/`` and
gave verdicts to claims the hand-made study leaves without runs, so ``make book && make test``
failed where ``make test`` alone passed.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd

from handlib import paths, results, study as studies
from handlib.profiles import load_profile

REPO = Path(__file__).resolve().parents[1]


def test_each_test_gets_empty_results_and_a_cache_outside_the_users():
    root = paths.results_root()
    assert root != REPO / "book" / "results"
    assert not root.exists() or not any(root.iterdir())
    cache = paths.cache_dir()
    assert cache != Path.home() / ".cache" / "handlib"
    assert not cache.is_relative_to(REPO)


def write_finished_cpu_build(root: Path, monkeypatch) -> None:
    """Every InterNet+ cpu run as a finished run with a training history, as ``make book``
    leaves them (only the files the chapter's study code reads)."""
    cfg = load_profile("internet_plus", "cpu")
    history = pd.DataFrame({"epoch": range(1, 7), "train_loss": [1.0] * 6,
                            "val_epe_mm_predicted_hand": [40.0, 30.0, 25.0, 24.0, 23.0, 22.0]})
    monkeypatch.setenv("HANDLIB_RESULTS", str(root))
    for run in studies.study_runs(cfg):
        results.write_run(results.run_dir(cfg["chapter"], "cpu", run.run_id), history=history,
                          metrics={}, provenance={"run": run.run_id})


def test_chapter_tests_pass_with_a_finished_cpu_build_in_the_results_folder(tmp_path, monkeypatch):
    built = tmp_path / "built-book-results"
    write_finished_cpu_build(built, monkeypatch)
    env = {**os.environ, "HANDLIB_RESULTS": str(built)}
    test = "tests/test_internet_plus_chapter.py::test_every_claim_gets_a_verdict"
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", test],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
