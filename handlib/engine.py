"""Training, evaluation and prediction for every model in the book, in plain PyTorch.

One loop, :func:`fit`, trains any model whose ``forward`` takes the input batch (``image``, or
``depth`` for depth models) and returns a dict of tensors, against a loss that returns a dict of
named scalar terms (``handlib.losses``): their sum is minimised and each term is logged on its
own. A run is configured by data, a dict with these sections::

    model:     {name, **kwargs}            handlib.models.build (dropout etc. are model kwargs)
    data:      the build_dataset spec      handlib.data.pipeline.build_dataset
    loss:      {name, **kwargs}            handlib.losses.build
    optimizer: {name: adam|adamw|sgd, lr, weight_decay, **torch kwargs (momentum, betas, ...)}
    scheduler: {name: constant|step|multistep|halve_at|exponential|cosine_warm_restarts, ...}
    train:     {epochs, batch_size, grad_clip, seed, device, amp, channels_last, compile,
                num_workers, checkpoint_every, early_stopping, log_every}
    eval:      {metric: pck, thresholds, joints, split, every, batch_size}

Missing keys take the values in :data:`DEFAULTS`. Schedulers step once per epoch, as the papers
state them: ``step`` (StepLR: step_size, gamma), ``multistep`` (milestones, gamma), ``halve_at``
(epochs: the lr halves at each), ``exponential`` (gamma, e.g. InterNet+'s ×0.96 per epoch),
``cosine_warm_restarts`` (T_0, T_mult, eta_min: InterNet+'s period 2, factor 3).
``train.batch_size`` is the global batch: under ``torchrun`` each of N processes takes 1/N of it,
so a run gives the same result on any number of processes (up to BatchNorm statistics, which
stay per process as in the papers' multi-GPU training). ``train.early_stopping`` is ``null`` or
``{metric: "pck@0.2", mode: max|min, patience, min_delta}`` on the validation metrics; it stops
training and keeps the last weights.

Speed. On CUDA, ``amp`` runs the forward pass and loss under bf16 autocast and ``channels_last``
stores images and weights channels-last; ``compile`` wraps the training model in
``torch.compile``. DataLoaders pin memory and use ``num_workers`` workers. The step never waits
for the device: loss terms stay on it and are copied to the host once every ``log_every`` steps,
when the progress bar (``tqdm.auto``: loss, learning rate, samples/s) is updated.

A non-finite loss stops training with ``FloatingPointError`` naming the loss term, the step and
the epoch (found at the next log point, from the per-step values kept on the device).

Reproducibility. :func:`seed_everything` seeds Python, numpy and torch; each epoch's sample order
is a function of (seed, epoch); DataLoader workers are seeded from a generator seeded by (seed,
epoch). Checkpoints (every ``checkpoint_every`` optimiser steps and at the end) hold the model,
optimiser, scheduler, loop position, history so far and every random-number generator's state,
so ``resume=True`` continues an interrupted run exactly where it stopped (mid-epoch too) and
ends with the weights an uninterrupted run ends with. A dataset with ``set_epoch(epoch)`` (as
``handlib.data.pipeline``'s) is told the epoch before it is iterated, so that its augmentation
can depend on (seed, epoch, index) only; exact resumes with ``num_workers > 0`` need that.

Reuse (:func:`load_or_train`). Results (``book/results/...``, committed) are the record and
checkpoints (``handlib.paths.cache_dir()/checkpoints/<config hash>.pt``, never committed) are a
cache. A run is reused, not retrained, when its results and its finished checkpoint both carry
the configuration's hash. When the results exist but the checkpoint does not (a fresh clone),
``load_or_train`` retrains, because the caller asked for a model; callers that only need the
numbers pass ``need_model=False`` (or read them with ``handlib.results.load_run``) and no
training happens. The hash covers everything that changes the result (model, data spec, loss,
optimiser, scheduler, train settings incl. seed, eval settings, the synthetic generator's
version) and nothing that does not (:data:`NON_RESULT_KEYS`: device, workers, logging and
checkpoint frequency, evaluation batch size, the data's location on disk).

Distributed. Under ``torchrun --nproc_per_node=N -m handlib train ...`` (see
:func:`register_cli`), :func:`init_distributed` joins the process group (NCCL on CUDA, gloo on
CPU), the model is wrapped in DistributedDataParallel, every process trains on its shard of each
global batch, epoch losses are averaged and predictions gathered across processes (so validation
metrics are those of the whole split), and only rank 0 writes checkpoints and results.
"""
from __future__ import annotations

import argparse
import contextlib
import copy
import hashlib
import json
import os
import random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd
import torch
import torch.distributed as dist
import torch.nn as nn
import yaml
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from handlib import results
from handlib.paths import cache_dir
from handlib.profiles import deep_merge, load_profile

LossFn = Callable[[dict, dict], dict[str, torch.Tensor]]

DEFAULTS: dict[str, dict[str, Any]] = {
    "optimizer": {"name": "adam", "lr": 1e-3, "weight_decay": 0.0},
    "scheduler": {"name": "constant"},
    "train": {
        "split": "train",
        "epochs": 1,
        "batch_size": 32,
        "grad_clip": None,
        "seed": 0,
        "device": "auto",
        "amp": True,
        "channels_last": True,
        "compile": False,
        "num_workers": 0,
        "checkpoint_every": 0,
        "early_stopping": None,
        "log_every": 10,
    },
    "eval": {
        "metric": "pck",
        "thresholds": [0.05, 0.1, 0.15, 0.2, 0.25, 0.3],
        "joints": "visible",
        "split": "val",
        "every": 1,
        "batch_size": 64,
    },
}

#: (section, key) pairs that do not change a run's result and so are left out of its hash.
NON_RESULT_KEYS: tuple[tuple[str, str], ...] = (
    ("train", "device"),
    ("train", "num_workers"),
    ("train", "log_every"),
    ("train", "checkpoint_every"),
    ("eval", "batch_size"),
    ("data", "data_root"),
)

#: The config sections that determine a run (others, e.g. a chapter's bench settings, do not).
RUN_SECTIONS: tuple[str, ...] = ("model", "data", "loss", "optimizer", "scheduler", "train", "eval")

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

#: Batch entries that are model inputs or dense targets, not labels to keep with predictions.
_DENSE_KEYS = ("image", "depth", "heatmaps")


# ----------------------------------------------------------------------------- configuration


def resolve_config(config: dict) -> dict:
    """``config`` with :data:`DEFAULTS` filled in (a new dict)."""
    return deep_merge(DEFAULTS, config)


def config_hash(config: dict, sections: tuple[str, ...] = RUN_SECTIONS) -> str:
    """SHA-256 (hex) of the result-determining part of ``config`` (see the module docstring)."""
    resolved = resolve_config(config)
    identity = {name: copy.deepcopy(resolved.get(name)) for name in sections}
    for section, key in NON_RESULT_KEYS:
        if isinstance(identity.get(section), dict):
            identity[section].pop(key, None)
    data = identity.get("data")
    if isinstance(data, dict) and data.get("source") == "synthetic":
        from handlib.data.synthetic import GENERATOR_VERSION

        identity["generator_version"] = GENERATOR_VERSION
    text = json.dumps(identity, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _build_named(factory: Callable[..., Any], spec: dict) -> Any:
    kwargs = {key: value for key, value in spec.items() if key != "name"}
    return factory(spec["name"], **kwargs)


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


# ----------------------------------------------------------------------------- devices, seeds


def distributed_info() -> tuple[int, int]:
    """``(rank, world_size)`` of this process; ``(0, 1)`` outside a process group."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def resolve_device(spec: str = "auto") -> torch.device:
    """``"auto"`` → CUDA when available, else CPU; under torchrun each process gets the GPU of
    its ``LOCAL_RANK``."""
    if spec == "auto":
        spec = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(spec)
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
    if device.type == "cuda":
        torch.cuda.set_device(device)
    return device


def init_distributed(device: str = "auto") -> None:
    """Join the process group ``torchrun`` describes in the environment (no-op for a single
    process): NCCL when training on CUDA, gloo on CPU."""
    if int(os.environ.get("WORLD_SIZE", 1)) > 1 and not dist.is_initialized():
        backend = "nccl" if resolve_device(device).type == "cuda" else "gloo"
        dist.init_process_group(backend)


def seed_everything(seed: int) -> None:
    """Seed Python's, numpy's and torch's (CPU and CUDA) global generators."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _seed_worker(worker_id: int) -> None:
    """DataLoader worker init: seed numpy and Python from the worker's torch seed, which the
    loader derives from its own seeded generator."""
    seed = torch.initial_seed() % 2**32
    np.random.seed(seed)
    random.seed(seed)


def autocast(device: torch.device, enabled: bool):
    """bf16 autocast on CUDA when ``enabled``; a no-op context otherwise."""
    if enabled and device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def memory_format(device: torch.device, channels_last: bool) -> torch.memory_format:
    """channels-last on CUDA when ``channels_last``; contiguous otherwise.

    Like bf16 autocast, channels-last is a CUDA-only speed-up here: on CPU, torch 2.13's bf16
    channels-last convolution backward corrupts the heap (``free(): invalid next size``)."""
    if channels_last and device.type == "cuda":
        return torch.channels_last
    return torch.contiguous_format


def model_input(batch: dict) -> torch.Tensor:
    """The model's input in ``batch``: ``image``, or ``depth`` for depth datasets."""
    return batch["image"] if "image" in batch else batch["depth"]


def _to_device(batch: dict, device: torch.device, memory_format: torch.memory_format) -> dict:
    moved = {}
    for key, value in batch.items():
        if isinstance(value, torch.Tensor):
            value = value.to(device, non_blocking=True)
            if value.ndim == 4:
                value = value.contiguous(memory_format=memory_format)
        moved[key] = value
    return moved


# ----------------------------------------------------------------------------- data order


def epoch_indices(
    size: int, *, seed: int, epoch: int, shuffle: bool, rank: int = 0, world_size: int = 1,
    drop_last: bool = True,
) -> list[int]:
    """This process's sample order for one epoch (a distributed sampler, as a list).

    The order is a permutation seeded by (seed, epoch) (or ``range(size)``); like
    ``DistributedSampler``, process ``rank`` takes every ``world_size``-th entry, after trimming
    (``drop_last``) or wrapping the order to a multiple of ``world_size``. Consecutive blocks of
    ``batch_size / world_size`` entries per process therefore make up the same global batches as
    blocks of ``batch_size`` in a single process.
    """
    if shuffle:
        generator = torch.Generator().manual_seed(seed * 100_003 + epoch)
        order = torch.randperm(size, generator=generator).tolist()
    else:
        order = list(range(size))
    if drop_last:
        order = order[: size - size % world_size]
    else:
        order += order[: (-size) % world_size]
    return order[rank::world_size]


def _loader(
    dataset: Dataset, indices: list[int], batch_size: int, *, device: torch.device,
    num_workers: int, seed: int, drop_last: bool,
) -> DataLoader:
    return DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=indices,
        num_workers=num_workers,
        pin_memory=device.type == "cuda",
        drop_last=drop_last,
        worker_init_fn=_seed_worker,
        generator=torch.Generator().manual_seed(seed),
    )


# ----------------------------------------------------------------------------- prediction


def _numpy(value) -> np.ndarray:
    if not isinstance(value, torch.Tensor):
        return np.asarray(value)
    value = value.detach().cpu()
    return (value.float() if value.dtype in (torch.bfloat16, torch.float16) else value).numpy()


def predict(
    model: nn.Module, dataset: Dataset, *, batch_size: int = 64,
    device: str | torch.device = "auto", num_workers: int = 0, amp: bool = False,
) -> dict[str, np.ndarray]:
    """Run ``model`` over ``dataset`` (eval mode, no gradients) and decode its heatmaps.

    Returns ``kp2d_pred`` (N, J, 2) in input pixels and ``confidence`` (N, J) from
    ``handlib.data.codecs.decode_heatmaps``, plus every label tensor of the dataset's items
    (``kp2d``, ``visible``, ``in_frame``, ``norm_size``, ``index``, ...; not the image or the
    heatmap targets), stacked in dataset order. Under torchrun each process predicts its shard
    and every process returns the whole dataset's predictions.
    """
    from handlib.data.codecs import decode_heatmaps

    device = device if isinstance(device, torch.device) else resolve_device(device)
    rank, world_size = distributed_info()
    positions = epoch_indices(
        len(dataset), seed=0, epoch=0, shuffle=False, rank=rank, world_size=world_size,
        drop_last=False,
    )
    loader = _loader(
        dataset, positions, batch_size, device=device, num_workers=num_workers, seed=0,
        drop_last=False,
    )
    was_training = model.training
    model.eval()
    parts: dict[str, list[np.ndarray]] = {}
    with torch.inference_mode(), autocast(device, amp):
        for batch in loader:
            inputs = model_input(batch).to(device, non_blocking=True)
            heatmaps = model(inputs)["heatmaps"].float()
            kp2d, confidence = decode_heatmaps(heatmaps, inputs.shape[-1])
            found = {"kp2d_pred": kp2d, "confidence": confidence}
            found |= {
                key: value for key, value in batch.items()
                if isinstance(value, torch.Tensor) and key not in _DENSE_KEYS
            }
            for key, value in found.items():
                parts.setdefault(key, []).append(_numpy(value))
    model.train(was_training)
    stacked = {key: np.concatenate(values) for key, values in parts.items()}
    if world_size == 1:
        return stacked
    gathered: list[Any] = [None] * world_size
    dist.all_gather_object(gathered, (positions, stacked))
    all_positions = np.concatenate([np.asarray(p) for p, _ in gathered])
    _, first = np.unique(all_positions, return_index=True)  # sorted, padding duplicates dropped
    return {key: np.concatenate([s[key] for _, s in gathered])[first] for key in stacked}


def pck_metrics(
    predictions: dict[str, np.ndarray], thresholds, joints: str = "visible"
) -> dict[str, float]:
    """PCK at each threshold (distances over ``norm_size``), its AUC and the mean end-point
    error in input pixels, over the joints selected by ``joints``: ``visible``, ``in_frame``
    or ``all``."""
    from handlib import metrics

    masks = {"visible": "visible", "in_frame": "in_frame", "all": None}
    if joints not in masks:
        raise ValueError(f"eval.joints must be one of {', '.join(masks)}, got {joints!r}")
    mask = None if masks[joints] is None else predictions[masks[joints]].astype(bool)
    pred, gt = predictions["kp2d_pred"], predictions["kp2d"]
    curve = metrics.pck_curve(pred, gt, thresholds, norm=predictions["norm_size"], mask=mask)
    out = {f"pck@{t:g}": float(value) for t, value in zip(thresholds, curve)}
    if len(thresholds) > 1:
        out["auc"] = metrics.auc(thresholds, curve)
    out["epe_px"] = float(metrics.epe(pred, gt, mask=mask))
    return out


EVAL_METRICS: dict[str, Callable[..., dict[str, float]]] = {"pck": pck_metrics}


def evaluate(
    model: nn.Module, dataset: Dataset, eval_config: dict | None = None, *,
    device: str | torch.device = "auto", num_workers: int = 0, amp: bool = False,
) -> dict[str, float]:
    """The ``eval_config`` metrics (default :data:`DEFAULTS` ``eval``) of ``model`` on
    ``dataset`` (pass the validation or test split, never the training split)."""
    spec = deep_merge(DEFAULTS["eval"], eval_config or {})
    if spec["metric"] not in EVAL_METRICS:
        raise ValueError(
            f"unknown eval metric {spec['metric']!r}; choose one of {', '.join(EVAL_METRICS)}"
        )
    predictions = predict(
        model, dataset, batch_size=spec["batch_size"], device=device, num_workers=num_workers,
        amp=amp,
    )
    return EVAL_METRICS[spec["metric"]](predictions, spec["thresholds"], spec["joints"])


# ----------------------------------------------------------------------------- training loop


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
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "fit_hash": fit_hash,
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "state": asdict(state),
        "rng": _rng_state(),
    }
    temporary = path.with_name(f".{path.name}.tmp")
    torch.save(payload, temporary)
    os.replace(temporary, path)


def load_checkpoint(path: Path, device: torch.device | str = "cpu") -> dict:
    # Our own cache file: it holds numpy/Python RNG states, so it is not weights-only.
    return torch.load(path, map_location=device, weights_only=False)


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


def _all_reduce_mean(values: dict[str, float], device: torch.device) -> dict[str, float]:
    if distributed_info()[1] == 1:
        return values
    tensor = torch.tensor(list(values.values()), dtype=torch.float64, device=device)
    dist.all_reduce(tensor)
    tensor /= distributed_info()[1]
    return dict(zip(values, tensor.tolist()))


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
    layout = memory_format(device, spec["channels_last"])
    seed_everything(spec["seed"])
    model.to(device=device, memory_format=layout)
    optimizer = build_optimizer(model.parameters(), cfg["optimizer"])
    scheduler = build_scheduler(optimizer, cfg["scheduler"])
    state = LoopState()
    if resume and checkpoint is not None and checkpoint.is_file():
        saved = load_checkpoint(checkpoint, device)
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
    window: list[torch.Tensor] = []
    names: list[str] = []
    while state.epoch < spec["epochs"]:
        train_model.train()
        if hasattr(train_set, "set_epoch"):  # per-epoch augmentation streams (data.pipeline)
            train_set.set_epoch(state.epoch)
        order = epoch_indices(
            len(train_set), seed=spec["seed"], epoch=state.epoch, shuffle=True, rank=rank,
            world_size=world_size,
        )
        loader = _loader(
            train_set, order[state.step * batch_per_process :], batch_per_process,
            device=device, num_workers=spec["num_workers"], seed=spec["seed"] * 1000 + state.epoch,
            drop_last=True,
        )
        lr = optimizer.param_groups[0]["lr"]
        bar.set_description(f"epoch {state.epoch + 1}/{spec['epochs']}")
        last_log = time.perf_counter()
        for batch in loader:
            terms = _train_step(
                train_model, _to_device(batch, device, layout), loss_fn, optimizer,
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
        means = _all_reduce_mean(
            {name: total / state.step for name, total in state.loss_sums.items()}, device
        )
        scheduler.step()
        row = {"epoch": state.epoch + 1, "lr": lr, **means}
        last_epoch = state.epoch + 1 == spec["epochs"]
        if val_set is not None and ((state.epoch + 1) % cfg["eval"]["every"] == 0 or last_epoch):
            found = evaluate(
                model, val_set, cfg["eval"], device=device, num_workers=spec["num_workers"],
                amp=spec["amp"],
            )
            row |= {f"val_{name}": value for name, value in found.items()}
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


# ----------------------------------------------------------------------------- runs


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
    from handlib import models

    return _build_named(models.build, config["model"])


def load_or_train(
    config: dict, *, experiment: str, profile: str, run: str, progress: bool = True,
    need_model: bool = True,
) -> TrainedRun:
    """The finished run of ``config``: reused when its results and checkpoint carry the
    configuration's hash, else trained (resuming an interrupted run) and written to
    ``results_root()/experiment/profile/run``. See the module docstring for the reuse rule."""
    from handlib import losses
    from handlib.data.pipeline import build_dataset

    cfg = resolve_config(config)
    digest = config_hash(cfg)
    run_dir = results.run_dir(experiment, profile, run)
    saved = results.read_run(run_dir)
    if saved is not None and saved["provenance"]["config_hash"] != digest:
        saved = None  # the configuration changed: this run is stale
    if saved is not None and not need_model:
        return TrainedRun(
            None, saved["history"], saved["metrics"], run_dir, saved["provenance"], reused=True
        )

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
        model, cfg, train_set, val_set, loss_fn=_build_named(losses.build, cfg["loss"]),
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
        from handlib.data.synthetic import GENERATOR_VERSION

        dataset["generator_version"] = GENERATOR_VERSION
    provenance = results.provenance(
        config=cfg, config_hash=digest, device=str(device), dataset=dataset,
        wall_time_s=float(history["epoch_s"].sum()),
        throughput=float(history["samples"].sum() / history["train_s"].sum()),
        world_size=distributed_info()[1],
    )
    if distributed_info()[0] == 0:
        results.write_run(run_dir, history=history, metrics=metrics, provenance=provenance)
    return TrainedRun(model, history, metrics, run_dir, provenance, finished)


# ----------------------------------------------------------------------------- CLI


def _parse_override(text: str) -> dict:
    """``"train.epochs=5"`` → ``{"train": {"epochs": 5}}`` (the value is parsed as YAML)."""
    if "=" not in text:
        raise ValueError(f"--set expects KEY=VALUE (e.g. train.epochs=5), got {text!r}")
    key, value = text.split("=", 1)
    override: Any = yaml.safe_load(value)
    for part in reversed(key.split(".")):
        override = {part: override}
    return override


def run_config(config: dict, run: str | None) -> dict:
    """The config of one run. A chapter config with a ``runs:`` mapping defines several runs
    (each merged over the rest of the config); one without it is a single run."""
    if "runs" not in config:
        return config
    runs = config["runs"]
    if run not in runs:
        raise ValueError(f"choose a run with --run; this config defines: {', '.join(runs)}")
    base = {key: value for key, value in config.items() if key != "runs"}
    return deep_merge(base, runs[run])


def _train_command(args: argparse.Namespace) -> int:
    if args.config is not None:
        if not args.config.is_file():
            raise FileNotFoundError(f"config file {args.config} does not exist")
        config = yaml.safe_load(args.config.read_text())
        experiment = args.experiment or args.config.stem
    else:
        config = load_profile(args.chapter, args.profile)
        experiment = args.experiment or args.chapter
    config = run_config(config, args.run)
    for text in args.set:
        config = deep_merge(config, _parse_override(text))
    if args.device is not None:
        config = deep_merge(config, {"train": {"device": args.device}})
    run = args.run or config["model"]["name"]
    init_distributed(resolve_config(config)["train"]["device"])
    rank = distributed_info()[0]
    try:
        trained = load_or_train(
            config, experiment=experiment, profile=args.profile, run=run,
            progress=not args.no_progress,
        )
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()
    if rank == 0:
        state = "reused" if trained.reused else "trained"
        print(f"{state} {experiment}/{args.profile}/{run} -> {trained.run_dir}")
        print(json.dumps(trained.metrics, indent=2))
    return 0


def register_cli(subparsers) -> None:
    parser = subparsers.add_parser(
        "train",
        help="train a model (reusing a finished run); runs under torchrun for several GPUs",
        description="Train the run a chapter profile or a YAML config describes, write its results "
        "under book/results/<experiment>/<profile>/<run>/. Several GPUs: "
        "torchrun --nproc_per_node=N -m handlib train ...",
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--chapter", help="chapter whose handlib/configs/<chapter>.yaml to use")
    source.add_argument("--config", type=Path, help="a YAML file with the config sections")
    parser.add_argument(
        "--profile", default="smoke",
        help="smoke, cpu, gpu or paper: the chapter's profile and the results folder name",
    )
    parser.add_argument("--run", help="run name (selects from a config's runs:; default: model)")
    parser.add_argument("--experiment", help="results folder (default: chapter or config name)")
    parser.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE",
        help="override a setting, e.g. --set train.epochs=5 (repeatable; value parsed as YAML)",
    )
    parser.add_argument("--device", help="auto, cpu, cuda (default: the config's train.device)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.set_defaults(func=_train_command)
