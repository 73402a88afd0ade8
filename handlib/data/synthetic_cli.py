"""Command line of the synthetic hand engine: ``handlib synth`` and ``handlib bench-data``.

``handlib synth --split test --n 16 --size 256 --out DIR`` writes ``DIR/000000.npz`` ... (the
canonical sample's arrays under their canonical names, ``side`` as a string array, ``meta`` as a
JSON string) and ``DIR/preview.png``, a grid of the samples with their skeletons (occluded joints
hollow).

``handlib bench-data [--json] [--workers K]`` measures generation speed (samples/second) for RGB
and depth, at 128² and 256², with one and two hands, rendering one sample at a time in each of K
processes at once (default: one per core), as a cold shard cache is filled (and, with
``--device cuda``, in batches on the GPU).
"""
from __future__ import annotations

import json
import math
import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import torch

from handlib.data.synthetic import SyntheticHands, generation_workers
from handlib.results import atomic_write, write_npz_atomic
from handlib.viz import draw_skeleton, show_image


def register_cli(subparsers) -> None:
    synth = subparsers.add_parser("synth", help="write synthetic hand samples and a preview grid")
    synth.add_argument("--split", choices=("train", "val", "test", "hard"), default="train")
    synth.add_argument("--n", type=int, required=True, help="number of samples")
    synth.add_argument("--size", type=int, default=128, help="image side in pixels")
    synth.add_argument("--seed", type=int, default=0)
    synth.add_argument("--two-hands", action="store_true", help="a right and a left hand")
    synth.add_argument("--occluders", type=float, default=None, metavar="P",
                       help="probability of occluding objects (default: the split's preset)")
    synth.add_argument("--framing", choices=("scene", "hand"), default="scene")
    synth.add_argument("--out", type=Path, required=True, help="output folder")
    synth.set_defaults(func=run_synth)

    bench = subparsers.add_parser("bench-data", help="synthetic data generation speed")
    bench.add_argument("--json", action="store_true", help="print JSON instead of a table")
    bench.add_argument("--seconds", type=float, default=2.0,
                       help="time spent per configuration (default 2)")
    bench.add_argument("--device", default="cpu", help="cpu (one sample at a time) or cuda")
    bench.add_argument("--batch-size", type=int, default=64, help="batch size on a GPU")
    bench.add_argument("--workers", type=int, default=None,
                       help="processes rendering at once on a CPU (default: one per core)")
    bench.set_defaults(func=run_bench)


def save_sample(sample: dict, path: Path) -> None:
    """One canonical sample as ``.npz`` (meta as a JSON string), written atomically."""
    arrays = {k: np.asarray(v) for k, v in sample.items() if k != "meta"}
    arrays["meta"] = np.array(json.dumps(sample["meta"]))
    write_npz_atomic(path, arrays)


def preview_grid(samples: list[dict], columns: int = 8):
    """A matplotlib figure of the samples with their skeletons."""

    rows = math.ceil(len(samples) / columns)
    cols = min(columns, len(samples))
    fig, axes = plt.subplots(rows, cols, figsize=(2.2 * cols, 2.2 * rows), squeeze=False)
    for ax in axes.ravel():
        ax.set_axis_off()
    for ax, sample in zip(axes.ravel(), samples):
        show_image(ax, sample["image"] if "image" in sample else sample["depth"])
        hands = np.reshape(sample["kp2d"], (-1, 21, 2))
        visible = np.reshape(sample["visible"], (-1, 21))
        valid = np.asarray(sample.get("hand_valid", [True] * len(hands)))
        for kp, vis, ok in zip(hands, visible, valid):
            if ok:
                draw_skeleton(ax, kp, vis, linewidth=1.0, markersize=2.5)
        size = sample["mask"].shape
        ax.set_xlim(0, size[1])
        ax.set_ylim(size[0], 0)
        ax.set_title(sample["meta"]["id"], fontsize=7)
    fig.tight_layout()
    return fig


def run_synth(args) -> int:
    matplotlib.use("Agg")  # files only: no window, whatever the environment's backend

    if args.n <= 0:
        raise ValueError(f"--n must be a positive number of samples, got {args.n}")
    dataset = SyntheticHands(args.split, args.n, args.size, seed=args.seed,
                             two_hands=args.two_hands, occluder_prob=args.occluders,
                             framing=args.framing)
    args.out.mkdir(parents=True, exist_ok=True)
    samples = []
    for index in range(args.n):
        sample = dataset[index]
        save_sample(sample, args.out / f"{index:06d}.npz")
        if len(samples) < 32:
            samples.append(sample)
    fig = preview_grid(samples)
    atomic_write(args.out / "preview.png", lambda handle: fig.savefig(handle, dpi=100, format="png"),
                 binary=True)
    plt.close(fig)
    print(f"wrote {args.n} samples and preview.png to {args.out}")
    return 0


BENCH_CASES = [(modality, size, two) for modality in ("rgb", "depth") for size in (128, 256)
               for two in (False, True)]


def _render_for(case: tuple, seconds: float, device: str, batch: int,
                first: int) -> tuple[int, float]:
    """Render samples of ``case`` from index ``first`` for about ``seconds``: (count, elapsed)."""
    modality, size, two = case
    dataset = SyntheticHands("train", 10 ** 6, size, two_hands=two, modality=modality,
                             device=device)
    dataset.batch(range(first, first + batch))  # warm-up
    count, start, index = 0, time.perf_counter(), first + batch
    while time.perf_counter() - start < seconds:
        dataset.batch(range(index, index + batch))
        index += batch
        count += batch
    return count, time.perf_counter() - start


def benchmark(seconds: float = 2.0, device: str = "cpu", batch_size: int = 64,
              workers: int | None = None) -> list[dict]:
    """Samples/second for each of ``BENCH_CASES``: on a CPU one sample at a time in each of
    ``workers`` processes at once (default: one per core, as a cold shard cache is filled), on
    a GPU in batches of ``batch_size`` in this process."""

    if workers is not None and workers < 1:
        raise ValueError(f"--workers must be at least 1 process, got {workers}")
    on_cpu = torch.device(device).type == "cpu"
    workers = (generation_workers() if workers is None else workers) if on_cpu else 1
    batch = 1 if on_cpu else batch_size
    results = []
    for case in BENCH_CASES:
        if workers > 1:  # worker k renders its own indices, from 10^5 k on
            context = multiprocessing.get_context("fork")
            with ProcessPoolExecutor(workers, mp_context=context) as pool:
                done = list(pool.map(_render_for, [case] * workers, [seconds] * workers,
                                     [device] * workers, [batch] * workers,
                                     [10 ** 5 * k for k in range(workers)]))
        else:
            done = [_render_for(case, seconds, device, batch, 0)]
        rate = sum(count / elapsed for count, elapsed in done)
        modality, size, two = case
        results.append({"modality": modality, "size": size, "hands": 2 if two else 1,
                        "device": str(device), "batch": batch, "workers": workers,
                        "samples_per_s": round(rate, 1)})
    return results


def run_bench(args) -> int:
    results = benchmark(args.seconds, args.device, args.batch_size, args.workers)
    if args.json:
        print(json.dumps(results, indent=1))
    else:
        print(f"{'modality':<9}{'size':>6}{'hands':>7}{'batch':>7}{'workers':>9}"
              f"{'samples/s':>12}")
        for r in results:
            print(f"{r['modality']:<9}{r['size']:>6}{r['hands']:>7}{r['batch']:>7}"
                  f"{r['workers']:>9}{r['samples_per_s']:>12.1f}")
    return 0
