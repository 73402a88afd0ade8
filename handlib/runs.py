"""Reusing or training a run: :func:`load_or_train`, the run cache keyed by the configuration's hash.

See ``handlib.engine`` for the reuse rule.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import torch.nn as nn

from handlib import losses, models, results
from handlib.data.pipeline import build_dataset, check_splits_have_samples
from handlib.data.synthetic import GENERATOR_VERSION
from handlib.evaluation import evaluate
from handlib.paths import cache_dir
from handlib.runconfig import (
    build_named,
    check_device,
    check_splits,
    code_hash,
    config_hash,
    resolve_config,
    split_roles,
)
from handlib.runtime import distributed_info, resolve_device, seed_everything
from handlib.training import fit, load_checkpoint


@dataclass
class TrainedRun:
    model: nn.Module | None  # None when load_or_train(need_model=False) read results only
    history: pd.DataFrame
    metrics: dict
    run_dir: Path
    provenance: dict
    reused: bool  # True when nothing was trained in this call


def checkpoint_path(digest: str) -> Path:
    return cache_dir() / "checkpoints" / f"{digest}.pt"


def build_model(config: dict) -> nn.Module:
    return build_named(models.build, config["model"])


def load_or_train(
    config: dict, *, experiment: str, profile: str, run: str, progress: bool = True,
    need_model: bool = True,
) -> TrainedRun:
    """The finished run of ``config``: reused when its results and checkpoint carry the
    configuration's hash (which covers the code behind it), else trained (resuming an
    interrupted run) and written to ``results_root()/experiment/profile/run``. See the module
    docstring for the reuse rule; :func:`check_splits` and :func:`check_device` guard it."""
    cfg = resolve_config(config)
    check_splits(cfg)
    digest = config_hash(cfg)
    run_dir = results.run_dir(experiment, profile, run)
    saved = results.read_run(run_dir)
    if saved is not None and saved["provenance"]["config_hash"] != digest:
        saved = None  # the configuration changed: this run is stale
    if saved is not None and not need_model:
        return TrainedRun(
            None, saved["history"], saved["metrics"], run_dir, saved["provenance"], reused=True
        )
    check_device(cfg)
    check_splits_have_samples(cfg["data"], split_roles(cfg))

    seed_everything(cfg["train"]["seed"])
    model = build_model(cfg)
    ckpt = checkpoint_path(digest)
    cached = load_checkpoint(ckpt) if ckpt.is_file() else None
    finished = cached is not None and cached["state"]["finished"]
    if saved is not None and finished:
        model.load_state_dict(cached["model"])
        model.to(resolve_device(cfg["train"]["device"]))
        return TrainedRun(
            model, saved["history"], saved["metrics"], run_dir, saved["provenance"], reused=True
        )
    del cached

    train_set = build_dataset(cfg["data"], cfg["train"]["split"], training=True)
    val_set = build_dataset(cfg["data"], cfg["eval"]["split"])
    history = fit(
        model, cfg, train_set, val_set, loss_fn=build_named(losses.build, cfg["loss"]),
        checkpoint=ckpt, resume=True, progress=progress,
    )
    device = next(model.parameters()).device
    metrics = {
        "split": cfg["eval"]["split"],
        "n": len(val_set),
        **evaluate(
            model, val_set, cfg["eval"], device=device, num_workers=cfg["train"]["num_workers"],
            amp=cfg["train"]["amp"],
        ),
    }
    dataset = {
        "source": cfg["data"].get("source"),
        "sizes": {cfg["train"]["split"]: len(train_set), cfg["eval"]["split"]: len(val_set)},
    }
    if cfg["data"].get("source") == "synthetic":
        dataset["generator_version"] = GENERATOR_VERSION
    provenance = results.provenance(
        config=cfg, config_hash=digest, code_hash=code_hash(cfg), device=str(device),
        dataset=dataset,
        wall_time_s=float(history["epoch_s"].sum()),
        throughput=float(history["samples"].sum() / history["train_s"].sum()),
        world_size=distributed_info()[1],
    )
    if distributed_info()[0] == 0:
        results.write_run(run_dir, history=history, metrics=metrics, provenance=provenance)
    return TrainedRun(model, history, metrics, run_dir, provenance, finished)
