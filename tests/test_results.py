"""Result files: atomic writes (also when the writer is killed), provenance, reading back."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import numpy as np
import pandas as pd
import pytest

from handlib import results


def test_json_round_trip_with_numpy_values(tmp_path):
    path = tmp_path / "deep" / "metrics.json"
    values = {"pck": np.float32(0.5), "n": np.int64(3), "curve": np.arange(3)}
    results.write_json_atomic(path, values)
    assert json.loads(path.read_text()) == {"pck": 0.5, "n": 3, "curve": [0, 1, 2]}


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "metrics.json"
    results.write_json_atomic(path, {"pck": 0.5})
    with pytest.raises(TypeError, match="cannot write object"):
        results.write_json_atomic(path, {"pck": 0.9, "z_late": object()})  # fails mid-write
    assert json.loads(path.read_text()) == {"pck": 0.5}
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.json"]


def test_a_killed_writer_never_leaves_a_half_written_result(tmp_path):
    """The writer process is SIGKILLed halfway through serialising; the file keeps its old
    complete content (only an ignorable hidden temporary may remain)."""
    path = tmp_path / "run.json"
    script = textwrap.dedent(
        f"""
        import os, signal
        from handlib.results import write_json_atomic

        class KilledHalfway(dict):
            def items(self):
                yield "first", 1
                os.kill(os.getpid(), signal.SIGKILL)

        write_json_atomic({str(path)!r}, {{"complete": True}})
        write_json_atomic({str(path)!r}, {{"a": list(range(1000)), "b": KilledHalfway(x=1)}})
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True)
    assert done.returncode == -9
    assert json.loads(path.read_text()) == {"complete": True}
    leftovers = [p.name for p in tmp_path.iterdir() if p.name != "run.json"]
    assert all(name.startswith(".run.json.") and name.endswith(".tmp") for name in leftovers)


def test_written_files_are_readable_by_others(tmp_path):
    """Result files follow the umask (0644 under 022), not tempfile's private 0600: whoever
    serves or builds the book must be able to read them."""
    import os
    import stat

    old = os.umask(0o022)
    try:
        results.write_json_atomic(tmp_path / "m.json", {"a": 1})
        results.write_npz_atomic(tmp_path / "p.npz", {"x": np.arange(3)})
        results.atomic_write(tmp_path / "c.bin", lambda f: f.write(b"x"), binary=True)
    finally:
        os.umask(old)
    for name in ("m.json", "p.npz", "c.bin"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o644, name


def test_every_writer_uses_the_one_atomic_helper():
    """No module writes a result, prediction or checkpoint by its own temporary-file dance."""
    from pathlib import Path

    package = Path(results.__file__).parent
    offenders = [str(p.relative_to(package)) for p in package.rglob("*.py")
                 if p.name != "results.py" and ("os.replace(" in p.read_text()
                                                or "mkstemp(" in p.read_text())]
    assert not offenders, f"write through handlib.results.atomic_write instead: {offenders}"


def test_provenance_records_what_made_the_run():
    record = results.provenance(
        config={"model": {"name": "m"}}, config_hash="abc", code_hash="def", device="cpu",
        dataset={"source": "synthetic", "generator_version": "1"}, wall_time_s=2.0,
        throughput=10.0,
    )
    commit = record["git"]["commit"]
    assert commit is None or (len(commit) == 40 and int(commit, 16) >= 0)
    assert record["git"]["dirty"] in (True, False, None)
    assert record["git"]["commit_source"] in ("git", "env", "none")
    assert record["device_name"].startswith("CPU: ")
    assert set(record["libraries"]) >= {"python", "torch", "numpy", "handlib"}
    assert record["config"] == {"model": {"name": "m"}} and record["config_hash"] == "abc"
    assert record["code_hash"] == "def"
    assert record["wall_time_s"] == 2.0 and record["train_samples_per_s"] == 10.0
    json.dumps(record)  # serialisable as it is


def _write(experiment: str, run: str, pck: float) -> None:
    history = pd.DataFrame({"epoch": [1, 2], "loss": [1.0, 0.5], "val_pck@0.2": [0.1, pck]})
    record = results.provenance(
        config={"model": {"name": f"model_{run}"}}, config_hash=run * 4, code_hash="c", device="cpu",
        dataset={}, wall_time_s=1.0, throughput=5.0,
    )
    results.write_run(
        results.run_dir(experiment, "smoke", run), history=history,
        metrics={"pck@0.2": pck, "epe_px": 3.0}, provenance=record,
    )


def test_runs_read_back_into_pandas(tmp_path, monkeypatch):
    monkeypatch.setenv("HANDLIB_RESULTS", str(tmp_path))
    _write("exp", "a", 0.4)
    _write("exp", "b", 0.6)
    (tmp_path / "exp" / "smoke" / "unfinished").mkdir()  # no run.json: not a finished run
    table = results.load_runs("exp", "smoke")
    assert list(table.index) == ["a", "b"]
    assert list(table["pck@0.2"]) == [0.4, 0.6]
    assert list(table["model"]) == ["model_a", "model_b"]
    assert (table["config_hash"] == ["aaaa", "bbbb"]).all()
    run = results.load_run("exp", "smoke", "b")
    assert list(run["history"]["val_pck@0.2"]) == [0.1, 0.6]
    assert run["metrics"]["epe_px"] == 3.0
    assert results.load_runs("exp", "cpu").empty
    with pytest.raises(FileNotFoundError, match="no finished run"):
        results.load_run("exp", "smoke", "unfinished")


# ----------------------------------------------------------------------------- compact records


def realistic_record(n: int, hands: int, seed: int = 0) -> dict[str, np.ndarray]:
    """A prediction record as ``engine.predict`` writes one, with realistic values: keypoints in
    a 256 px frame and camera mm (wrists 300-900 mm away), predictions a few px / mm off,
    ``kp3d_rel_pred`` derived from ``kp3d_pred`` as the 3D codecs do; two-hand keys too."""
    from handlib.skeleton import NUM_JOINTS, WRIST

    rng = np.random.default_rng(seed)
    joints, f32 = NUM_JOINTS * hands, np.float32
    kp2d = rng.uniform(40, 216, (n, joints, 2)).astype(f32)
    wrists = np.stack([rng.uniform(-100, 100, (n, hands)), rng.uniform(-100, 100, (n, hands)),
                       rng.uniform(300, 900, (n, hands))], axis=-1)
    kp3d = (np.repeat(wrists, NUM_JOINTS, axis=1) + rng.normal(0, 40, (n, joints, 3))).astype(f32)
    kp3d_pred = (kp3d + rng.normal(0, 15, kp3d.shape)).astype(f32)
    per_hand = kp3d_pred.reshape(n, hands, NUM_JOINTS, 3)
    visible = rng.random((n, joints)) < 0.7
    crop = np.tile(np.diag([0.5, 0.5, 1.0]), (n, 1, 1)).astype(f32)
    crop[:, :2, 2] = rng.uniform(-50, 0, (n, 2))
    record = {
        "kp2d_pred": (kp2d + rng.normal(0, 4, kp2d.shape)).astype(f32),
        "confidence": rng.uniform(0, 1, (n, joints)).astype(f32),
        "kp3d_pred": kp3d_pred,
        "kp3d_rel_pred": (per_hand - per_hand[:, :, WRIST:WRIST + 1]).reshape(kp3d.shape),
        "index": np.arange(n), "kp2d": kp2d, "labelled": np.ones((n, joints), bool),
        "in_frame": rng.random((n, joints)) < 0.97, "visible": visible,
        "visibility_kind": np.where(visible, 0, rng.integers(1, 4, (n, joints))).astype(np.int8),
        "norm_size": rng.uniform(60, 150, n).astype(f32), "kp3d": kp3d, "crop": crop,
        "mirrored": rng.random(n) < 0.5,
    }
    if hands == 2:
        record.update(hand_valid=rng.random((n, 2)) < 0.9,
                      hand_type_pred=rng.uniform(0, 1, (n, 2)).astype(f32),
                      rel_root=rng.normal(0, 60, (n, 3)).astype(f32),
                      rel_root_pred=rng.normal(0, 60, (n, 3)).astype(f32),
                      root_depth=rng.normal(0, 60, n).astype(f32),
                      root_depth_pred=rng.normal(0, 60, n).astype(f32))
    return record


EVAL_SPEC = {"metric": ["pck2d", "epe3d", "mpjpe", "pck3d", "mean3d", "success", "angle3d"],
             "joints": "visible", "gt_scale": True}


def same_metrics(first: dict, second: dict) -> bool:
    from handlib.metrics import evaluate_record

    a, b = evaluate_record(first, EVAL_SPEC), evaluate_record(second, EVAL_SPEC)
    return set(a) == set(b) and all(
        (np.isnan(a[k]) and np.isnan(b[k])) or a[k] == pytest.approx(b[k], rel=1e-6, abs=1e-12)
        for k in a)


@pytest.mark.parametrize("hands", [1, 2])
def test_a_compact_record_gives_the_same_metrics_in_a_smaller_file(tmp_path, hands):
    record = realistic_record(500, hands)
    results.write_predictions(tmp_path / "new", record, "abc")
    results.write_npz_atomic(tmp_path / "old" / results.PREDICTIONS_FILE,  # the former format
                             {**record, "config_hash": np.array("abc")})
    loaded = results.read_predictions(tmp_path / "new", "abc")
    assert same_metrics(loaded, record)
    assert set(loaded) == set(record) - {"root_depth", "root_depth_pred"}
    assert np.array_equal(loaded["kp3d_rel_pred"], record["kp3d_rel_pred"])  # derived exactly
    assert loaded["confidence"].dtype == np.float32
    assert np.abs(loaded["confidence"] - record["confidence"]).max() < 1e-3   # half precision
    with np.load(tmp_path / "new" / results.PREDICTIONS_FILE) as stored:
        assert stored["confidence"].dtype == np.float16 and "kp3d_rel_pred" not in stored.files
    new, old = (tmp_path / name / results.PREDICTIONS_FILE for name in ("new", "old"))
    assert new.stat().st_size < 0.8 * old.stat().st_size


def test_float64_keypoints_keep_a_hundredth_of_a_pixel_and_a_millimetre(tmp_path):
    """Stored as float32, keypoints up to 4096 px and 8000 mm (beyond any frame or depth range of
    the datasets) come back within a thousandth of a pixel / millimetre."""
    record = {key: value.astype(np.float64) if value.dtype == np.float32 else value
              for key, value in realistic_record(50, 1).items()}
    record["kp2d"] *= 4096 / record["kp2d"].max()
    record["kp3d"] *= 8000 / record["kp3d"].max()
    results.write_predictions(tmp_path, record, "abc")
    loaded = results.read_predictions(tmp_path, "abc")
    assert loaded["kp2d"].dtype == np.float32
    for key in ("kp2d", "kp3d", "kp2d_pred", "kp3d_pred", "kp3d_rel_pred"):
        assert np.abs(loaded[key] - record[key]).max() < 1e-3, key
    assert same_metrics(loaded, record)


def test_a_relative_pose_that_is_not_the_absolute_one_less_its_wrist_is_stored(tmp_path):
    record = realistic_record(20, 1)
    record["kp3d_rel_pred"] = record["kp3d_rel_pred"] + np.float32(1.0)  # e.g. a floor's pose
    results.write_predictions(tmp_path, record, "abc")
    loaded = results.read_predictions(tmp_path, "abc")
    assert np.array_equal(loaded["kp3d_rel_pred"], record["kp3d_rel_pred"])


def test_old_records_with_more_keys_still_read(tmp_path):
    record = realistic_record(30, 2)
    results.write_npz_atomic(tmp_path / results.PREDICTIONS_FILE,
                             {**record, "extra": np.zeros(30), "config_hash": np.array("abc")})
    loaded = results.read_predictions(tmp_path, "abc")
    assert set(loaded) == set(record) | {"extra"} and same_metrics(loaded, record)
    results.write_npz_atomic(tmp_path / results.PREDICTIONS_FILE,
                             {**record, "derived": np.array(["kp9d"]),
                              "config_hash": np.array("abc")})
    with pytest.raises(ValueError, match=r"derived keys \['kp9d'\] .*delete it"):
        results.read_predictions(tmp_path, "abc")


# ----------------------------------------------------------------------------- the commit


def test_a_tree_without_git_takes_its_commit_from_the_environment(tmp_path, monkeypatch):
    """A copy of the tree without .git (as on a lent GPU machine), here inside a git repository
    of its own: the outer repository's commit is never taken for the tree's."""
    import shutil

    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    outer = tmp_path / "outer"
    tree = outer / "copied-tree"
    tree.mkdir(parents=True)
    for args in (["init", "-q"], ["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q",
                                  "--allow-empty", "-m", "x"]):
        subprocess.run(["git", "-C", str(outer), *args], check=True, capture_output=True)
    outer_state = results.git_state(outer)
    assert outer_state["commit_source"] == "git" and len(outer_state["commit"]) == 40
    monkeypatch.delenv("HANDLIB_COMMIT", raising=False)
    monkeypatch.delenv("HANDLIB_DIRTY", raising=False)
    assert results.git_state(tree) == {"commit": None, "dirty": None, "commit_source": "none"}
    sha = "0123456789abcdef0123456789abcdef01234567"
    monkeypatch.setenv("HANDLIB_COMMIT", sha)
    assert results.git_state(tree) == {"commit": sha, "dirty": None, "commit_source": "env"}
    monkeypatch.setenv("HANDLIB_DIRTY", "1")
    assert results.git_state(tree) == {"commit": sha, "dirty": True, "commit_source": "env"}
    assert results.git_state(outer)["commit"] == outer_state["commit"]  # git wins where it is
    monkeypatch.setenv("HANDLIB_DIRTY", "yes")
    with pytest.raises(ValueError, match="HANDLIB_DIRTY='yes' must be 0"):
        results.git_state(tree)
    monkeypatch.setenv("HANDLIB_COMMIT", "not-a-sha")
    with pytest.raises(ValueError, match="HANDLIB_COMMIT='not-a-sha' is not a git commit"):
        results.git_state(tree)
