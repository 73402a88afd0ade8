"""The training loop, :func:`fit`, with its optimisers, schedulers and checkpoints.

See ``handlib.engine`` for the whole story (configuration, reproducibility, resuming).
"""
from __future__ import annotations

import random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd
import torch
import torch.nn as nn
from torch.utils.data import Dataset
from tqdm.auto import tqdm

from handlib import results
from handlib.evaluation import evaluate, validation_loss
from handlib.losses import LossFn
from handlib.runconfig import config_hash, resolve_config
from handlib.runtime import (
    EpochItems,
    EpochSampler,
    all_reduce_mean,
    autocast,
    distributed_info,
    eval_loader,
    make_loader,
    memory_format,
    model_input,
    resolve_device,
    seed_everything,
    to_device,
)

OPTIMIZERS = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW, "sgd": torch.optim.SGD}

_sched = torch.optim.lr_scheduler
SCHEDULERS: dict[str, Callable[..., Any]] = {
    "constant": lambda opt: _sched.ConstantLR(opt, factor=1.0, total_iters=0),
    "step": _sched.StepLR,
    "multistep": _sched.MultiStepLR,
    "halve_at": lambda opt, epochs: _sched.MultiStepLR(opt, milestones=epochs, gamma=0.5),
    "exponential": _sched.ExponentialLR,
    "cosine_warm_restarts": _sched.CosineAnnealingWarmRestarts,
}


def build_optimizer(parameters, spec: dict) -> torch.optim.Optimizer:
    if spec["name"] not in OPTIMIZERS:
        raise ValueError(
            f"unknown optimizer {spec['name']!r}; choose one of {', '.join(OPTIMIZERS)}"
        )
    kwargs = {key: value for key, value in spec.items() if key != "name"}
    return OPTIMIZERS[spec["name"]](parameters, **kwargs)


def build_scheduler(optimizer: torch.optim.Optimizer, spec: dict):
    if spec["name"] not in SCHEDULERS:
        raise ValueError(
            f"unknown scheduler {spec['name']!r}; choose one of {', '.join(SCHEDULERS)}"
        )
    kwargs = {key: value for key, value in spec.items() if key != "name"}
    try:
        return SCHEDULERS[spec["name"]](optimizer, **kwargs)
    except TypeError as error:
        raise ValueError(
            f"scheduler {spec['name']!r} got bad settings {kwargs}: {error}"
        ) from error


@dataclass
class LoopState:
    """Where training stands; saved in checkpoints so that a run resumes exactly."""

    epoch: int = 0  # epochs completed
    step: int = 0  # optimiser steps done in the current epoch
    global_step: int = 0
    loss_sums: dict[str, float] = field(default_factory=dict)  # current epoch, so far
    train_time: float = 0.0  # seconds of training in the current epoch, so far
    history: list[dict] = field(default_factory=list)
    best: float | None = None  # early stopping: best validation value so far
    stale_epochs: int = 0  # early stopping: epochs since it improved
    finished: bool = False


def _rng_state() -> dict:
    return {
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
    }


def _set_rng_state(state: dict) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if state["cuda"] is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(path: Path, *, model, optimizer, scheduler, state: LoopState, fit_hash: str):
    """Write the training state to ``path`` atomically (rank 0 only under torchrun)."""
    if distributed_info()[0] != 0:
        return
    payload = {
        "fit_hash": fit_hash,
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "state": asdict(state),
        "rng": _rng_state(),
    }
    results.atomic_write(path, lambda handle: torch.save(payload, handle), binary=True)


def load_checkpoint(path: Path) -> dict:
    """The checkpoint at ``path``, every tensor on the CPU whatever device wrote it or trains
    on: its RNG states must be CPU byte tensors (``torch.set_rng_state``), and
    ``load_state_dict`` moves the weights and the optimiser's state to the parameters' device."""
    # Our own cache file: it holds numpy/Python RNG states, so it is not weights-only.
    return torch.load(path, map_location="cpu", weights_only=False)


def _train_step(
    model: nn.Module, batch: dict, loss_fn: LossFn, optimizer: torch.optim.Optimizer, *,
    device: torch.device, amp: bool, grad_clip: float | None,
) -> dict[str, torch.Tensor]:
    """One optimiser step; returns the detached loss terms and their sum ``loss`` (on device)."""
    optimizer.zero_grad(set_to_none=True)
    with autocast(device, amp):
        terms = loss_fn(model(model_input(batch)), batch)
    if "loss" in terms:
        raise ValueError("a loss term may not be called 'loss' (that name is the terms' sum)")
    total = torch.stack([value.float() for value in terms.values()]).sum()
    total.backward()
    if grad_clip:
        nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    optimizer.step()
    return {**{name: value.detach() for name, value in terms.items()}, "loss": total.detach()}


def _flush(window: list[torch.Tensor], names: list[str], state: LoopState) -> np.ndarray:
    """Copy the loss values of the steps since the last flush to the host (one sync) as a
    (steps, terms) array; raise on the first non-finite value, naming term, step and epoch."""
    values = torch.stack(window).cpu().numpy()
    window.clear()
    bad = np.argwhere(~np.isfinite(values))
    if len(bad):
        row, column = bad[0]
        step = state.global_step - len(values) + row + 1
        raise FloatingPointError(
            f"loss term {names[column]!r} became {values[row, column]} at step {step} "
            f"(epoch {state.epoch + 1}, step {state.step - len(values) + row + 1} of the epoch); "
            "lower the learning rate, clip gradients (train.grad_clip) or check the targets"
        )
    return values




def _early_stop(state: LoopState, row: dict, spec: dict | None) -> bool:
    """Update the early-stopping counters with this epoch's row; True when training should stop."""
    if not spec:
        return False
    key = f"val_{spec['metric']}"
    if key not in row:
        raise ValueError(
            f"early_stopping.metric {spec['metric']!r} is not a validation metric; available: "
            f"{', '.join(k[4:] for k in row if k.startswith('val_')) or 'none (no validation set)'}"
        )
    value = row[key] if spec.get("mode", "max") == "max" else -row[key]
    if state.best is None or value > state.best + spec.get("min_delta", 0.0):
        state.best, state.stale_epochs = value, 0
    else:
        state.stale_epochs += 1
    return state.stale_epochs >= spec["patience"]


def fit(
    model: nn.Module,
    config: dict,
    train_set: Dataset,
    val_set: Dataset | None = None,
    *,
    loss_fn: LossFn,
    checkpoint: Path | None = None,
    resume: bool = False,
    progress: bool = True,
) -> pd.DataFrame:
    """Train ``model`` in place with the ``optimizer``, ``scheduler``, ``train`` and ``eval``
    sections of ``config``; return the per-epoch history.

    History columns: ``epoch``, ``lr``, ``loss`` and each loss term (epoch means over all
    processes), ``val_<metric>`` (validation metrics, when ``val_set`` is given, every
    ``eval.every`` epochs and at the last), ``samples``, ``train_s``, ``epoch_s`` and
    ``samples_per_s``. With ``checkpoint`` set, the state is saved there every
    ``train.checkpoint_every`` steps and at the end; ``resume=True`` continues from it.
    """
    cfg = resolve_config(config)
    spec = cfg["train"]
    fit_hash = config_hash(cfg, sections=("optimizer", "scheduler", "train", "eval"))
    rank, world_size = distributed_info()
    if spec["batch_size"] % world_size:
        raise ValueError(
            f"train.batch_size {spec['batch_size']} must be divisible by the number of "
            f"processes ({world_size})"
        )
    batch_per_process = spec["batch_size"] // world_size
    steps_per_epoch = (len(train_set) // world_size) // batch_per_process
    if steps_per_epoch == 0:
        raise ValueError(
            f"the training set ({len(train_set)} samples) is smaller than one batch "
            f"(train.batch_size {spec['batch_size']})"
        )
    device = resolve_device(spec["device"])
    layout = memory_format(spec["channels_last"], device, spec["amp"])
    seed_everything(spec["seed"])
    model.to(device=device, memory_format=layout)
    optimizer = build_optimizer(model.parameters(), cfg["optimizer"])
    scheduler = build_scheduler(optimizer, cfg["scheduler"])
    state = LoopState()
    if resume and checkpoint is not None and checkpoint.is_file():
        saved = load_checkpoint(checkpoint)
        if saved["fit_hash"] != fit_hash:
            raise ValueError(
                f"checkpoint {checkpoint} was written with other training settings; delete it "
                "or train with resume=False"
            )
        model.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        scheduler.load_state_dict(saved["scheduler"])
        state = LoopState(**saved["state"])
        _set_rng_state(saved["rng"])
    if state.finished:
        return pd.DataFrame(state.history)

    train_model = model
    if world_size > 1:
        train_model = nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None
        )
    if spec["compile"]:
        train_model = torch.compile(train_model)
    checkpoint_every = spec["checkpoint_every"] if checkpoint is not None else 0
    bar = tqdm(
        total=spec["epochs"] * steps_per_epoch, initial=state.global_step, unit="step",
        disable=not progress or rank != 0, dynamic_ncols=True,
    )
    # one loader per set for the whole fit (runtime: its workers persist across epochs; the
    # epoch travels with each index, so the workers' copies augment with this epoch's stream)
    sampler = EpochSampler(len(train_set), seed=spec["seed"], rank=rank, world_size=world_size)
    loader = make_loader(
        EpochItems(train_set), sampler, batch_per_process, device=device,
        num_workers=spec["num_workers"], seed=spec["seed"] * 1000 + state.epoch, drop_last=True,
        persistent=True,
    )
    val_loader = None if val_set is None else eval_loader(
        val_set, cfg["eval"]["batch_size"], device=device, num_workers=spec["num_workers"],
        persistent=True,
    )
    window: list[torch.Tensor] = []
    names: list[str] = []
    while state.epoch < spec["epochs"]:
        train_model.train()
        sampler.set_epoch(state.epoch, start=state.step * batch_per_process)
        lr = optimizer.param_groups[0]["lr"]
        bar.set_description(f"epoch {state.epoch + 1}/{spec['epochs']}")
        last_log = time.perf_counter()
        for batch in loader:
            terms = _train_step(
                train_model, to_device(batch, device, layout), loss_fn, optimizer,
                device=device, amp=spec["amp"], grad_clip=spec["grad_clip"],
            )
            names = list(terms)
            window.append(torch.stack([value.float() for value in terms.values()]))
            state.step += 1
            state.global_step += 1
            at_checkpoint = checkpoint_every and state.global_step % checkpoint_every == 0
            if len(window) == spec["log_every"] or state.step == steps_per_epoch or at_checkpoint:
                steps = len(window)
                sums = _flush(window, names, state).sum(axis=0)
                for name, value in zip(names, sums):
                    state.loss_sums[name] = state.loss_sums.get(name, 0.0) + float(value)
                now = time.perf_counter()
                speed = steps * spec["batch_size"] / (now - last_log)
                state.train_time += now - last_log
                last_log = now
                bar.update(steps)
                bar.set_postfix(
                    loss=f"{sums[-1] / steps:.4g}", lr=f"{lr:.3g}", samples_s=f"{speed:.0f}"
                )
            if at_checkpoint:
                save_checkpoint(
                    checkpoint, model=model, optimizer=optimizer, scheduler=scheduler,
                    state=state, fit_hash=fit_hash,
                )

        # end of epoch: averages, schedule, validation, history, early stopping
        means = all_reduce_mean(
            {name: total / state.step for name, total in state.loss_sums.items()}, device
        )
        scheduler.step()
        row = {"epoch": state.epoch + 1, "lr": lr, **means}
        last_epoch = state.epoch + 1 == spec["epochs"]
        if val_set is not None and ((state.epoch + 1) % cfg["eval"]["every"] == 0 or last_epoch):
            found = evaluate(model, val_set, cfg["eval"], device=device, amp=spec["amp"],
                             loader=val_loader)
            row |= {f"val_{name}": value for name, value in found.items()}
            if cfg["eval"]["loss"]:
                row |= {f"val_{name}": value for name, value in validation_loss(
                    model, val_set, loss_fn, device=device, amp=spec["amp"],
                    loader=val_loader).items()}
        samples = steps_per_epoch * spec["batch_size"]
        row |= {
            "samples": samples,
            "train_s": state.train_time,
            "epoch_s": state.train_time + time.perf_counter() - last_log,
            "samples_per_s": samples / state.train_time,
        }
        state.history.append(row)
        stop = _early_stop(state, row, spec["early_stopping"])
        state.epoch, state.step, state.loss_sums, state.train_time = state.epoch + 1, 0, {}, 0.0
        if stop:
            break
    bar.close()
    state.finished = True
    if checkpoint is not None:
        save_checkpoint(
            checkpoint, model=model, optimizer=optimizer, scheduler=scheduler, state=state,
            fit_hash=fit_hash,
        )
    return pd.DataFrame(state.history)
