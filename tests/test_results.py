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
