"""A disk cache of generated samples: shards of memory-mapped ``.npy`` arrays.

Shard ``[start, stop)`` of a dataset lives in ``<folder>/<start>-<stop>/``: one ``.npy`` file per
array field (samples stacked on the first axis) and ``records.json`` with the other fields
(strings, metadata). A shard is written to a temporary folder and renamed into place, so a reader
never sees half a shard and two processes generating the same shard do not corrupt it. Arrays are
opened memory-mapped, so random access during shuffled training reads only the sample it needs.
``fill(workers)`` renders the missing shards in that many processes at once (one shard each), so a
cold cache is filled on every core; :func:`fill_shards` does the same for the shards of many caches
at once (``handlib.data.prefill``: every split of every run of a profile in one pool).
"""
from __future__ import annotations

import json
import multiprocessing
import os
import shutil
import uuid
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Callable, Sequence

import numpy as np


class ShardCache:
    """Samples ``0..n-1`` produced by ``render(indices) -> list[dict]`` (called with up to
    ``render_chunk`` indices at a time), cached under ``folder``."""

    def __init__(self, folder: Path, n: int, shard_size: int,
                 render: Callable[[Sequence[int]], list[dict]], render_chunk: int = 1):
        if shard_size <= 0 or render_chunk <= 0:
            raise ValueError(f"shard_size and render_chunk must be positive, got {shard_size} "
                             f"and {render_chunk}")
        self.folder, self.n, self.shard_size, self.render = Path(folder), n, shard_size, render
        self.render_chunk = render_chunk
        self._open: dict[int, tuple[dict, list]] = {}

    def _bounds(self, shard: int) -> tuple[Path, range]:
        start = shard * self.shard_size
        stop = min(start + self.shard_size, self.n)
        return self.folder / f"{start:07d}-{stop:07d}", range(start, stop)

    @property
    def shard_count(self) -> int:
        return (self.n + self.shard_size - 1) // self.shard_size

    def shard_path(self, shard: int) -> Path:
        """The folder of shard ``shard``: the same for every cache of this folder, shard size and
        bounds, so two caches that hold the same samples name the same shard."""
        return self._bounds(shard)[0]

    def missing(self) -> list[int]:
        """The shards not yet written."""
        return [k for k in range(self.shard_count)
                if not (self.shard_path(k) / "records.json").is_file()]

    def write_shard(self, shard: int) -> None:
        """Render shard ``shard`` and write it (atomically: see the module doc)."""
        self._write(*self._bounds(shard))

    def fill(self, workers: int) -> None:
        """Render every missing shard now, in up to ``workers`` forked processes."""
        fill_shards([(self, shard) for shard in self.missing()], workers)

    def __getstate__(self) -> dict:
        # a cache sent to a worker process travels without the shards it has opened (their
        # memory maps would be pickled as copies of the arrays)
        return {**self.__dict__, "_open": {}}

    def _shard(self, shard: int) -> tuple[dict, list]:
        if shard not in self._open:
            path, indices = self._bounds(shard)
            if not (path / "records.json").is_file():
                self._write(path, indices)
            records = json.loads((path / "records.json").read_text())
            arrays = {p.stem: np.load(p, mmap_mode="r") for p in sorted(path.glob("*.npy"))}
            self._open[shard] = (arrays, records)
        return self._open[shard]

    def _write(self, path: Path, indices: range) -> None:
        samples = []
        for first in range(indices.start, indices.stop, self.render_chunk):
            samples += self.render(list(range(first, min(first + self.render_chunk,
                                                         indices.stop))))
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}")
        tmp.mkdir(parents=True)
        records = [{} for _ in samples]
        for key, value in samples[0].items():
            if isinstance(value, np.ndarray) and value.dtype.kind in "biuf":
                np.save(tmp / f"{key}.npy", np.stack([s[key] for s in samples]))
            else:
                for record, sample in zip(records, samples):
                    item = sample[key]
                    record[key] = ({"ndarray": item.tolist()} if isinstance(item, np.ndarray)
                                   else item)
        (tmp / "records.json").write_text(json.dumps(records))
        try:
            tmp.rename(path)
        except OSError:  # another process wrote this shard first
            shutil.rmtree(tmp, ignore_errors=True)

    def __getitem__(self, index: int) -> dict:
        arrays, records = self._shard(index // self.shard_size)
        offset = index % self.shard_size
        sample = {key: np.array(array[offset]) for key, array in arrays.items()}
        for key, value in records[offset].items():
            sample[key] = (np.asarray(value["ndarray"]) if isinstance(value, dict)
                           and set(value) == {"ndarray"} else value)
        return sample


def _write_job(job: tuple[ShardCache, int]) -> None:
    cache, shard = job
    cache.write_shard(shard)


def fill_shards(jobs: Sequence[tuple[ShardCache, int]], workers: int) -> None:
    """Write the shards ``jobs`` names (``(cache, shard)`` pairs, of one cache or many), in up to
    ``workers`` forked processes, one shard per task; in this process when ``workers <= 1`` or
    there is one job."""
    if workers <= 1 or len(jobs) <= 1:
        for job in jobs:
            _write_job(job)
        return
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(min(workers, len(jobs)), mp_context=context) as pool:
        list(pool.map(_write_job, jobs))
