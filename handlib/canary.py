"""The canary: the gpu profiles' fast path tried at toy size before a lease's real work.

A lent GPU machine is new every time, with a torch, a CUDA and a Python of its own. Before the
run queue (``handlib.runqueue``) spends its minutes on the profile, :func:`run_canary` trains each
model family a few steps on the fast path (bf16 autocast, channels-last, ``torch.compile``),
predicts once, and interrupts one run after its first step and resumes it from that checkpoint:
the resumed weights must be those of the uninterrupted run, within :data:`RESUME_TOLERANCE`. A
failure is recorded with its error and the queue stops before any real item. A canary that
passed on a device with the same code is not run again. On the CPU the same code path runs (bf16
autocast on the CPU, inductor's C++ kernels), which is how the test suite rehearses it.
"""
from __future__ import annotations

import contextlib
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from handlib import engine, losses, results
from handlib.data.pipeline import build_dataset
from handlib.runconfig import build_named

#: The largest weight difference accepted between a run interrupted after its first step and
#: resumed, and the same run uninterrupted (0 on the CPU; a GPU's bf16 kernels may choose other
#: reduction orders after a restart).
RESUME_TOLERANCE = 1e-2


class _Interrupted(Exception):
    """Raised by the canary's loss to stop a run after its first checkpoint."""


def run_canary(configs: dict[str, dict], *, record: Path, device: str, force: bool = False,
               echo: Callable[[str], None] = print) -> dict:
    """Train each family's toy ``configs`` (family -> an engine config on the fast path, with
    a checkpoint after every step); the first family's model also predicts its validation split
    and is trained again, interrupted and resumed (see the module doc). The result, saved in
    ``record``: ``ok``, ``failed`` (families), ``device_name``, ``code`` (each config's code
    hash) and per family what it measured. A saved result that passed on this device with this
    code is returned without training, unless ``force``."""
    code = {name: engine.code_hash(config) for name, config in configs.items()}
    device_name = results.device_name(device)
    if record.is_file() and not force:
        saved = results.read_json(record)
        if saved["ok"] and saved["device_name"] == device_name and saved["code"] == code:
            echo(f"[canary] passed before on {device_name} with this code: skipped")
            return saved
    checks, failed = {}, []
    with tempfile.TemporaryDirectory(prefix="handlib-canary-") as folder:
        for index, (name, config) in enumerate(configs.items()):
            start = time.perf_counter()
            try:
                checks[name] = {**_try_family(config, Path(folder) / name, full=index == 0),
                                "ok": True}
            except Exception as error:  # reported, and the queue stops before real work
                checks[name] = {"ok": False, "error": f"{type(error).__name__}: {error}"[:500]}
                failed.append(name)
            checks[name]["seconds"] = time.perf_counter() - start
            echo(f"[canary] {name}: " + ("ok" if checks[name]["ok"] else checks[name]["error"])
                 + f" ({checks[name]['seconds']:.1f} s)")
    saved = {"ok": not failed, "failed": failed, "device_name": device_name, "code": code,
             "families": checks}
    results.write_json_atomic(record, saved)
    return saved


def _try_family(config: dict, folder: Path, *, full: bool) -> dict:
    """Train ``config`` (its steps and loss); with ``full``, also one prediction and one
    interrupted and resumed run compared with the uninterrupted one."""
    loss_fn = build_named(losses.build, config["loss"])
    train_set = build_dataset(config["data"], config["train"]["split"], training=True)
    engine.seed_everything(config["train"]["seed"])
    model = engine.build_model(config)
    history = engine.fit(model, config, train_set, loss_fn=loss_fn, checkpoint=folder / "a.pt",
                         progress=False)
    found = {"steps": int(history["samples"].sum() // config["train"]["batch_size"]),
             "loss": float(history["loss"].iloc[-1])}
    if not full:
        return found
    val_set = build_dataset(config["data"], config["eval"]["split"])
    record = engine.predict(model, val_set, batch_size=2, device=next(model.parameters()).device,
                            amp=config["train"]["amp"])
    found["predicted"] = len(next(iter(record.values())))
    steps = {"n": 0}

    def interrupting(outputs, batch):
        steps["n"] += 1
        if steps["n"] > 1:
            raise _Interrupted
        return loss_fn(outputs, batch)

    for loss, resume in ((interrupting, False), (loss_fn, True)):
        engine.seed_everything(config["train"]["seed"])
        resumed = engine.build_model(config)
        with contextlib.suppress(_Interrupted):
            engine.fit(resumed, config, train_set, loss_fn=loss, checkpoint=folder / "b.pt",
                       resume=resume, progress=False)
    gap = max(float((a.float() - b.float()).abs().max()) for a, b in
              zip(model.state_dict().values(), resumed.state_dict().values()))
    found["resume_max_weight_gap"] = gap
    if not gap <= RESUME_TOLERANCE:
        raise AssertionError(f"resumed weights differ from the uninterrupted run's by {gap:.3g} "
                             f"(more than {RESUME_TOLERANCE})")
    return found
