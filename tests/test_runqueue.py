"""The run queue (handlib.runqueue), rehearsed on the CPU: packs that round-trip, the smoke profile
cut by a deadline and resumed, the canary's bf16 autocast and torch.compile, several processes,
submitit's local executor, and the book page's own command, whose packs a notebook then reads."""
from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from handlib import canary, packs, results, runqueue, study
from handlib.cli import main
from handlib.paths import results_root

REPO = Path(__file__).resolve().parents[1]
#: The chapter the rehearsals queue: the fewest smoke runs' worth of work of one model family.
CHAPTER = "crossinfonet"


def _write(relative: str, data: bytes) -> None:
    path = results_root() / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def _incompressible(size: int, seed: int) -> bytes:
    return np.random.default_rng(seed).integers(0, 256, size, dtype=np.uint8).tobytes()


# ----------------------------------------------------------------------------- packs


def test_a_pack_splits_into_parts_under_the_limit_and_round_trips(tmp_path, monkeypatch):
    names = [f"msff/gpu/run{k}/test_predictions.npz" for k in range(5)]
    for k, name in enumerate(names):
        _write(name, _incompressible(40_000, k))
    _write("msff/gpu/run0/run.json", json.dumps({"a": list(range(500))}).encode())
    files = [*names, "msff/gpu/run0/run.json"]
    written = packs.pack(files, tmp_path / "out", profile="gpu", max_bytes=100_000)
    assert 3 <= len(written) <= packs.PACK_MAX_FILES
    assert all(p.stat().st_size <= 100_000 for p in written)
    originals = {name: (results_root() / name).read_bytes() for name in files}

    monkeypatch.setenv("HANDLIB_RESULTS", str(tmp_path / "elsewhere"))
    counts = packs.unpack([tmp_path / "out"])
    assert counts == {"parts": len(written), "files": len(files), "unchanged": 0}
    assert {name: (results_root() / name).read_bytes() for name in files} == originals
    assert packs.unpack([tmp_path / "out"])["unchanged"] == len(files)


def test_a_pack_that_cannot_fit_is_refused_before_anything_is_written(tmp_path):
    names = [f"rcsf/gpu/run{k}/test_predictions.npz" for k in range(3)]
    for k, name in enumerate(names):
        _write(name, _incompressible(60_000, k))
    with pytest.raises(ValueError, match=r"do not fit in 2 files .*largest: rcsf/gpu/run"):
        packs.pack(names, tmp_path / "out", profile="gpu", max_files=2, max_bytes=100_000)
    assert not (tmp_path / "out").exists()


def test_unpack_refuses_a_damaged_pack_and_names_a_missing_part(tmp_path):
    for k in range(2):
        _write(f"msff/gpu/run{k}/test_predictions.npz", _incompressible(60_000, k))
    written = packs.pack([f"msff/gpu/run{k}/test_predictions.npz" for k in range(2)],
                          tmp_path / "out", profile="gpu", max_bytes=100_000)
    assert len(written) == 2
    with pytest.raises(ValueError, match="only 1 of the 2 parts"):
        packs.unpack([written[0]])
    damaged = tmp_path / "damaged" / written[0].name
    damaged.parent.mkdir()
    with zipfile.ZipFile(written[0]) as source, zipfile.ZipFile(damaged, "w") as target:
        for info in source.infolist():
            data = source.read(info)
            target.writestr(info, data if info.filename == packs.MANIFEST else data[::-1])
    with pytest.raises(ValueError, match="does not match its manifest's SHA-256"):
        packs.unpack([damaged])


def test_unpack_writes_nothing_outside_the_results(tmp_path):
    evil = tmp_path / "results-gpu-1-of-1.zip"
    with zipfile.ZipFile(evil, "w") as archive:
        archive.writestr(packs.MANIFEST, json.dumps(
            {"profile": "gpu", "part": 1, "parts": 1, "files": {"../evil.txt": "0" * 64}}))
        archive.writestr("../evil.txt", b"x")
    with pytest.raises(ValueError, match="outside"):
        packs.unpack([evil])


def test_unpack_refuses_a_truncated_pack_and_a_missing_one(tmp_path):
    _write("msff/gpu/run0/run.json", b"{}")
    made = packs.pack(["msff/gpu/run0/run.json"], tmp_path / "out", profile="gpu")
    truncated = tmp_path / "cut" / made[0].name
    truncated.parent.mkdir()
    truncated.write_bytes(made[0].read_bytes()[:40])
    with pytest.raises(ValueError, match="is not a zip file .*copy it again"):
        packs.unpack([truncated])
    with pytest.raises(FileNotFoundError, match="does not exist"):
        packs.unpack([tmp_path / "nowhere.zip"])


def test_unpack_refuses_a_zip_that_is_not_a_pack(tmp_path):
    other = tmp_path / "results-gpu-1-of-1.zip"
    with zipfile.ZipFile(other, "w") as archive:
        archive.writestr("a.txt", b"x")
    with pytest.raises(ValueError, match="no manifest.json"):
        packs.unpack([other])


@pytest.mark.parametrize("text, seconds", [("540", 540), ("540s", 540), ("9m", 540),
                                           ("1.5h", 5400)])
def test_durations(text, seconds):
    assert runqueue.parse_duration(text) == seconds


@pytest.mark.parametrize("argv, message", [
    (["--deadline", "soon"], "give a duration from now"),
    (["--gpus", "0"], "--gpus 0: give the number of GPUs"),
])
def test_the_run_command_refuses_bad_values_before_any_work(argv, message, capsys, monkeypatch):
    monkeypatch.setattr(runqueue, "make_plan", lambda *a, **k: pytest.fail("it planned"))
    assert main(["queue", "run", "--profile", "smoke", *argv]) == 2
    assert message in capsys.readouterr().err


def test_a_bad_duration_says_what_to_give():
    with pytest.raises(ValueError, match="e.g. 540s, 9m or 1.5h"):
        runqueue.parse_duration("nine minutes")


# ----------------------------------------------------------------------------- the plan


def test_the_plan_is_the_prefill_then_every_run_then_the_benches():
    plan = runqueue.make_plan("smoke", [CHAPTER, "msff"])
    kinds = [item.kind for item in plan.items]
    assert kinds[0] == "prefill" and kinds[-2:] == ["bench", "bench"]
    assert set(kinds[1:-2]) == {"run"}
    expected = [f"{chapter}:{run.run_id}" for chapter in (CHAPTER, "msff")
                for run in study.study_runs(plan.configs[chapter])]
    assert [item.key for item in plan.items if item.kind == "run"] == expected
    assert all(item.pflop > 0 for item in plan.items if item.kind == "run")
    assert plan.item(expected[3]).run.run_id == expected[3].split(":", 1)[1]
    with pytest.raises(ValueError, match="has no item 'nope'"):
        plan.item("nope")
    with pytest.raises(ValueError, match="the queue trains the paper chapters"):
        runqueue.make_plan("smoke", ["engine"])


def test_the_plan_command_prints_every_item_and_each_chapters_estimate(capsys):
    assert main(["queue", "plan", "--profile", "smoke", "--chapter", CHAPTER]) == 0
    printed = capsys.readouterr().out
    plan = runqueue.make_plan("smoke", [CHAPTER])
    assert all(item.key in printed for item in plan.items)
    assert study.training_estimate(plan.configs[CHAPTER])["text"] in printed


def test_the_estimate_takes_the_rate_this_device_measured(monkeypatch):
    plan = runqueue.make_plan("smoke", [CHAPTER])
    run = next(item for item in plan.items if item.kind == "run")
    assumed = runqueue.estimator(plan, "some GPU")(run)
    assert assumed == pytest.approx(run.pflop * 1e3 / runqueue.ASSUMED_TFLOPS["cpu"]
                                    + runqueue.ITEM_OVERHEAD_S)
    # a lease on that device ran a run of 2 PFLOP in 10 s: 200 TFLOP/s
    results.write_json_atomic(results_root() / "queue" / "smoke" / "lease-1.json", {
        "device_name": "some GPU", "items": [
            {"key": "x", "kind": "run", "status": "done", "pflop": 2.0, "wall_s": 10.0},
            {"key": "prefill", "kind": "prefill", "status": "done", "pflop": 0.0,
             "wall_s": 3.0}]})
    estimate = runqueue.estimator(plan, "some GPU")
    assert estimate(run) == pytest.approx(run.pflop * 1e3 / 200 + runqueue.ITEM_OVERHEAD_S)
    assert estimate(plan.items[0]) == 3.0  # the pre-fill: its last wall time there
    assert runqueue.estimator(plan, "another GPU")(run) == pytest.approx(assumed)


def test_preflight_counts_results_made_by_other_code_and_refuses_a_full_disk(monkeypatch):
    plan = runqueue.make_plan("smoke", [CHAPTER])
    run = next(item for item in plan.items if item.kind == "run").run
    folder = results.run_dir(CHAPTER, "smoke", run.run_id)
    results.write_run(folder, history=pd.DataFrame({"epoch": [1]}),
                      metrics={}, provenance={"config_hash": "made-by-other-code"})
    checks = runqueue.preflight(plan, canary_check=False)
    runs = checks["runs"]
    assert runs["made by other code (retrained)"] == 1 and runs["made by this code"] == 0
    assert runs["not here"] == len([i for i in plan.items if i.kind == "run"]) - 1
    assert not checks["problems"]

    monkeypatch.setattr(runqueue, "MIN_FREE_DISK_GIB", 1e9)
    with pytest.raises(ValueError, match=r"(?s)pre-flight refused to start:.*GiB free in the cache"):
        runqueue.run_queue(plan, canary_check=False, echo=lambda line: None,
                           execute=lambda *a, **k: pytest.fail("an item ran"))


# ----------------------------------------------------------------------------- the queue


class StoppedClock:
    """A clock that moves only when the queue finishes an item, by that item's estimate: a
    deadline then cuts the queue at the same item on any machine."""

    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _estimate(item: runqueue.Item) -> float:
    return 100.0 if item.kind == "run" else 0.0


def _predictions(plan: runqueue.Plan, item: runqueue.Item) -> bytes:
    return (results.run_dir(item.chapter, plan.profile, item.run.run_id)
            / results.PREDICTIONS_FILE).read_bytes()


@pytest.mark.slow
def test_the_smoke_queue_cut_by_its_deadline_resumes_to_the_whole_finished_set():
    plan = runqueue.make_plan("smoke", [CHAPTER])
    runs = [item for item in plan.items if item.kind == "run"]
    clock = StoppedClock()

    def execute(plan, item, **options):
        outcome = runqueue.execute_item(plan, item, **options)
        clock.now += _estimate(item)
        return outcome

    # the pre-fill and two runs fit in 250 s of estimates; the third run would end at 300 s
    first = runqueue.run_queue(plan, deadline_s=250, canary_check=False, clock=clock,
                               execute=execute, estimate=_estimate, echo=lambda line: None)
    done_first = [entry["key"] for entry in first.log["items"]]
    assert done_first[:3] == ["prefill", runs[0].key, runs[1].key]
    assert [entry["key"] for entry in first.log["left"]] == [item.key for item in runs[2:]]
    assert [runqueue.is_done(plan, item) for item in runs] == [True, True] + [False] * len(runs[2:])
    assert all(not runqueue.checkpoint_of(item.run).is_file() for item in runs[:2])
    before = _predictions(plan, runs[0])

    second = runqueue.run_queue(plan, canary_check=False, echo=lambda line: None)
    assert [entry["key"] for entry in second.log["items"] if entry["kind"] == "run"] == \
        [item.key for item in runs[2:]]
    assert not second.log["left"]
    assert all(runqueue.is_done(plan, item) for item in plan.items if item.kind != "prefill")
    assert _predictions(plan, runs[0]) == before  # the finished runs were not touched
    assert all(record is not None for record in study.load_study(plan.configs[CHAPTER])
               .predictions.values())
    logged = runqueue.lease_logs("smoke")
    assert len(logged) == 2 and all(entry["wall_s"] > 0 for entry in logged[0]["items"])


@pytest.mark.slow
def test_the_canary_trains_with_bf16_autocast_and_compile_on_the_cpu_and_resumes(monkeypatch):
    compiled = []
    import torch

    real_compile = torch.compile

    def counting_compile(model, *args, **kwargs):
        compiled.append(type(model).__name__)
        return real_compile(model, *args, **kwargs)

    monkeypatch.setattr(torch, "compile", counting_compile)
    plan = runqueue.make_plan("smoke", [CHAPTER], device="cpu")
    lines = []
    found = runqueue.canary(plan, echo=lines.append)
    assert found["ok"], found
    family = next(iter(found["families"]))
    assert found["families"][family]["predicted"] > 0
    assert found["families"][family]["resume_max_weight_gap"] <= canary.RESUME_TOLERANCE
    assert compiled, "the canary did not go through torch.compile"
    assert runqueue.canary(plan, echo=lines.append) == found
    assert "skipped" in lines[-1]


@pytest.mark.slow
@pytest.mark.parametrize("executor", ["local", "submitit-local"])
def test_the_runs_go_to_other_processes_one_item_each(executor):
    if executor == "submitit-local":
        pytest.importorskip("submitit", reason="submitit (the test extra) is not installed")
    plan = runqueue.make_plan("smoke", [CHAPTER])
    plan.items = plan.items[:4]  # the pre-fill and three runs: the third waits for a process
    lease = runqueue.run_queue(plan, canary_check=False, executor=executor, gpus=2,
                               echo=lambda line: None)
    runs = [item for item in plan.items if item.kind == "run"]
    assert sorted(e["key"] for e in lease.log["items"] if e["kind"] == "run") == \
        sorted(item.key for item in runs)
    assert all(e["status"] == "done" for e in lease.log["items"])
    assert all(runqueue.is_done(plan, item) for item in runs)


# ----------------------------------------------------------------------------- the page's command


def _run(command: str, env: dict) -> subprocess.CompletedProcess:
    words = shlex.split(command)
    assert words[0] == "python3"  # the page's command; here with this test's interpreter
    done = subprocess.run([sys.executable, *words[1:]], cwd=REPO, env=env, capture_output=True,
                          text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


@pytest.mark.slow
def test_the_pages_command_packs_results_that_a_notebook_reads_without_training(tmp_path,
                                                                              monkeypatch):
    papermill = pytest.importorskip("papermill")
    env = {**os.environ, "PYTHONPATH": str(REPO), "HANDLIB_CPU_THREADS": "1"}
    out = tmp_path / "packs"
    command = runqueue.queue_command("smoke", out=str(out),
                                     options=("--chapter", CHAPTER, "--no-canary"))
    _run(command, env)
    written = sorted(out.glob("results-smoke-*.zip"))
    assert 1 <= len(written) <= packs.PACK_MAX_FILES

    # another machine: empty results and cache, the packs unpacked, the chapter built
    env |= {"HANDLIB_RESULTS": str(tmp_path / "book-results"),
            "HANDLIB_CACHE": str(tmp_path / "book-cache")}
    _run(runqueue.unpack_command(str(out)), env)
    notebook = REPO / "notebooks" / "14_crossinfonet.ipynb"
    for key in ("HANDLIB_RESULTS", "HANDLIB_CACHE"):
        monkeypatch.setenv(key, env[key])
    papermill.execute_notebook(str(notebook), str(tmp_path / "out.ipynb"),
                               parameters={"profile": "smoke"}, cwd=str(notebook.parent),
                               kernel_name="python3", progress_bar=False)
    checkpoints = tmp_path / "book-cache" / "checkpoints"
    assert not checkpoints.exists() or not any(checkpoints.iterdir()), \
        "the notebook trained although the packs held every run"
