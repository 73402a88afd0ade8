"""Where handlib reads and writes: results (committed), caches (never committed), shared data.

Each location can be moved with an environment variable, so a user can keep results, caches and
datasets wherever suits their machine:

- ``HANDLIB_RESULTS``: result files the book renders from (default ``<repo>/book/results``).
- ``HANDLIB_CACHE``: checkpoints and generated-data shards (default ``~/.cache/handlib``).
- ``HANDLIB_SHARED_DATA``: the project's shared real-data folder (default ``<repo>/../shared/data``).
"""
from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


def results_root() -> Path:
    """Root of the result tree, ``book/results`` in the repository unless overridden."""
    return Path(os.environ.get("HANDLIB_RESULTS", REPO_ROOT / "book" / "results"))


def cache_dir() -> Path:
    """Cache for checkpoints and data shards; created on first use."""
    default = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "handlib"
    path = Path(os.environ.get("HANDLIB_CACHE", default))
    path.mkdir(parents=True, exist_ok=True)
    return path


def shared_data_dir() -> Path | None:
    """The shared real-data folder if it exists on this machine, else ``None``."""
    path = Path(os.environ.get("HANDLIB_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))
    return path if path.is_dir() else None
