"""The run queue: every item of a profile's chapters, in a fixed order, resumable, under a deadline.

A GPU comes to this project in short leases (minutes, on a bare machine, results carried back in
a few files), and a user's cluster in jobs of a few hours. Both want the same thing: do the
profile's work in a fixed order, skip what is done, start nothing that cannot finish in the
time left, and bring the results home. ``handlib queue run --profile gpu`` does that:

1. **Pre-flight** (:func:`preflight`): Python, torch, CUDA and device, free disk, whether the
   torch/CUDA found can run the profile (``handlib.runconfig.check_runtime``), and the code
   hash of this tree against the results already here (a result made by other code is
   retrained, so a lease that would redo committed work says so before it starts).
2. **Canary** (:func:`canary`, ``handlib.canary``, on a device the queue has not seen with this
   code): one short
   training of each model family of the plan at toy size with the profile's fast path (bf16
   autocast, channels-last) and ``torch.compile``, one prediction, and one interrupted run
   resumed from its checkpoint, compared with the uninterrupted one. A failure stops the queue
   before any real item starts.
3. **Items** (:func:`make_plan`), in this order: the data pre-fill (every synthetic shard of
   every run, rendered across all cores, ``handlib.data.prefill``); then, chapter by chapter
   (:data:`CHAPTERS` order), each study run (train or resume, predict its test splits, make its
   occlusion-benchmark records when the benchmark evaluates it, then delete its checkpoint,
   which is only a cache once its predictions are written); then each chapter's speed bench.
   An item is done when its results carry the current configuration's hash (code included), so
   a second call skips it and an interrupted one resumes it from its checkpoint.
4. **Deadline**: an item starts only when its estimate (:func:`estimator`) fits in the time
   left before ``--deadline``; what does not fit is listed for the next slice. Estimates come
   from the models' counted FLOPs (``handlib.study.estimate_runs``) at the rate this device
   measured on the queue's earlier items (the lease logs), or the assumed rate of its kind
   until it has measured one.
5. **Log and pack**: each item's wall time, training samples/s and peak GPU memory go to the
   lease log, ``<results>/queue/<profile>/lease-<time>.json``, rewritten after each item. With
   ``--out DIR`` the result files this lease wrote are packed (``handlib.packs``) into at most
   seven zip files of at most 15 MiB each, each with a manifest of SHA-256 sums; ``handlib
   queue unpack DIR`` checks and writes them into ``book/results/`` here.

**Beyond one process.** ``--gpus N`` runs the study runs on N GPUs of one machine, one item per
GPU (each in its own process, ``CUDA_VISIBLE_DEVICES`` set), and ``--executor slurm`` submits
each run as a Slurm job through submitit (``--executor submitit-local`` runs the same jobs as
local processes: the tests use it). Every item writes atomically and resumes, so any mix of
these can be stopped and restarted.

Length: one module for the queue's one story, from the plan to the command line (the items and
when they are done, their estimates, the lease and its log, the executors, the pre-flight); the
canary and the packs, which stand on their own, are ``handlib.canary`` and ``handlib.packs``.
"""
from __future__ import annotations

import datetime
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import yaml

from handlib import engine, models, occlusion, papers, results, study
from handlib.bench import H100_SUSTAINED_TFLOPS
from handlib.canary import run_canary
from handlib.data.prefill import prefill
from handlib.packs import pack, sha256_file, unpack
from handlib.paths import cache_dir, results_root
from handlib.profiles import deep_merge, load_profile, tiny_overrides
from handlib.runconfig import check_device, check_runtime, detect_runtime
from handlib.runtime import available_cores

#: The chapters whose runs the queue trains, in the book's order.
CHAPTERS: tuple[str, ...] = tuple(papers.PAPERS)
#: The folder (under the results root) of the queue's own records: lease logs and the canary.
QUEUE_FOLDER = "queue"
CANARY_FILE = "canary.json"
#: Assumed training rates (TFLOP/s of counted model FLOPs: 3 x forward per training sample, 1 x
#: per predicted one) until this device has measured its own on a finished item. CUDA: the gpu
#: profiles' stated H100 assumption (``handlib.bench``). CPU: 2 cores of this project's build
#: machine, measured on the cold cpu build of issue 30 (counted training FLOPs over training wall
#: time: 0.015 RCSF to 0.061 ResUnet per chapter, 0.034 over all five).
ASSUMED_TFLOPS = {"cuda": H100_SUSTAINED_TFLOPS, "cpu": 0.034}
#: Seconds each item costs beyond its model FLOPs (building datasets and models, process
#: start-up, writing results), and the pre-fill's and a bench's guess before a log has them.
ITEM_OVERHEAD_S = 10.0
FIRST_GUESS_S = {"prefill": 120.0, "bench": 120.0}
#: Free disk (GiB) the cache must have: one run's checkpoint at a time, the data shards.
MIN_FREE_DISK_GIB = 4.0


#: The time a lease's command gives the queue's items (``--deadline``): a device command runs at
#: most ten minutes and a lease holds about fifteen, start-up, pre-flight, canary and packing
#: included.
LEASE_DEADLINE = "8m"


def queue_command(profile: str = "gpu", *, deadline: str | None = LEASE_DEADLINE,
                  out: str | None = "$OUT", options: tuple[str, ...] = ()) -> str:
    """The one command that runs a profile's queue from a checkout, installed or not (the
    book's page "Running the book on a GPU" shows it and the tests run it)."""
    words = ["python3", "-m", "handlib", "queue", "run", "--profile", profile, *options]
    words += [] if deadline is None else ["--deadline", deadline]
    return " ".join(words + ([] if out is None else ["--out", out]))


def unpack_command(folder: str = "PACKS") -> str:
    """The command that writes a lease's packs into ``book/results/`` here."""
    return f"python3 -m handlib queue unpack {folder}"


# ----------------------------------------------------------------------------- the plan


@dataclass(frozen=True)
class Item:
    """One unit of the queue's work; ``key`` names it in logs and on the command line."""

    key: str
    kind: str                  # "prefill" | "run" | "bench"
    chapter: str | None = None
    run: study.Run | None = field(default=None, compare=False, repr=False)
    pflop: float = 0.0         # counted model compute (training and predictions)


@dataclass
class Plan:
    """The items of ``profile`` over ``chapters``, with the parameters that built them (what a
    worker process needs to build the same plan)."""

    profile: str
    params: dict
    configs: dict[str, dict]   # chapter -> its settings with the parameters applied
    items: list[Item]
    #: (chapter, run id) of the plan's runs that the occlusion benchmark evaluates
    benchmarked: set[tuple[str, str]] = field(default_factory=set)

    def item(self, key: str) -> Item:
        for item in self.items:
            if item.key == key:
                return item
        raise ValueError(f"the {self.profile} queue has no item {key!r}; its items are "
                         f"{', '.join(i.key for i in self.items)}")


def chapter_config(chapter: str, profile: str, *, data_root=None, seed: int = 0,
                   device: str = "auto", tiny: bool = False) -> dict:
    """The chapter's settings as its notebook resolves them (``study.apply_parameters``); with
    ``tiny``, shrunk by the chapter's ``tiny`` block (``handlib.profiles.tiny_overrides``)."""
    return study.apply_parameters(load_profile(chapter, profile), data_root=data_root, seed=seed,
                                  device=device, overrides=tiny_overrides(chapter) if tiny else None)


def make_plan(profile: str, chapters: list[str] | None = None, *, data_root=None, seed: int = 0,
              device: str = "auto", tiny: bool = False) -> Plan:
    """The queue of ``profile`` over ``chapters`` (default :data:`CHAPTERS`), in order: the
    pre-fill, each chapter's runs, each chapter's bench (see the module doc). The occlusion
    benchmark evaluates the profile's runs as the chapters configure them by default (seed 0,
    full size, synthetic), so only such a plan makes its records."""
    chapters = list(chapters or CHAPTERS)
    unknown = [c for c in chapters if c not in CHAPTERS]
    if unknown:
        raise ValueError(f"the queue trains the paper chapters {', '.join(CHAPTERS)}; "
                         f"got {', '.join(unknown)}")
    params = {"chapters": chapters, "data_root": None if data_root is None else str(data_root),
              "seed": seed, "device": device, "tiny": tiny}
    configs, runs, benches = {}, [], []
    for chapter in chapters:
        cfg = chapter_config(chapter, profile, data_root=data_root, seed=seed, device=device,
                             tiny=tiny)
        configs[chapter] = cfg
        compute = study.estimate_runs(cfg)["PFLOP"]
        runs += [Item(f"{chapter}:{run.run_id}", "run", chapter, run, float(compute[run.run_id]))
                 for run in study.study_runs(cfg)]
        if cfg.get("bench"):
            benches.append(Item(f"{chapter}:bench", "bench", chapter))
    benchmarked = set() if seed != 0 or tiny or data_root is not None else {
        pair for pair in occlusion.benchmarked(profile, device=device) if pair[0] in configs}
    return Plan(profile, params, configs, [Item("prefill", "prefill"), *runs, *benches],
                benchmarked)


def plan_from_params(profile: str, params: dict) -> Plan:
    return make_plan(profile, params["chapters"], data_root=params["data_root"],
                     seed=params["seed"], device=params["device"], tiny=params["tiny"])


# ----------------------------------------------------------------------------- done or not


def checkpoint_of(run: study.Run) -> Path:
    """Where the engine keeps ``run``'s checkpoint (a cache: deleted once its predictions are
    written)."""
    return engine.checkpoint_path(engine.config_hash(engine.resolve_config(run.config)))


def is_done(plan: Plan, item: Item) -> bool:
    """Whether ``item``'s results are here and made by the current configuration and code (the
    pre-fill is never done: it costs nothing when every shard is there)."""
    if item.kind == "run":
        run, chapter = item.run, item.chapter
        folder = results.run_dir(chapter, plan.profile, run.run_id)
        digest = engine.config_hash(run.config)
        finished = results.read_run(folder)
        if finished is None or finished["provenance"]["config_hash"] != digest:
            return False
        if not study.has_test_predictions(run, chapter, plan.profile):
            return False
        if (chapter, run.run_id) in plan.benchmarked:
            return not occlusion.missing_records(plan.profile, chapter, run.run_id,
                                                device=plan.params["device"])
        return True
    if item.kind == "bench":
        cfg = plan.configs[item.chapter]
        return study.bench_is_current(cfg, study.bench_study(cfg, measure=False))
    return False


# ----------------------------------------------------------------------------- one item


def _data_specs(plan: Plan) -> list[tuple[dict, str]]:
    """(data spec, split) of every split every run of the plan reads."""
    specs = []
    for item in plan.items:
        if item.kind != "run":
            continue
        config = engine.resolve_config(item.run.config)
        evaluation = config["eval"]
        for split in {config["train"]["split"], evaluation["split"], evaluation["test_split"],
                      *evaluation["also_test_on"]}:
            specs.append((config["data"], split))
    return specs


def _device_type(plan: Plan) -> str:
    return engine.resolve_device(plan.params["device"]).type


def execute_item(plan: Plan, item: Item, *, keep_checkpoints: bool = False) -> dict:
    """Do ``item`` (see the module doc) and return what it measured: ``wall_s``, ``samples_per_s``
    (training samples per second of a run trained here; ``None`` otherwise), ``peak_gpu_mib``
    (``None`` on CPU) and what it did."""
    cuda = _device_type(plan) == "cuda"
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    done: dict[str, Any] = {}
    if item.kind == "prefill":
        done = prefill(_data_specs(plan))
    elif item.kind == "run":
        run = item.run
        batch = plan.configs[item.chapter]["study"].get("predict_batch_size", 64)
        study.predict_test_split(run, item.chapter, plan.profile, progress=False,
                                 batch_size=batch)
        if (item.chapter, run.run_id) in plan.benchmarked:
            done["occlusion_records"] = occlusion.predict_run(
                plan.profile, item.chapter, run.run_id, device=plan.params["device"])
        provenance = results.load_run(item.chapter, plan.profile, run.run_id)["provenance"]
        done["samples_per_s"] = provenance["train_samples_per_s"]
        done["device_name"] = provenance.get("device_name")
        checkpoint = checkpoint_of(run)
        if not keep_checkpoints and checkpoint.is_file():
            checkpoint.unlink()
            done["checkpoint_deleted"] = True
    elif item.kind == "bench":
        study.bench_study(plan.configs[item.chapter])
    else:
        raise ValueError(f"unknown item kind {item.kind!r}")
    return {"key": item.key, "kind": item.kind, "pflop": item.pflop,
            "wall_s": time.perf_counter() - start,
            "samples_per_s": done.pop("samples_per_s", None),
            "peak_gpu_mib": torch.cuda.max_memory_allocated() / 2**20 if cuda else None,
            **done}


# ----------------------------------------------------------------------------- estimates


def lease_logs(profile: str) -> list[dict]:
    """Every lease log of ``profile`` here, oldest first."""
    folder = results_root() / QUEUE_FOLDER / profile
    return [results.read_json(p) for p in sorted(folder.glob("lease-*.json"))]


def measured_rate(profile: str, device_name: str) -> float | None:
    """TFLOP/s of counted model FLOPs this device sustained over the run items the logs of
    ``profile`` record on it (their compute over their wall time); ``None`` before any."""
    compute = seconds = 0.0
    for log in lease_logs(profile):
        if log.get("device_name") != device_name:
            continue
        for entry in log["items"]:
            if entry.get("kind") == "run" and entry.get("status") == "done" and entry["pflop"]:
                compute += entry["pflop"]
                seconds += entry["wall_s"]
    return compute * 1e3 / seconds if seconds else None


def estimator(plan: Plan, device_name: str) -> Callable[[Item], float]:
    """Seconds each item is expected to take on this device (see the module doc): a run's
    FLOPs at the measured (else the assumed) rate plus :data:`ITEM_OVERHEAD_S`; a pre-fill or a
    bench as long as its last logged wall time here (else :data:`FIRST_GUESS_S`)."""
    rate = measured_rate(plan.profile, device_name) or ASSUMED_TFLOPS[_device_type(plan)]
    last: dict[str, float] = {}
    for log in lease_logs(plan.profile):
        if log.get("device_name") == device_name:
            last.update({e["key"]: e["wall_s"] for e in log["items"] if e.get("status") == "done"})

    def estimate(item: Item) -> float:
        if item.kind == "run":
            return item.pflop * 1e3 / rate + ITEM_OVERHEAD_S
        return last.get(item.key, FIRST_GUESS_S[item.kind])

    return estimate


def parse_duration(text: str) -> float:
    """``"540"``, ``"540s"``, ``"9m"``, ``"1.5h"`` -> seconds; a clear error otherwise."""
    found = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smh]?)\s*", str(text))
    if not found:
        raise ValueError(f"--deadline {text!r}: give a duration from now, e.g. 540s, 9m or 1.5h")
    return float(found.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600}[found.group(2)]


# ----------------------------------------------------------------------------- the lease


def _snapshot(plan: Plan) -> dict[str, str]:
    """Relative path -> SHA-256 of every result file the plan's chapters have here."""
    return {path: sha256_file(results_root() / path) for path in _result_files(plan)}


def _result_files(plan: Plan) -> list[str]:
    root = results_root()
    folders = [root / c / plan.profile for c in plan.params["chapters"]]
    folders += [root / occlusion.EXPERIMENT / plan.profile, root / QUEUE_FOLDER / plan.profile]
    return sorted(str(p.relative_to(root)) for folder in folders if folder.is_dir()
                  for p in folder.rglob("*") if p.is_file() and not p.name.startswith("."))


@dataclass
class Lease:
    """What one call of the queue did: its log (written after each item) and the files it
    changed (what :func:`pack` carries home)."""

    plan: Plan
    log: dict
    path: Path
    before: dict[str, str]

    def save(self) -> None:
        results.write_json_atomic(self.path, self.log)

    def changed_files(self) -> list[str]:
        return [p for p, digest in _snapshot(self.plan).items() if self.before.get(p) != digest]


def open_lease(plan: Plan) -> Lease:
    device = str(engine.resolve_device(plan.params["device"]))
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
    path = results_root() / QUEUE_FOLDER / plan.profile / f"lease-{stamp}.json"
    log = {"profile": plan.profile, "params": plan.params, "started": stamp,
           "device_name": results.device_name(device), "git": results.git_state(),
           "preflight": None, "canary": None, "items": [], "left": []}
    return Lease(plan, log, path, _snapshot(plan))


def run_queue(plan: Plan, *, deadline_s: float | None = None, keep_checkpoints: bool = False,
              canary_check: bool = True, gpus: int = 1, executor: str = "inline",
              slurm: dict | None = None, clock: Callable[[], float] = time.monotonic,
              execute: Callable[..., dict] = execute_item,
              estimate: Callable[[Item], float] | None = None,
              echo: Callable[[str], None] = print) -> Lease:
    """Run ``plan`` (see the module doc): pre-flight, canary, then every item not done whose
    estimate fits before ``deadline_s`` seconds from now; return the lease, its log saved.

    ``executor``: ``inline`` (this process), ``local`` (``gpus`` processes, one item per GPU),
    ``slurm`` or ``submitit-local`` (submitit jobs, one per run). ``clock``, ``execute`` and
    ``estimate`` are the queue's time, its way of doing an item and its estimates (the tests
    give a clock that only moves when an item is done)."""
    lease = open_lease(plan)
    checks = preflight(plan, canary_check=canary_check)
    lease.log["preflight"] = checks
    lease.save()
    echo(preflight_text(checks))
    if checks["problems"]:
        raise ValueError("pre-flight refused to start:\n" + "\n".join(
            f"  - {problem}" for problem in checks["problems"]))
    if canary_check:
        lease.log["canary"] = canary(plan, echo=echo)
        lease.save()
        if not lease.log["canary"]["ok"]:
            raise RuntimeError(f"the canary failed ({lease.log['canary']['failed']}): fix it "
                               f"before the queue spends the lease; see {lease.path}")
    estimate = estimate or estimator(plan, lease.log["device_name"])
    deadline = None if deadline_s is None else clock() + deadline_s
    todo = [item for item in plan.items if item.kind == "prefill" or not is_done(plan, item)]
    echo(f"[queue] {plan.profile}: {len(todo)} of {len(plan.items)} items to do"
         + ("" if deadline is None else f", {deadline_s:.0f} s before the deadline"))

    def fits(item: Item) -> bool:
        return deadline is None or clock() + estimate(item) <= deadline

    def record(item: Item, outcome: dict) -> None:
        lease.log["items"].append(outcome)
        lease.save()
        shown = ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}"
                          for k, v in outcome.items() if k not in ("key", "kind") and v is not None)
        echo(f"[queue] {item.key}: {shown}")

    def run_inline(items: list[Item]) -> None:
        for item in items:
            if not fits(item):
                lease.log["left"].append({"key": item.key, "estimate_s": estimate(item)})
                continue
            outcome = {**execute(plan, item, keep_checkpoints=keep_checkpoints),
                       "estimate_s": estimate(item), "status": "done"}
            record(item, outcome)

    runs = [item for item in todo if item.kind == "run"]
    run_inline([item for item in todo if item.kind == "prefill"])
    if executor == "inline":
        run_inline(runs)
    else:
        outcomes = run_elsewhere(plan, runs, executor=executor, gpus=gpus, slurm=slurm or {},
                                 fits=fits, keep_checkpoints=keep_checkpoints)
        for item in runs:
            if item.key in outcomes:
                record(item, {**outcomes[item.key], "estimate_s": estimate(item)})
            else:
                lease.log["left"].append({"key": item.key, "estimate_s": estimate(item)})
    run_inline([item for item in todo if item.kind == "bench"])
    lease.log["finished"] = datetime.datetime.now(datetime.timezone.utc).isoformat()
    lease.save()
    left = lease.log["left"]
    echo(f"[queue] done {len(lease.log['items'])} items; "
         + (f"{len(left)} left for the next slice: {', '.join(e['key'] for e in left)}"
            if left else "nothing left"))
    return lease


# ----------------------------------------------------------------------------- several GPUs


def _worker_argv(plan: Plan, item: Item, report: Path, keep_checkpoints: bool) -> list[str]:
    command = [sys.executable, "-m", "handlib", "queue", "item", "--profile", plan.profile,
               "--params", json.dumps(plan.params), "--key", item.key, "--report", str(report)]
    return command + (["--keep-checkpoints"] if keep_checkpoints else [])


def execute_by_key(profile: str, params: dict, key: str, keep_checkpoints: bool = False) -> dict:
    """Build the plan ``params`` describe and do its item ``key`` (what a worker process or a
    submitit job runs)."""
    plan = plan_from_params(profile, params)
    return {**execute_item(plan, plan.item(key), keep_checkpoints=keep_checkpoints),
            "status": "done"}


def run_elsewhere(plan: Plan, items: list[Item], *, executor: str, gpus: int, slurm: dict,
                  fits: Callable[[Item], bool], keep_checkpoints: bool) -> dict[str, dict]:
    """Do ``items`` in other processes: ``local``, ``gpus`` at a time, each process given one
    GPU (``CUDA_VISIBLE_DEVICES``) or, on CPU, an equal share of the cores; ``slurm`` /
    ``submitit-local``, one submitit job each. Returns key -> outcome of the items that ran (an
    item that failed has ``status: failed`` and its error)."""
    if executor == "local":
        return _run_local(plan, items, gpus, fits, keep_checkpoints)
    if executor in ("slurm", "submitit-local"):
        return _run_submitit(plan, items, executor, slurm, fits, keep_checkpoints)
    raise ValueError(f"unknown executor {executor!r}: inline, local, slurm or submitit-local")


def _run_local(plan, items, slots, fits, keep_checkpoints) -> dict[str, dict]:
    if slots < 1:
        raise ValueError(f"--gpus {slots}: give the number of GPUs (processes) to use, >= 1")
    cuda = _device_type(plan) == "cuda"
    if cuda and slots > torch.cuda.device_count():
        raise ValueError(f"--gpus {slots}, but this machine has {torch.cuda.device_count()} GPUs")
    # the GPUs this process may use, as CUDA_VISIBLE_DEVICES names them (all when unset)
    visible = os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if os.environ.get(
        "CUDA_VISIBLE_DEVICES") else [str(k) for k in range(slots)]
    cores = available_cores()
    outcomes: dict[str, dict] = {}
    running: dict[int, tuple[Item, subprocess.Popen, Path]] = {}
    waiting = list(items)
    with tempfile.TemporaryDirectory(prefix="handlib-queue-") as folder:
        while waiting or running:
            for slot in range(slots):
                if slot in running or not waiting:
                    continue
                item = waiting.pop(0)
                if not fits(item):
                    continue
                env = dict(os.environ)
                if cuda:
                    env["CUDA_VISIBLE_DEVICES"] = visible[slot]
                else:
                    env["HANDLIB_CPU_THREADS"] = str(max(1, cores // slots))
                report = Path(folder) / f"{slot}-{len(outcomes)}.json"
                process = subprocess.Popen(_worker_argv(plan, item, report, keep_checkpoints),
                                           env=env)
                running[slot] = (item, process, report)
            for slot, (item, process, report) in list(running.items()):
                if process.poll() is None:
                    continue
                del running[slot]
                outcomes[item.key] = (results.read_json(report) if process.returncode == 0
                                      and report.is_file() else
                                      {"key": item.key, "kind": item.kind, "status": "failed",
                                       "error": f"exit status {process.returncode}"})
            time.sleep(0.2)
    return outcomes


def _run_submitit(plan, items, executor, slurm, fits, keep_checkpoints) -> dict[str, dict]:
    try:
        import submitit  # optional: the cluster extra; the queue runs without it elsewhere
    except ImportError as error:
        raise ValueError("--executor slurm needs submitit: pip install submitit") from error
    folder = cache_dir() / "submitit"
    if executor == "slurm":
        runner = submitit.AutoExecutor(folder=folder, cluster="slurm")
        runner.update_parameters(**{"gpus_per_node": 1, "tasks_per_node": 1,
                                    "timeout_min": 240, **slurm})
    else:
        runner = submitit.LocalExecutor(folder=folder)
        runner.update_parameters(timeout_min=slurm.get("timeout_min", 60))
    jobs = {item.key: runner.submit(execute_by_key, plan.profile, plan.params, item.key,
                                    keep_checkpoints)
            for item in items if fits(item)}
    outcomes = {}
    for key, job in jobs.items():
        try:
            outcomes[key] = job.result()
        except Exception as error:  # the job's own traceback is in its submitit log
            outcomes[key] = {"key": key, "kind": "run", "status": "failed",
                             "error": f"{type(error).__name__}: {error}".splitlines()[0]}
    return outcomes


# ----------------------------------------------------------------------------- pre-flight


def preflight(plan: Plan, *, canary_check: bool = True) -> dict:
    """Versions, free disk, whether this torch can run the profile, and the code of the
    results already here (see the module doc). ``problems`` lists what refuses a start."""
    device = engine.resolve_device(plan.params["device"])
    problems: list[str] = []
    for chapter in plan.configs:
        first = next(item.run for item in plan.items if item.chapter == chapter
                     and item.kind == "run")
        try:
            check_device(first.config)
        except ValueError as error:
            problems.append(f"{chapter}: {error}")
    if canary_check:  # the canary's fast path: bf16, channels-last, compile
        try:
            check_runtime({"amp": True, "compile": True},
                          detect_runtime(plan.params["device"]))
        except ValueError as error:
            problems.append(f"canary: {error}")
    free = shutil.disk_usage(cache_dir()).free / 2**30
    if free < MIN_FREE_DISK_GIB:
        problems.append(f"{free:.1f} GiB free in the cache {cache_dir()}; the queue needs "
                        f"{MIN_FREE_DISK_GIB:.0f} (set HANDLIB_CACHE to a larger disk)")
    current = stale = missing = 0
    for item in plan.items:
        if item.kind != "run":
            continue
        found = results.read_run(results.run_dir(item.chapter, plan.profile, item.run.run_id))
        if found is None:
            missing += 1
        elif found["provenance"]["config_hash"] == engine.config_hash(item.run.config):
            current += 1
        else:
            stale += 1
    cuda = device.type == "cuda"
    return {
        "python": platform.python_version(), "torch": torch.__version__,
        "cuda": torch.version.cuda, "device": str(device),
        "device_name": results.device_name(str(device)),
        "capability": list(torch.cuda.get_device_capability(device)) if cuda else None,
        "bf16": torch.cuda.is_bf16_supported() if cuda else None,
        "cores": available_cores(),
        "free_disk_gib": round(free, 1),
        "runs": {"made by this code": current, "made by other code (retrained)": stale,
                 "not here": missing},
        "problems": problems,
    }


def preflight_text(checks: dict) -> str:
    runs = ", ".join(f"{n} {what}" for what, n in checks["runs"].items())
    return (f"[pre-flight] Python {checks['python']}, torch {checks['torch']} (CUDA "
            f"{checks['cuda']}), {checks['device_name']} ({checks['device']}"
            + (f", capability {'.'.join(map(str, checks['capability']))}, bf16 {checks['bf16']}"
               if checks["capability"] else "")
            + f"), {checks['free_disk_gib']} GiB free; runs: {runs}"
            + ("".join(f"\n[pre-flight] problem: {p}" for p in checks["problems"])))


# ----------------------------------------------------------------------------- the canary


def canary_config(plan: Plan, item: Item) -> dict:
    """``item``'s run at the chapter's toy size on the gpu profiles' fast path (bf16 autocast,
    channels-last) with ``torch.compile``, three steps with a checkpoint after every step."""
    tiny_cfg = chapter_config(item.chapter, plan.profile, data_root=plan.params["data_root"],
                              device=plan.params["device"], tiny=True)
    tiny_run = next(r for r in study.study_runs(tiny_cfg) if r.run_id == item.run.run_id)
    config = engine.resolve_config(tiny_run.config)
    batch = config["train"]["batch_size"]
    return deep_merge(config, {
        "data": {"n": {config["train"]["split"]: 3 * batch}} if config["data"].get("n") else {},
        "train": {"epochs": 1, "amp": True, "channels_last": True, "compile": True,
                  "checkpoint_every": 1, "num_workers": 0, "early_stopping": None},
    })


def model_family(cfg: dict, run: study.Run) -> str:
    """The family of a run's model: the ``family`` its chapter's profile gives the run (models
    that share a trunk and differ in settings), else the module that defines the model (a
    paper's variants and ablations of one architecture)."""
    return cfg["runs"][run.name].get("family") or models.module_of(run.config["model"]["name"])


def canary(plan: Plan, *, force: bool = False, echo: Callable[[str], None] = print) -> dict:
    """``handlib.canary.run_canary`` on the first run of each model family of the plan
    (:func:`model_family`) at toy size on the fast path (:func:`canary_config`), recorded in
    ``<results>/queue/<profile>/canary.json``."""
    families: dict[str, Item] = {}
    for item in plan.items:
        if item.kind == "run":
            families.setdefault(model_family(plan.configs[item.chapter], item.run), item)
    return run_canary({name: canary_config(plan, item) for name, item in families.items()},
                      record=results_root() / QUEUE_FOLDER / plan.profile / CANARY_FILE,
                      device=str(engine.resolve_device(plan.params["device"])), force=force,
                      echo=echo)


# ----------------------------------------------------------------------------- the command


def plan_table(plan: Plan, device_name: str) -> str:
    """The plan as text: each item, its compute, its estimate here and whether it is done, and
    each chapter's total from its counted FLOPs."""
    estimate = estimator(plan, device_name)
    lines = [f"{'item':<44} {'PFLOP':>8} {'estimate':>10}  done"]
    for item in plan.items:
        done = "-" if item.kind == "prefill" else ("yes" if is_done(plan, item) else "no")
        lines.append(f"{item.key:<44} {item.pflop:>8.2f} {estimate(item) / 60:>8.1f} m  {done}")
    for chapter, cfg in plan.configs.items():
        lines.append(f"{chapter}: {study.training_estimate(cfg)['text']}")
    return "\n".join(lines)


def _plan_args(args) -> Plan:
    return make_plan(args.profile, args.chapter or None, data_root=args.data_root,
                     seed=args.seed, device=args.device, tiny=args.tiny)


def _run_command(args) -> int:
    if args.gpus < 1:
        raise ValueError(f"--gpus {args.gpus}: give the number of GPUs (processes) to use, >= 1")
    deadline_s = None if args.deadline is None else parse_duration(args.deadline)
    plan = _plan_args(args)
    slurm = dict(_setting(text) for text in args.slurm)
    lease = run_queue(plan, deadline_s=deadline_s, keep_checkpoints=args.keep_checkpoints,
                      canary_check=not args.no_canary, gpus=args.gpus,
                      executor=args.executor if args.gpus == 1 or args.executor != "inline"
                      else "local", slurm=slurm)
    if args.out is not None:
        for path in pack(lease.changed_files(), Path(args.out), profile=plan.profile):
            print(f"[queue] packed {path} ({path.stat().st_size / 2**20:.2f} MiB)")
    failed = [e["key"] for e in lease.log["items"] if e.get("status") != "done"]
    return 1 if failed else 0


def _setting(text: str) -> tuple[str, Any]:
    if "=" not in text:
        raise ValueError(f"--slurm expects KEY=VALUE (e.g. slurm_partition=gpu), got {text!r}")
    key, value = text.split("=", 1)
    return key, yaml.safe_load(value)


def _plan_command(args) -> int:
    plan = _plan_args(args)
    print(plan_table(plan, results.device_name(str(engine.resolve_device(args.device)))))
    return 0


def _item_command(args) -> int:
    outcome = execute_by_key(args.profile, json.loads(args.params), args.key,
                             args.keep_checkpoints)
    results.write_json_atomic(args.report, outcome)
    return 0


def _unpack_command(args) -> int:
    counts = unpack(args.packs)
    print(f"unpacked {counts['parts']} parts into {results_root()}: {counts['files']} files "
          f"written, {counts['unchanged']} already there")
    return 0


def register_cli(subparsers) -> None:
    parser = subparsers.add_parser(
        "queue", help="run a profile's chapters through the resumable run queue (GPU leases, "
        "several GPUs, Slurm); pack and unpack its results",
        description="The run queue (handlib.runqueue): pre-flight, canary, then every item of "
        "the profile's chapters not yet done, in a fixed order, under a deadline.")
    commands = parser.add_subparsers(dest="queue_command", metavar="ACTION", required=True)

    def plan_options(command):
        command.add_argument("--profile", default="gpu", help="smoke, cpu, gpu or paper")
        command.add_argument("--chapter", action="append", default=[],
                             help=f"a chapter to queue (repeatable; default all: "
                             f"{', '.join(CHAPTERS)})")
        command.add_argument("--data-root", help="the folder holding the real datasets (paper)")
        command.add_argument("--seed", type=int, default=0, help="shifts the profile's seeds")
        command.add_argument("--device", default="auto", help="auto, cpu or cuda")
        command.add_argument("--tiny", action="store_true", help="every run at toy size")

    run = commands.add_parser("run", help="do the items, resumably, under --deadline")
    plan_options(run)
    run.add_argument("--deadline", help="start no item that would end later than this from "
                     "now (e.g. 9m, 540s)")
    run.add_argument("--out", help="pack the result files this call wrote into this folder")
    run.add_argument("--gpus", type=int, default=1, help="GPUs of this machine to use, one item "
                     "per GPU")
    run.add_argument("--executor", default="inline",
                     choices=("inline", "local", "slurm", "submitit-local"),
                     help="where runs execute (slurm: one submitit job per run)")
    run.add_argument("--slurm", action="append", default=[], metavar="KEY=VALUE",
                     help="a submitit setting, e.g. slurm_partition=gpu, timeout_min=240")
    run.add_argument("--keep-checkpoints", action="store_true",
                     help="keep each run's checkpoint after its predictions are written")
    run.add_argument("--no-canary", action="store_true", help="skip the canary")
    run.set_defaults(func=_run_command)

    show = commands.add_parser("plan", help="list the items, their estimates and what is done")
    plan_options(show)
    show.set_defaults(func=_plan_command)

    item = commands.add_parser("item", help="do one item (what a worker process runs)")
    item.add_argument("--profile", required=True)
    item.add_argument("--params", required=True, help="the plan's parameters as JSON")
    item.add_argument("--key", required=True)
    item.add_argument("--report", type=Path, required=True)
    item.add_argument("--keep-checkpoints", action="store_true")
    item.set_defaults(func=_item_command)

    unpack_parser = commands.add_parser("unpack", help="check and write result packs into "
                                        "book/results/")
    unpack_parser.add_argument("packs", nargs="+", type=Path,
                               help="results-*.zip files or folders holding them")
    unpack_parser.set_defaults(func=_unpack_command)
