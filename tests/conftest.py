"""Test-suite set-up: tools/ importable, and every test isolated from what the user built.

A unit test's outcome must not depend on what ran before it on this machine: ``make book`` writes
results under ``book/results/<chapter>/<profile>/`` and checkpoints and data shards under
``~/.cache/handlib``, and a chapter's study code reads both (a saved training history turns a
claim from "needs runs" into a verdict). So every test runs with ``HANDLIB_RESULTS`` pointed at
its own empty folder and ``HANDLIB_CACHE`` at a cache made for this test session alone (shared
by the session's tests, so a data shard one test renders is reused, never one the user made).
Only the browser tests read the built book, and they read ``_build/html``, not these folders.
"""
import sys
from pathlib import Path

import pytest

# make the repository's tools/ importable in tests
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


@pytest.fixture(scope="session")
def session_cache(tmp_path_factory) -> Path:
    """A ``HANDLIB_CACHE`` for this test session only."""
    return tmp_path_factory.mktemp("handlib-cache")


@pytest.fixture(autouse=True)
def isolated_results_and_cache(tmp_path_factory, session_cache, monkeypatch):
    """Point handlib's results at an empty folder and its cache at the session's own."""
    monkeypatch.setenv("HANDLIB_RESULTS", str(tmp_path_factory.mktemp("results")))
    monkeypatch.setenv("HANDLIB_CACHE", str(session_cache))
