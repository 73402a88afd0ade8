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
    eval:      {metric, joints, thresholds, ..., split, test_split, also_test_on, loss, every,
                batch_size}

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

Evaluation. :func:`predict` runs a model over a dataset and decodes its outputs with the
dataset's codec (``data.codec``, ``handlib.codecs``) into one *prediction record* for every kind
of model: predicted and true keypoints in the samples' own frames (``kp2d`` in original-image
pixels, ``kp3d`` in camera mm), hand type and root depth when predicted, the masks, visibility
kinds and sample ids (``handlib.metrics`` documents every key). :func:`evaluate` scores a record
with the metrics named by ``eval.metric`` (one name or a list, from ``handlib.metrics.METRICS``)
over the joints ``eval.joints`` selects (``handlib.metrics.joint_mask``: the one rule for which
joints count, for validation and test alike). ``eval.split`` is the validation split (monitoring,
early stopping) and ``eval.test_split`` the split a study scores the run on, with
``eval.also_test_on`` more held-out splits it is scored on too (the synthetic ``hard`` split);
with ``eval.loss`` the loss and its terms are also computed on the validation split after each
validated epoch (``val_loss``, ``val_<term>``: a validation loss curve, ResUnet Fig. 3(b)); a
configuration that trains or validates on a split it is tested on, or validates on its training
split, is refused (:func:`check_splits`).

Devices. A profile that expects a GPU (``train.expects_gpu``) refuses to run where there is none
unless ``train.device`` is set explicitly (e.g. ``--device cpu``), and no data loader starts more
worker processes than the machine has cores.

Reuse (:func:`load_or_train`). Results (``book/results/...``, committed) are the record and
checkpoints (``handlib.paths.cache_dir()/checkpoints/<config hash>.pt``, never committed) are a
cache. A run is reused, not retrained, when its results and its finished checkpoint both carry
the configuration's hash. When the results exist but the checkpoint does not (a fresh clone),
``load_or_train`` retrains, because the caller asked for a model; callers that only need the
numbers pass ``need_model=False`` (or read them with ``handlib.results.load_run``) and no
training happens. The hash covers everything that changes the result (model, data spec, loss,
optimiser, scheduler, train settings incl. seed, eval settings, the synthetic generator's
version) and nothing that does not (:data:`NON_RESULT_KEYS`: device, workers, logging and
checkpoint frequency, evaluation batch size, the data's location on disk), **and the code**:
``handlib.code_version.code_hash`` of the modules behind the run (:func:`code_modules`: its
model's, its loss's and its codecs' modules, the data pipeline and this training loop, with
everything they import in handlib), so changing a model's default or a loss retrains instead of
silently reusing stale results and checkpoints.

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
from handlib.profiles import RUN_SECTIONS, deep_merge, load_profile, resolve_run, tiny_overrides

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
        "expects_gpu": False,
    },
    "eval": {
        "metric": "pck2d",
        "thresholds": [0.05, 0.1, 0.15, 0.2, 0.25, 0.3],
        "joints": "visible",
        "split": "val",
        "test_split": "test",
        "also_test_on": [],
        "loss": False,
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
    ("train", "expects_gpu"),
    ("eval", "batch_size"),
    ("data", "data_root"),
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

#: The labels a prediction record keeps from each batch (when the dataset provides them); the
#: keypoints among them are brought back into the samples' own frames like the predictions.
RECORD_LABELS: tuple[str, ...] = (
    "index", "kp2d", "labelled", "in_frame", "visible", "visibility_kind", "norm_size", "kp3d",
    "hand_valid", "root_depth", "rel_root", "crop", "mirrored",
)


# ----------------------------------------------------------------------------- configuration


def resolve_config(config: dict) -> dict:
    """``config`` with :data:`DEFAULTS` filled in (a new dict)."""
    return deep_merge(DEFAULTS, config)


def code_modules(config: dict) -> list[str]:
    """The handlib modules whose code turns ``config`` into results: the model's, the loss's
    and the codecs' modules, the data pipeline (with the real dataset's loader when the run
    reads one) and this training loop; ``handlib.code_version`` follows their imports."""
    from handlib import codecs, losses, models
    from handlib.data.pipeline import codec_parts

    modules = [__name__, "handlib.data.pipeline", models.module_of(config["model"]["name"])]
    if config.get("loss"):
        modules.append(losses.module_of(config["loss"]["name"]))
    modules += [codecs.module_of(part["name"]) for part in codec_parts(config.get("data", {}))]
    source = config.get("data", {}).get("source", "synthetic")
    if source != "synthetic":
        from handlib.data.formats import DATASET_MODULES

        modules += ["handlib.data.formats.common", DATASET_MODULES[source]]
    return modules


def code_hash(config: dict) -> str:
    """Hash of the code behind ``config`` (:func:`code_modules`, ``handlib.code_version``)."""
    from handlib.code_version import code_hash as hash_modules

    return hash_modules(code_modules(resolve_config(config)))


def config_hash(config: dict, sections: tuple[str, ...] = RUN_SECTIONS, *,
                with_code: bool = True) -> str:
    """SHA-256 (hex) of the result-determining part of ``config`` and, with ``with_code``, of
    the code behind it (see the module docstring)."""
    resolved = resolve_config(config)
    identity = {name: copy.deepcopy(resolved.get(name)) for name in sections}
    if with_code and "model" in sections:
        identity["code"] = code_hash(resolved)
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


def usable_workers(requested: int) -> int:
    """``requested`` loader workers, but never more than the cores this process may use (a
    gpu profile's 8 workers on a 2-core machine would only slow it down)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(0, min(int(requested), cores or 1))


def _loader(
    dataset: Dataset, indices: list[int], batch_size: int, *, device: torch.device,
    num_workers: int, seed: int, drop_last: bool,
) -> DataLoader:
    return DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=indices,
        num_workers=usable_workers(num_workers),
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
    """Run ``model`` over ``dataset`` (eval mode, no gradients) and return its prediction record.

    The dataset's codec (``dataset.codec``) decodes the model's outputs into the samples' own
    frames (``handlib.codecs.Codec.decode``); each predicted quantity ``q`` is stored as
    ``q_pred`` (``kp2d_pred``, ``kp3d_pred``, ``kp3d_rel_pred``, ``hand_type_pred``,
    ``root_depth_pred``, ``rel_root_pred``) beside ``confidence`` where the codec gives one, and
    the labels of :data:`RECORD_LABELS` are kept beside them, their keypoints brought into the
    same frames (``kp2d`` in original-image pixels, ``norm_size`` in those pixels too). All are
    stacked in dataset order. Under torchrun each process predicts its shard and every process
    returns the whole dataset's record.
    """
    from handlib.codecs import geometry

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
    codec = dataset.codec
    was_training = model.training
    model.eval()
    parts: dict[str, list[np.ndarray]] = {}
    with torch.inference_mode(), autocast(device, amp):
        for batch in loader:
            outputs = model(model_input(batch).to(device, non_blocking=True))
            outputs = {key: value.float() for key, value in outputs.items()}
            found = {("confidence" if key == "confidence" else f"{key}_pred"): value
                     for key, value in codec.decode(outputs, batch).items()}
            labels = {key: _numpy(batch[key]) for key in RECORD_LABELS if key in batch}
            found |= geometry.to_sample_frame(labels, batch)
            found["norm_size"] = labels["norm_size"] / geometry.crop_scale(labels["crop"])
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


def evaluate(
    model: nn.Module, dataset: Dataset, eval_config: dict | None = None, *,
    device: str | torch.device = "auto", num_workers: int = 0, amp: bool = False,
) -> dict[str, float]:
    """The ``eval_config`` metrics (default :data:`DEFAULTS` ``eval``) of ``model`` on
    ``dataset`` (pass the validation or test split, never the training split)."""
    from handlib import metrics

    spec = deep_merge(DEFAULTS["eval"], eval_config or {})
    metrics.check_metric_names(spec["metric"])
    record = predict(
        model, dataset, batch_size=spec["batch_size"], device=device, num_workers=num_workers,
        amp=amp,
    )
    return metrics.evaluate_record(record, spec)


def validation_loss(
    model: nn.Module, dataset: Dataset, loss_fn: LossFn, *, batch_size: int = 64,
    device: torch.device, num_workers: int = 0, amp: bool = False,
) -> dict[str, float]:
    """The mean over ``dataset``'s samples of each loss term and of their sum ``loss``, in eval
    mode and without gradients (pass the validation split)."""
    rank, world_size = distributed_info()
    positions = epoch_indices(len(dataset), seed=0, epoch=0, shuffle=False, rank=rank,
                              world_size=world_size, drop_last=False)
    loader = _loader(dataset, positions, batch_size, device=device, num_workers=num_workers,
                     seed=0, drop_last=False)
    was_training = model.training
    model.eval()
    sums: dict[str, float] = {}
    with torch.inference_mode(), autocast(device, amp):
        for batch in loader:
            batch = _to_device(batch, device, torch.contiguous_format)
            terms = loss_fn(model(model_input(batch)), batch)
            terms["loss"] = torch.stack([value.float() for value in terms.values()]).sum()
            count = len(model_input(batch))
            for name, value in terms.items():
                sums[name] = sums.get(name, 0.0) + float(value) * count
    model.train(was_training)
    return _all_reduce_mean({name: total / len(dataset) * world_size
                             for name, total in sums.items()}, device)


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
    payload = {
        "fit_hash": fit_hash,
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "state": asdict(state),
        "rng": _rng_state(),
    }
    results.atomic_write(path, lambda handle: torch.save(payload, handle), binary=True)


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
            if cfg["eval"]["loss"]:
                row |= {f"val_{name}": value for name, value in validation_loss(
                    model, val_set, loss_fn, batch_size=cfg["eval"]["batch_size"],
                    device=device, num_workers=spec["num_workers"], amp=spec["amp"]).items()}
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


def check_splits(config: dict) -> None:
    """Refuse a configuration that trains or validates on its test split, or validates on its
    training split: its validation numbers would be test or training numbers in disguise."""
    cfg = resolve_config(config)
    train, val, test = cfg["train"]["split"], cfg["eval"]["split"], cfg["eval"]["test_split"]
    if train == test:
        raise ValueError(f"train.split is {train!r}, the test split (eval.test_split): a model "
                         "may never be trained on the data it is tested on; train on the "
                         "training split")
    if val == test:
        raise ValueError(f"eval.split is {val!r}, the test split (eval.test_split): validation "
                         "(monitoring, early stopping, choosing an epoch) must not see the test "
                         "split; validate on a validation split such as 'val'")
    leaked = sorted({train, val} & set(cfg["eval"]["also_test_on"]))
    if leaked:
        raise ValueError(f"eval.also_test_on names {leaked}, which the run trains or validates "
                         "on: a test split must be held out from both")
    if val == train:
        raise ValueError(f"eval.split and train.split are both {train!r}: a metric on the "
                         "training set is not a validation metric; validate on a held-out split")


def split_roles(cfg: dict) -> dict[str, str]:
    """What each split a run reads is for -> its name: training, validation, test and every
    ``eval.also_test_on`` split (a resolved configuration)."""
    roles = {"training": cfg["train"]["split"], "validation": cfg["eval"]["split"],
             "test": cfg["eval"]["test_split"]}
    roles.update({f"also-tested ({split})": split for split in cfg["eval"].get("also_test_on") or []})
    return roles


def check_device(config: dict) -> None:
    """Refuse to start a profile that expects a GPU (``train.expects_gpu``) on a machine without
    CUDA, unless the device was chosen explicitly (``train.device`` other than ``auto``)."""
    spec = resolve_config(config)["train"]
    if spec["expects_gpu"] and spec["device"] == "auto" and not torch.cuda.is_available():
        raise ValueError("this profile expects a GPU (its schedule would take hours on a CPU) "
                         "and none is available; run it on a machine with CUDA, or set the "
                         "device explicitly to run it here anyway (`--device cpu`, or "
                         "device=\"cpu\" in the notebook's parameters)")


def load_or_train(
    config: dict, *, experiment: str, profile: str, run: str, progress: bool = True,
    need_model: bool = True,
) -> TrainedRun:
    """The finished run of ``config``: reused when its results and checkpoint carry the
    configuration's hash (which covers the code behind it), else trained (resuming an
    interrupted run) and written to ``results_root()/experiment/profile/run``. See the module
    docstring for the reuse rule; :func:`check_splits` and :func:`check_device` guard it."""
    from handlib import losses
    from handlib.data.pipeline import build_dataset, check_splits_have_samples

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
        config=cfg, config_hash=digest, code_hash=code_hash(cfg), device=str(device),
        dataset=dataset,
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


def _overrides(texts: list[str]) -> dict:
    merged: dict = {}
    for text in texts:
        merged = deep_merge(merged, _parse_override(text))
    return merged


def _train_study(args: argparse.Namespace, overrides: dict) -> int:
    """``handlib train --chapter`` for a chapter with a study: the notebook's configuration of a
    run (or of all of them with ``--all``), trained, scored on its test split and written where
    the chapter reads it."""
    from handlib import study

    data_root = overrides.get("data", {}).pop("data_root", args.data_root)
    cfg = study.apply_parameters(
        load_profile(args.chapter, args.profile), data_root=data_root, seed=args.seed,
        device=args.device or "auto", overrides=overrides,
    )
    if args.all:
        runs = study.study_runs(cfg)
    elif args.run is None:
        raise ValueError(f"choose a run with --run (or --all); chapter {args.chapter!r} defines "
                         f"{', '.join(cfg['runs'])}")
    else:
        runs = study.find_runs(cfg, args.dataset, args.run, args.training_seed)
    init_distributed(resolve_config(runs[0].config)["train"]["device"])
    try:
        for run in runs:
            study.predict_test_split(run, args.chapter, args.profile,
                                     progress=not args.no_progress)
            if distributed_info()[0] == 0:
                found = results.load_run(args.chapter, args.profile, run.run_id)
                print(f"{args.chapter}/{args.profile}/{run.run_id} -> "
                      f"{results.run_dir(args.chapter, args.profile, run.run_id)}")
                print(json.dumps(found["metrics"], indent=2))
        if args.all and cfg.get("bench") and distributed_info()[0] == 0:
            study.bench_study(cfg)
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()
    return 0


def _train_command(args: argparse.Namespace) -> int:
    overrides = _overrides(args.set)
    if args.tiny:
        if args.chapter is None:
            raise ValueError("--tiny shrinks a chapter's profile: use it with --chapter")
        overrides = deep_merge(tiny_overrides(args.chapter), overrides)
    if args.config is not None:
        if not args.config.is_file():
            raise FileNotFoundError(f"config file {args.config} does not exist")
        config = yaml.safe_load(args.config.read_text())
        experiment = args.experiment or args.config.stem
    else:
        config = load_profile(args.chapter, args.profile)
        if "study" in config:
            return _train_study(args, overrides)
        experiment = args.experiment or args.chapter
    config = deep_merge(resolve_run(config, args.run), overrides)
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
    source.add_argument("--chapter", help="chapter whose profiles to use (handlib/papers/<paper>/"
                        "profiles.yaml or handlib/configs/<chapter>.yaml)")
    source.add_argument("--config", type=Path, help="a YAML file with the config sections")
    parser.add_argument(
        "--profile", default="smoke",
        help="smoke, cpu, gpu or paper: the chapter's profile and the results folder name",
    )
    parser.add_argument("--run", help="run name (selects from a config's runs:; default: model)")
    parser.add_argument("--all", action="store_true",
                        help="a chapter with a study: every run of the profile, and its bench")
    parser.add_argument("--dataset", help="a chapter with a study: which of the profile's "
                        "datasets (default: its only one)")
    parser.add_argument("--seed", type=int, default=0,
                        help="as the notebook's `seed` parameter: shifts the profile's seeds")
    parser.add_argument("--training-seed", type=int, help="which of the (shifted) training "
                        "seeds of the profile to train (default: the first)")
    parser.add_argument("--data-root", help="as the notebook's `data_root`: the folder holding "
                        "the profile's real datasets (also read from --set data.data_root=...)")
    parser.add_argument("--experiment", help="results folder (default: chapter or config name)")
    parser.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE",
        help="override a setting, e.g. --set train.epochs=5 (repeatable; value parsed as YAML)",
    )
    parser.add_argument("--device", help="auto, cpu, cuda (default: the config's train.device)")
    parser.add_argument("--tiny", action="store_true",
                        help="a chapter's profile at toy size (its `tiny` block: a few steps of "
                        "narrow models), to check that a profile runs end to end; --set wins")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.set_defaults(func=_train_command)
