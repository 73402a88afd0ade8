"""Where and how a model runs: devices, processes, seeds, precision and the data loaders.

Shared by the training loop (``handlib.training``), prediction and evaluation
(``handlib.evaluation``) and the speed benchmark (``handlib.bench``). On CUDA, ``amp`` is bf16
autocast and ``channels_last`` the channels-last memory format; on CPU both are no-ops (see
:func:`memory_format`). Each epoch's sample order is a function of (seed, epoch)
(:func:`epoch_indices`, a distributed sampler as a list) and loader workers are seeded from a
generator seeded by the caller, so a run is reproducible on any number of workers.
"""
from __future__ import annotations

import contextlib
import os
import random

import numpy as np
import torch
import torch.distributed as dist
from torch.utils.data import DataLoader, Dataset


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


def to_device(batch: dict, device: torch.device, memory_format: torch.memory_format) -> dict:
    moved = {}
    for key, value in batch.items():
        if isinstance(value, torch.Tensor):
            value = value.to(device, non_blocking=True)
            if value.ndim == 4:
                value = value.contiguous(memory_format=memory_format)
        moved[key] = value
    return moved


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


def make_loader(
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


def all_reduce_mean(values: dict[str, float], device: torch.device) -> dict[str, float]:
    if distributed_info()[1] == 1:
        return values
    tensor = torch.tensor(list(values.values()), dtype=torch.float64, device=device)
    dist.all_reduce(tensor)
    tensor /= distributed_info()[1]
    return dict(zip(values, tensor.tolist()))
