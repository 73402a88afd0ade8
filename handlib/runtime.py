"""Where and how a model runs: devices, processes, seeds, precision and the data loaders.

Shared by the training loop (``handlib.training``), prediction and evaluation
(``handlib.evaluation``) and the speed benchmark (``handlib.bench``). ``amp`` is bf16 autocast,
on CUDA and on the CPU alike (a CPU rehearsal takes the gpu profile's code path), and
``channels_last`` the channels-last memory format, except on the CPU under ``amp`` (see
:func:`memory_format`, the one place that decides).

**Loaders.** Each epoch's sample order is a function of (seed, epoch) (:func:`epoch_indices`, a
distributed sampler as a list). A training run reads its set through one loader for the whole
fit (:class:`EpochSampler` over :class:`EpochItems`): its worker processes are started once and
persist across epochs, and each index they receive carries its epoch, so the per-epoch
augmentation stream (``set_epoch``, ``handlib.data.pipeline``) reaches workers that were forked
before the epoch began. A validation set is read the same way, one persistent loader per fit
(:func:`eval_loader`). Loader workers are seeded from a generator seeded by the caller; a
dataset draws its augmentation from (seed, epoch, index), so a run is reproducible, and resumes
exactly, on any number of workers.

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
from collections.abc import Iterator

import numpy as np
import torch
import torch.distributed as dist
from torch.utils.data import DataLoader, Dataset, Sampler


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


def available_cores() -> int:
    """The cores this process may run on (its CPU affinity where the system has one)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


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
    cores = available_cores()
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
    """bf16 autocast on CUDA or the CPU when ``enabled``; a no-op context otherwise."""
    if enabled and device.type in ("cuda", "cpu"):
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def memory_format(channels_last: bool, device: torch.device, amp: bool) -> torch.memory_format:
    """The layout of a model and its input batches: channels-last when ``channels_last``, on
    CUDA and on the CPU, except on the CPU under ``amp``, where it is contiguous.

    torch 2.13's bf16 channels-last convolution backward on CPU corrupts the heap (``free():
    invalid next size``), so a CPU run in bf16 autocast (``amp``, a rehearsal of the gpu path)
    keeps the contiguous layout. In fp32, channels-last trained 15 of the 17 headline models of
    the cpu profiles 1.0-1.5x faster on 2 cores (``handlib throughput``), MS-FF's two
    0.9-1.0x, so each cpu profile says which it uses."""
    if channels_last and not (device.type == "cpu" and amp):
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
    return max(0, min(int(requested), available_cores()))


class EpochSampler(Sampler):
    """This process's sample order of one epoch of a training set (:func:`epoch_indices`,
    shuffled by (seed, epoch)) from position ``start`` on, as ``(epoch, index)`` keys for
    :class:`EpochItems`. :meth:`set_epoch` chooses the epoch and the position before each pass
    over the loader, so one loader (and its persistent workers) serves every epoch of a fit,
    a resumed one's first, partial epoch included."""

    def __init__(self, size: int, *, seed: int, rank: int = 0, world_size: int = 1):
        self.size, self.seed, self.rank, self.world_size = size, seed, rank, world_size
        self.epoch, self.start = 0, 0

    def set_epoch(self, epoch: int, start: int = 0) -> None:
        self.epoch, self.start = int(epoch), int(start)

    def __iter__(self) -> Iterator[tuple[int, int]]:
        order = epoch_indices(self.size, seed=self.seed, epoch=self.epoch, shuffle=True,
                              rank=self.rank, world_size=self.world_size)
        return iter([(self.epoch, index) for index in order[self.start:]])

    def __len__(self) -> int:
        return max(0, self.size // self.world_size - self.start)


class EpochItems(Dataset):
    """``dataset`` read by the ``(epoch, index)`` keys of :class:`EpochSampler`: in whichever
    process reads the item (a persistent loader worker holds its own copy of the dataset, which
    the training loop cannot reach), the dataset's epoch is set (``set_epoch``, its augmentation
    stream) before item ``index`` is read."""

    def __init__(self, dataset: Dataset):
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, key: tuple[int, int]):
        epoch, index = key
        if hasattr(self.dataset, "set_epoch"):
            self.dataset.set_epoch(epoch)
        return self.dataset[index]


def make_loader(
    dataset: Dataset, sampler: Sampler | list[int], batch_size: int, *, device: torch.device,
    num_workers: int, seed: int, drop_last: bool, persistent: bool = False,
) -> DataLoader:
    """A loader of ``dataset`` in the order of ``sampler`` (a list of indices or a sampler);
    with ``persistent``, its workers (if any) are started on the first pass and kept for every
    later one."""
    workers = usable_workers(num_workers)
    return DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=sampler,
        num_workers=workers,
        pin_memory=device.type == "cuda",
        drop_last=drop_last,
        worker_init_fn=_seed_worker,
        generator=torch.Generator().manual_seed(seed),
        persistent_workers=persistent and workers > 0,
    )


def eval_loader(dataset: Dataset, batch_size: int, *, device: torch.device, num_workers: int,
                persistent: bool = False) -> DataLoader:
    """A loader of this process's share of ``dataset`` in dataset order, every sample once
    (under torchrun the shards of :func:`epoch_indices` without shuffling, the last one padded
    to an equal length), for prediction and validation; ``persistent`` as :func:`make_loader`
    (the training loop reads its validation set through one such loader per fit)."""
    rank, world_size = distributed_info()
    positions = epoch_indices(len(dataset), seed=0, epoch=0, shuffle=False, rank=rank,
                              world_size=world_size, drop_last=False)
    return make_loader(dataset, positions, batch_size, device=device, num_workers=num_workers,
                       seed=0, drop_last=False, persistent=persistent)


def all_reduce_mean(values: dict[str, float], device: torch.device) -> dict[str, float]:
    if distributed_info()[1] == 1:
        return values
    tensor = torch.tensor(list(values.values()), dtype=torch.float64, device=device)
    dist.all_reduce(tensor)
    tensor /= distributed_info()[1]
    return dict(zip(values, tensor.tolist()))
