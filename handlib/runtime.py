"""Where and how a model runs: devices, processes, seeds, precision and the data loaders.

Shared by the training loop (``handlib.training``), prediction and evaluation
(``handlib.evaluation``) and the speed benchmark (``handlib.bench``). On CUDA, ``amp`` is bf16
autocast and ``channels_last`` the channels-last memory format; on CPU autocast is a no-op and
channels-last applies in fp32 (see :func:`memory_format`). Each epoch's sample order is a function of (seed, epoch)
(:func:`epoch_indices`, a distributed sampler as a list) and loader workers are seeded from a
generator seeded by the caller, so a run is reproducible on any number of workers.

**CPU threads.** On CPU each run (and each prediction) takes every core of a quiet machine but
one thread when other processes keep a core busy (:func:`cpu_threads`, chosen when the device
is resolved). PyTorch's OpenMP threads spin while they wait for each other; two such processes
on two cores spend most of their time spinning. Measured on this project's 2-core machine (the
MS-FF cpu model, 40 training steps of 32 images): quiet, 2 threads 318 samples/s and 1 thread
185; with a second copy running, 2 threads each 29 samples/s, ``OMP_WAIT_POLICY=PASSIVE`` 114,
1 thread each 163. ``HANDLIB_CPU_THREADS`` fixes the count instead. Float sums may differ in
their last digits between thread counts.
"""
from __future__ import annotations

import contextlib
import math
import os
import random
import time

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
    if device.type == "cpu":
        torch.set_num_threads(cpu_threads())
    return device


#: An integer here fixes the CPU threads of every run, overriding :func:`cpu_threads`' choice.
THREADS_VARIABLE = "HANDLIB_CPU_THREADS"
#: A choice is reused for this many seconds (a chapter's many short predictions, a test suite's
#: many tiny runs), so the machine is sampled at most once in that time.
THREADS_REUSE_S = 10.0
_last_choice: dict = {}


def cpu_threads(window_s: float = 0.1) -> int:
    """The threads for this process's CPU work: every core it may use on a quiet machine, one
    fewer for each core other processes keep busy (:func:`busy_cores_elsewhere`, over
    ``window_s``), at least one; ``HANDLIB_CPU_THREADS`` when set."""
    if os.environ.get(THREADS_VARIABLE):
        fixed = os.environ[THREADS_VARIABLE]
        if not fixed.isdigit() or int(fixed) < 1:
            raise ValueError(f"{THREADS_VARIABLE}={fixed!r} is not a positive whole number of "
                             f"threads: set it to e.g. 1 or 2, or unset it to let each run choose")
        return int(fixed)
    now = time.monotonic()
    if _last_choice and now - _last_choice["at"] < THREADS_REUSE_S:
        return _last_choice["threads"]
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    busy = busy_cores_elsewhere(window_s)
    threads = cores if busy is None else max(1, cores - math.floor(busy + 0.5))
    _last_choice.update(at=now, threads=threads)
    return threads


def busy_cores_elsewhere(window_s: float = 0.1) -> float | None:
    """How many cores processes other than this one kept busy over ``window_s`` seconds (all
    CPU time in Linux's ``/proc/stat`` less this process's own); ``None`` where ``/proc`` cannot
    be read (the caller then assumes a quiet machine)."""
    try:
        total_before, own_before = _cpu_ticks()
        time.sleep(window_s)
        total_after, own_after = _cpu_ticks()
    except OSError:
        return None
    ticks = (total_after - total_before) - (own_after - own_before)
    return max(0.0, ticks / os.sysconf("SC_CLK_TCK") / window_s)


def _cpu_ticks() -> tuple[int, int]:
    """``(busy ticks of every CPU, ticks of this process)``: ``/proc/stat``'s first line (user,
    nice, system, idle, iowait, irq, softirq, steal; guest time is already counted in user) less
    its idle and iowait, and ``/proc/self/stat``'s user and system time."""
    with open("/proc/stat") as stat:
        columns = [int(value) for value in stat.readline().split()[1:9]]
    busy = sum(columns) - columns[3] - columns[4]
    with open("/proc/self/stat") as own:
        fields = own.read().rsplit(")", 1)[1].split()  # after the command name: field 3 on
    return busy, int(fields[11]) + int(fields[12])


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


def memory_format(channels_last: bool) -> torch.memory_format:
    """channels-last when ``channels_last``, contiguous otherwise, on CUDA and on the CPU.

    On the CPU the engine trains in fp32 (its bf16 autocast is CUDA-only: torch 2.13's bf16
    channels-last convolution backward on CPU corrupts the heap, ``free(): invalid next
    size``). In fp32, channels-last trained 15 of the 17 headline models of the cpu profiles
    1.0-1.5x faster on 2 cores (``handlib throughput``), MS-FF's two 0.9-1.0x, so each
    cpu profile says which it uses."""
    return torch.channels_last if channels_last else torch.contiguous_format


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
