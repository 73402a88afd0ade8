"""Result files and their provenance, written atomically and read back into pandas.

Every run writes one folder, ``results_root() / <experiment> / <profile> / <run>/`` (by default
``book/results/...``), holding

- ``history.csv``: one row per epoch (losses, validation metrics, learning rate, time);
- ``metrics.json``: the run's final metrics;
- ``run.json``: provenance: the configuration and its hash, the hash of the code that
  produced it, the git commit (whether the tree had uncommitted changes, and where the commit
  was read: ``git``, the environment or ``none``, :func:`git_state`), dataset and
  generator version, device, library versions, wall time and throughput;
- ``test_predictions.npz`` (study runs): the run's prediction record on its test split
  (``handlib.engine.predict``: predicted and true keypoints in the samples' own frames, masks,
  visibility kinds, sample ids), stamped with the run's configuration hash, so that tables and
  figures can be rebuilt without the checkpoint (e.g. from committed gpu results on a CPU).
  Stored compactly (:func:`compact_record`): only the keys the book reads
  (:data:`RECORD_KEYS`), floats as float32 (keypoints in px and mm keep far better than
  0.01 px / 0.01 mm: float32's spacing is under 0.001 up to 8192), ``confidence`` as float16, a
  ``kp3d_rel_pred`` that is exactly ``kp3d_pred`` less its wrist left to be derived on reading.

A chapter's ``bench.json`` (``handlib.study.bench_study``) sits in its profile folder.

``run.json`` is written last, so a folder without it is an unfinished run. Each file is written
to a temporary file in the same folder and renamed over the target (``os.replace`` is atomic on
POSIX and Windows), so a run killed at any moment leaves either the old file or the new one,
never half of one.
"""
from __future__ import annotations

import datetime
import json
import os
import platform
import subprocess
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import numpy as np
import pandas as pd
import torch

import handlib
from handlib.paths import REPO_ROOT, results_root
from handlib.skeleton import NUM_JOINTS, WRIST

RUN_FILE = "run.json"
METRICS_FILE = "metrics.json"
HISTORY_FILE = "history.csv"
PREDICTIONS_FILE = "test_predictions.npz"
BENCH_FILE = "bench.json"

#: The keys of a prediction record that are stored (:func:`write_predictions`): those the book
#: reads, in ``handlib.metrics`` (the registry), the chapters' studies (``handlib.study``,
#: ``handlib.study3d``, ``handlib/papers/*/study.py``: ``crop``, ``mirrored``,
#: ``visibility_kind``), ``handlib.floors`` and ``handlib.occlusion``; and ``confidence`` (the
#: heat-map peaks, at half precision) for inspecting a run's failures. ``root_depth`` and
#: ``root_depth_pred`` are not stored: the book scores the relative root through ``rel_root``.
RECORD_KEYS: tuple[str, ...] = (
    "index", "kp2d", "kp2d_pred", "norm_size", "labelled", "in_frame", "visible",
    "visibility_kind", "crop", "mirrored", "kp3d", "kp3d_pred", "kp3d_rel_pred", "hand_valid",
    "hand_type_pred", "rel_root", "rel_root_pred", "confidence",
)
#: Record keys stored as float16: no number of the book depends on their exact value.
HALF_PRECISION_KEYS: tuple[str, ...] = ("confidence",)
#: The stored name listing the keys left out because they are derived on reading.
_DERIVED = "derived"


def _file_mode() -> int:
    """The mode ``open()`` would give a new file under this process's umask (0644 under the
    usual 022): result files must stay readable by whoever serves or builds the book, and
    ``tempfile`` alone would leave them 0600."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def atomic_write(path: str | Path, write: Callable[[IO], None], *, binary: bool = False) -> None:
    """Write ``path`` atomically: ``write(handle)`` fills a temporary file in the same folder,
    which is flushed, given the umask's mode and renamed over ``path``. A process killed at any
    moment leaves either the old file or the new one, never half of one, and the temporary file
    is removed if ``write`` raises. Every writer of results, predictions and checkpoints uses it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = tempfile.NamedTemporaryFile(
        "wb" if binary else "w", dir=path.parent, prefix=f".{path.name}.", suffix=".tmp",
        delete=False,
    )
    try:
        with handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(handle.name, _file_mode())
        os.replace(handle.name, path)
    except BaseException:
        os.unlink(handle.name)
        raise


def _to_json(value: Any) -> Any:
    """``json`` fallback for numpy scalars and arrays, paths and timestamps."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (Path, datetime.datetime)):
        return str(value)
    raise TypeError(f"cannot write {type(value).__name__} to JSON: {value!r}")


def write_json_atomic(path: str | Path, obj: Any) -> None:
    """Write ``obj`` as indented JSON to ``path`` atomically (temporary file, then rename)."""
    atomic_write(path, lambda f: json.dump(obj, f, indent=2, default=_to_json))


def write_csv_atomic(path: str | Path, frame: pd.DataFrame) -> None:
    """Write ``frame`` (without its index) as CSV to ``path`` atomically."""
    atomic_write(path, lambda f: frame.to_csv(f, index=False))


def read_json(path: str | Path) -> Any:
    """The JSON a result file holds; a file that is not valid JSON (a corrupt or hand-edited
    result) raises a ValueError naming it and what to do."""
    path = Path(path)
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"result file {path} is not valid JSON ({error}): delete it and re-run "
                         "the notebook or command that writes it") from error


def write_npz_atomic(path: str | Path, arrays: dict[str, Any]) -> None:
    """Write ``arrays`` as a compressed ``.npz`` to ``path`` atomically."""
    atomic_write(path, lambda f: np.savez_compressed(f, **arrays), binary=True)


def git_state(repo: Path = REPO_ROOT) -> dict[str, Any]:
    """``{"commit": sha or None, "dirty": bool or None, "commit_source": ...}`` of the tree
    holding handlib: from git when ``repo`` has its own ``.git`` (``commit_source: git``); else
    from the environment, ``HANDLIB_COMMIT`` (a hex sha) and ``HANDLIB_DIRTY`` (``0`` or ``1``),
    which whoever copied the tree without ``.git`` (e.g. onto a GPU machine) sets
    (``commit_source: env``); else unknown (``commit_source: none``). A tree without its own
    ``.git`` never reports the commit of a repository it happens to lie in."""

    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(
                ["git", "-C", str(repo), *args], capture_output=True, text=True, check=True
            )
        except (OSError, subprocess.CalledProcessError):
            return None
        return done.stdout.strip()

    commit = git("rev-parse", "HEAD") if (Path(repo) / ".git").exists() else None
    if commit:
        status = git("status", "--porcelain")
        return {"commit": commit, "dirty": None if status is None else bool(status),
                "commit_source": "git"}
    commit = os.environ.get("HANDLIB_COMMIT", "").strip().lower()
    if not commit:
        return {"commit": None, "dirty": None, "commit_source": "none"}
    if not 7 <= len(commit) <= 40 or set(commit) - set("0123456789abcdef"):
        raise ValueError(f"HANDLIB_COMMIT={commit!r} is not a git commit: set it to the output "
                         "of `git rev-parse HEAD` in the tree the code was copied from")
    dirty = os.environ.get("HANDLIB_DIRTY", "").strip()
    if dirty not in ("", "0", "1"):
        raise ValueError(f"HANDLIB_DIRTY={dirty!r} must be 0 (the tree as committed) or 1 "
                         "(with uncommitted changes), or unset")
    return {"commit": commit, "dirty": None if not dirty else dirty == "1",
            "commit_source": "env"}


def library_versions() -> dict[str, str]:
    return {
        "python": platform.python_version(),
        "handlib": handlib.__version__,
        "torch": torch.__version__,
        "numpy": np.__version__,
        "pandas": pd.__version__,
    }


def device_name(device: str) -> str:
    """A human-readable name of ``device`` ("cpu", "cuda", "cuda:1"): GPU model or CPU model."""
    if str(device).startswith("cuda"):
        return torch.cuda.get_device_name(torch.device(device))
    name = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                name = line.split(":", 1)[1].strip()
                break
    return f"CPU: {name} ({os.cpu_count()} logical cores)"


def provenance(
    *,
    config: dict,
    config_hash: str,
    code_hash: str,
    device: str,
    dataset: dict,
    wall_time_s: float,
    throughput: float,
    world_size: int = 1,
) -> dict[str, Any]:
    """The ``run.json`` record of a finished run (see the module docstring)."""
    return {
        "config_hash": config_hash,
        "code_hash": code_hash,
        "config": config,
        "git": git_state(),
        "dataset": dataset,
        "device": str(device),
        "device_name": device_name(device),
        "world_size": world_size,
        "libraries": library_versions(),
        "wall_time_s": wall_time_s,
        "train_samples_per_s": throughput,
        "finished_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }


def run_dir(experiment: str, profile: str, run: str) -> Path:
    return results_root() / experiment / profile / run


def write_run(path: Path, *, history: pd.DataFrame, metrics: dict, provenance: dict) -> None:
    """Write a run's three files into ``path``, ``run.json`` last (it marks the run finished)."""
    write_csv_atomic(path / HISTORY_FILE, history)
    write_json_atomic(path / METRICS_FILE, metrics)
    write_json_atomic(path / RUN_FILE, provenance)


def read_run(path: Path) -> dict[str, Any] | None:
    """``{"history": DataFrame, "metrics": dict, "provenance": dict}`` of a finished run in
    ``path``, or ``None`` when ``path`` holds no finished run."""
    if not (path / RUN_FILE).is_file():
        return None
    return {
        "history": pd.read_csv(path / HISTORY_FILE),
        "metrics": read_json(path / METRICS_FILE),
        "provenance": read_json(path / RUN_FILE),
    }


def load_run(experiment: str, profile: str, run: str) -> dict[str, Any]:
    """The finished run ``experiment/profile/run``; ``FileNotFoundError`` saying where it
    looked (and how to make it) when there is none."""
    path = run_dir(experiment, profile, run)
    found = read_run(path)
    if found is None:
        raise FileNotFoundError(
            f"no finished run in {path} (no {RUN_FILE}); train it first, e.g. "
            f"with engine.load_or_train or `handlib train`"
        )
    return found


def load_runs(experiment: str, profile: str) -> pd.DataFrame:
    """One row per finished run of ``experiment`` under ``profile``: its final metrics and the
    main provenance fields (run, model, config hash, commit, device, wall time, throughput)."""
    rows = []
    root = results_root() / experiment / profile
    for path in sorted(root.iterdir()) if root.is_dir() else []:
        found = read_run(path)
        if found is None:
            continue
        prov = found["provenance"]
        rows.append(
            {
                "run": path.name,
                "model": prov["config"]["model"]["name"],
                **found["metrics"],
                "config_hash": prov["config_hash"],
                "commit": prov["git"]["commit"],
                "dirty": prov["git"]["dirty"],
                "device_name": prov["device_name"],
                "wall_time_s": prov["wall_time_s"],
                "train_samples_per_s": prov["train_samples_per_s"],
            }
        )
    return pd.DataFrame(rows).set_index("run") if rows else pd.DataFrame()


def predictions_file(split: str | None = None) -> str:
    """The file name of a run's prediction record: :data:`PREDICTIONS_FILE` on its test split
    (``split=None``), ``<split>_predictions.npz`` on another held-out split."""
    return PREDICTIONS_FILE if split is None else f"{split}_predictions.npz"


def _wrist_relative(kp3d: np.ndarray) -> np.ndarray:
    """(N, J, 3) points less their own hand's wrist (each block of 21 joints), in float32: what
    the codecs give as ``kp3d_rel`` beside ``kp3d`` (``handlib.codecs.heatmap3d``,
    ``depth_crop``)."""
    hands = kp3d.reshape(len(kp3d), -1, NUM_JOINTS, 3)
    return (hands - hands[:, :, WRIST:WRIST + 1]).reshape(kp3d.shape)


def compact_record(record: dict[str, Any]) -> dict[str, np.ndarray]:
    """The arrays of a prediction record that :func:`write_predictions` stores: the keys of
    :data:`RECORD_KEYS` that it has, float arrays as float32 (float16 for
    :data:`HALF_PRECISION_KEYS`), and ``kp3d_rel_pred`` left out (listed under ``derived``)
    when it equals, bit for bit, ``kp3d_pred`` less its wrist, which :func:`read_predictions`
    then derives."""
    out = {}
    for key in RECORD_KEYS:
        if key in record:
            value = np.asarray(record[key])
            if value.dtype.kind == "f":
                value = value.astype(np.float16 if key in HALF_PRECISION_KEYS else np.float32)
            out[key] = value
    if ("kp3d_pred" in out and "kp3d_rel_pred" in out
            and out["kp3d_pred"].ndim == 3 and out["kp3d_pred"].shape[1] % NUM_JOINTS == 0
            and np.array_equal(_wrist_relative(out["kp3d_pred"]), out["kp3d_rel_pred"],
                               equal_nan=True)):
        del out["kp3d_rel_pred"]
        out[_DERIVED] = np.array(["kp3d_rel_pred"])
    return out


def write_predictions(path: Path, record: dict[str, np.ndarray], config_hash: str,
                      split: str | None = None) -> None:
    """Save a prediction record in run folder ``path``, stamped with ``config_hash``: on the
    run's test split, or on ``split``; compactly (:func:`compact_record`)."""
    write_npz_atomic(path / predictions_file(split),
                     {**compact_record(record), "config_hash": np.array(config_hash)})


def read_predictions(path: Path, config_hash: str,
                     split: str | None = None) -> dict[str, np.ndarray] | None:
    """The prediction record saved in run folder ``path`` by the configuration ``config_hash``
    (on the test split, or on ``split``); ``None`` when there is none or it was written by
    another configuration (stale). Half-precision arrays come back as float32 and derived keys
    are derived; a file written before records were compacted reads with all its keys."""
    file = path / predictions_file(split)
    if not file.is_file():
        return None
    try:
        with np.load(file) as stored:
            record = {key: stored[key] for key in stored.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:
        raise ValueError(f"prediction record {file} cannot be read ({error}): delete it and "
                         "re-run the notebook that writes it") from error
    if str(record.pop("config_hash", "")) != config_hash:
        return None
    derived = [str(key) for key in record.pop(_DERIVED, [])]
    if derived not in ([], ["kp3d_rel_pred"]):
        raise ValueError(f"prediction record {file} lists derived keys {derived} this version "
                         "cannot derive: delete it and re-run the notebook that writes it")
    if derived:
        record["kp3d_rel_pred"] = _wrist_relative(record["kp3d_pred"])
    return {key: value.astype(np.float32) if value.dtype == np.float16 else value
            for key, value in record.items()}
