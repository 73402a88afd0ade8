"""Pre-fill the synthetic data of many runs at once, on every core (a cold cache, e.g. on a
freshly lent GPU machine, before any training).

A run renders its synthetic samples into cached shards (``handlib.data.shard_cache``) the first
time it builds each split (``handlib.data.pipeline.build_dataset``), one split at a time, while
the GPU waits. :func:`prefill` takes the (data spec, split) pairs of every run of a profile,
gathers the synthetic sources behind them (the shard cache each split reads: runs that differ in
codec, augmentation or model share a source), and renders every missing shard of all of them in
one pool of processes, one shard per task, so that the largest split is spread over every core
and the small ones fill the gaps. Real-data specs have nothing to render and are skipped.
Building any of those datasets afterwards renders nothing.

The pool forks this process (as ``ShardCache.fill`` does): call it before CUDA is initialised.
"""
from __future__ import annotations

import time
from pathlib import Path

from handlib.data.pipeline import resolve_spec
from handlib.data.shard_cache import ShardCache, fill_shards
from handlib.data.synthetic import SyntheticHands
from handlib.runtime import available_cores


def prefill(data_specs: list[tuple[dict, str]], *, processes: int | None = None) -> dict:
    """Render every missing shard of the synthetic splits ``data_specs`` names (pairs of a run's
    ``data`` spec and a split name), in ``processes`` worker processes (default: every core this
    process may use). Identical sources (same generator settings, split and sample count) are
    filled once; a shard two sources share (same folder and bounds) is rendered once.

    Returns ``{"sources": synthetic sources, "shards_filled": shards rendered now,
    "shards_present": shards already cached, "seconds": wall time}``."""
    if processes is not None and (not isinstance(processes, int) or processes < 1):
        raise ValueError(f"prefill: processes={processes!r} must be a positive integer")
    workers = available_cores() if processes is None else processes
    started = time.perf_counter()
    caches: dict[tuple[Path, int], ShardCache] = {}
    for spec, split in data_specs:
        spec = resolve_spec(spec)
        if spec["source"] != "synthetic" or not spec["cache"]:
            continue
        cache = SyntheticHands.from_data_spec(spec, split).cache
        caches.setdefault((cache.folder, cache.n), cache)
    jobs: dict[Path, tuple[ShardCache, int]] = {}
    present: set[Path] = set()
    for cache in caches.values():
        missing = set(cache.missing())
        for shard in range(cache.shard_count):
            path = cache.shard_path(shard)
            if shard not in missing:
                present.add(path)
            else:
                jobs.setdefault(path, (cache, shard))
    fill_shards(list(jobs.values()), workers)
    return {"sources": len(caches), "shards_filled": len(jobs), "shards_present": len(present),
            "seconds": time.perf_counter() - started}
