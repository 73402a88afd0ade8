"""CPU training throughput of each chapter's headline runs against the machine's fp32
matrix-multiply rate (``handlib throughput``).

:func:`throughput_table` measures the samples/s of each chapter's headline runs
(:func:`headline_runs`) through the engine's own training step (:func:`training_throughput`:
the run's model, loss and optimiser on one batch of its own training data) at each thread count
(1 and 2 by default), contiguous and channels-last, beside the fp32 matrix-multiply rate of the
same process at the same thread count (:func:`gemm_rate`): the fraction of the machine's
attainable rate each model reaches, and which layout and thread count train faster (the cpu
profiles' ``train.channels_last`` follows it). Forward FLOPs are ``handlib.bench``'s; a training
step counts 3 times them (the backward pass about twice the forward).
"""
from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from handlib import engine, losses, profiles, study
from handlib.bench import forward_gflops, median_seconds, model_input_size, positive_integers
from handlib.data.pipeline import build_dataset, resolve_spec
from handlib.engine import memory_format
from handlib.profiles import deep_merge, load_profile, tiny_overrides
from handlib.results import device_name
from handlib.runconfig import build_named
from handlib.runtime import make_loader, to_device
from handlib.training import _train_step  # the engine's own optimiser step, measured as it runs


def gemm_rate(size: int = 1024, repeats: int = 10, warmup: int = 2,
              device: str = "cpu") -> float:
    """GFLOP/s of fp32 ``torch.mm`` of two ``size`` x ``size`` matrices on ``device`` at the
    current thread count: 2·size³ FLOPs per multiply over the median of ``repeats`` timed
    multiplies after ``warmup`` untimed ones. The rate this machine attains on the work a
    convolution is made of, against which a model's achieved rate is read."""
    if size < 1 or repeats < 1 or warmup < 0:
        raise ValueError(f"gemm_rate needs size >= 1, repeats >= 1 and warmup >= 0; got "
                         f"size={size}, repeats={repeats}, warmup={warmup}")
    torch_device = torch.device(device)  # not resolve_device: it would reset the CPU threads
    left = torch.randn(size, size, device=torch_device)
    right = torch.randn(size, size, device=torch_device)
    seconds = median_seconds(lambda: torch.mm(left, right), torch_device, warmup, repeats)
    return 2 * size**3 / seconds / 1e9


def training_batch(config: dict) -> dict:
    """One training batch of the run ``config`` describes: the first ``train.batch_size``
    samples of its training split (samples the run itself trains on) through its own pipeline,
    augmentation and codec targets included, collated by the engine's loader. Synthetic samples
    are rendered for this batch alone (no other sample, no cache); a real split is opened under
    ``data.data_root``."""
    cfg = engine.resolve_config(config)
    batch_size, split = cfg["train"]["batch_size"], cfg["train"]["split"]
    data = cfg["data"]
    if resolve_spec(data)["source"] == "synthetic":
        data = deep_merge(data, {"n": {split: batch_size}, "cache": False})
    dataset = build_dataset(data, split, training=True)
    if len(dataset) < batch_size:
        raise ValueError(f"the training split {split!r} has {len(dataset)} samples, fewer than "
                         f"one batch (train.batch_size {batch_size})")
    loader = make_loader(dataset, list(range(batch_size)), batch_size, device=torch.device("cpu"),
                         num_workers=0, seed=cfg["train"]["seed"], drop_last=True)
    return next(iter(loader))


def training_throughput(config: dict, steps: int = 10, warmup: int = 2, threads: int = 1,
                        channels_last: bool = False) -> dict[str, Any]:
    """Training samples/s on the CPU of the run ``config`` describes, beside the machine's
    matrix-multiply rate at the same thread count.

    The step is the engine's own (``handlib.training``: forward, the run's loss from
    ``handlib.losses``, backward, gradient clipping if set, the run's optimiser step) on the
    run's model, repeated on one fixed batch of the run's training data (:func:`training_batch`);
    its time is the median of ``steps`` timed steps after ``warmup`` untimed ones, with
    ``threads`` CPU threads and the model and batch channels-last or contiguous, in fp32 whatever
    the run's ``train.amp`` (the layouts are compared as the cpu profiles train). The achieved
    rate counts 3 x the forward FLOPs per sample (:func:`forward_gflops`; backward ≈ 2 x
    forward); :func:`gemm_rate` is measured right after, in this process at the same thread
    count. The previous thread count is restored.

    Returns ``{"batch", "threads", "channels_last", "samples_per_s", "forward_gflops",
    "achieved_gflops_per_s", "gemm_gflops_per_s", "fraction_of_gemm"}``."""
    if steps < 1 or warmup < 0 or threads < 1:
        raise ValueError(f"training_throughput needs steps >= 1, warmup >= 0 and threads >= 1; "
                         f"got steps={steps}, warmup={warmup}, threads={threads}")
    cfg = engine.resolve_config(config)
    device = torch.device("cpu")
    layout = memory_format(channels_last, device, amp=False)
    batch = to_device(training_batch(cfg), device, layout)
    model = engine.build_model(cfg).to(memory_format=layout).train()
    loss_fn = build_named(losses.build, cfg["loss"])
    optimizer = engine.build_optimizer(model.parameters(), cfg["optimizer"])

    def step() -> None:
        _train_step(model, batch, loss_fn, optimizer, device=device, amp=False,
                    grad_clip=cfg["train"]["grad_clip"])

    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        seconds = median_seconds(step, device, warmup, steps)
        gemm = gemm_rate()
    finally:
        torch.set_num_threads(previous)
    samples_per_s = cfg["train"]["batch_size"] / seconds
    gflops = forward_gflops(cfg)
    achieved = 3 * gflops * samples_per_s
    return {"batch": cfg["train"]["batch_size"], "threads": threads,
            "channels_last": channels_last, "samples_per_s": samples_per_s,
            "forward_gflops": gflops, "achieved_gflops_per_s": achieved,
            "gemm_gflops_per_s": gemm, "fraction_of_gemm": achieved / gemm}


#: The study group whose runs are a chapter's headline comparison (every paper chapter has one).
HEADLINE_GROUP = "main"


def headline_runs(chapter: str, profile: str, overrides: dict | None = None) -> dict[str, dict]:
    """Run id -> configuration of the chapter's headline runs under ``profile``: the runs of
    its study group :data:`HEADLINE_GROUP` on the first dataset the group trains on, with the
    profile's first seed, as the notebook builds them (``overrides`` merged over the profile, e.g. its
    ``tiny`` block)."""
    settings = load_profile(chapter, profile)
    if HEADLINE_GROUP not in settings.get("study", {}).get("groups", {}):
        raise ValueError(f"chapter {chapter!r} has no study group {HEADLINE_GROUP!r}; chapters "
                         f"with one: {', '.join(throughput_chapters())}")
    cfg = study.apply_parameters(settings, overrides=overrides)
    groups = cfg["study"]["groups"]
    dataset = study.trained_datasets(cfg, HEADLINE_GROUP)[0]
    seed = cfg["study"]["seeds"][0]
    return {study.run_id(cfg, dataset, name, seed): study.run_config(cfg, dataset, name, seed)
            for name in groups[HEADLINE_GROUP]["runs"].values() if name is not None}


def throughput_chapters() -> list[str]:
    """The chapters whose profiles have a study group :data:`HEADLINE_GROUP`."""
    return [chapter for chapter in profiles.available_chapters()
            if HEADLINE_GROUP in load_profile(chapter, "smoke").get("study", {}).get("groups", {})]


#: The columns of :func:`throughput_table`.
THROUGHPUT_COLUMNS = ("chapter", "run", "input size", "GFLOPs/sample", "threads", "channels_last",
                      "samples/s", "achieved GFLOP/s", "GEMM GFLOP/s", "fraction of GEMM")


def throughput_table(chapters: Sequence[str], profile: str = "cpu", *, steps: int = 10,
                     warmup: int = 2, threads: Sequence[int] = (1, 2),
                     tiny: bool = False) -> pd.DataFrame:
    """:func:`training_throughput` of every headline run (:func:`headline_runs`) of each of
    ``chapters`` under ``profile`` (shrunk by its ``tiny`` block when ``tiny``), at each thread
    count of ``threads``, contiguous and channels-last: one row each, :data:`THROUGHPUT_COLUMNS`
    (``GFLOPs/sample``: forward, per sample)."""
    rows = []
    for chapter in chapters:
        runs = headline_runs(chapter, profile, tiny_overrides(chapter) if tiny else None)
        for run, config in runs.items():
            for thread_count in threads:
                for channels_last in (False, True):
                    measured = training_throughput(config, steps, warmup, thread_count,
                                                   channels_last)
                    rows.append({
                        "chapter": chapter, "run": run, "input size": model_input_size(config)[0],
                        "GFLOPs/sample": measured["forward_gflops"], "threads": thread_count,
                        "channels_last": channels_last, "samples/s": measured["samples_per_s"],
                        "achieved GFLOP/s": measured["achieved_gflops_per_s"],
                        "GEMM GFLOP/s": measured["gemm_gflops_per_s"],
                        "fraction of GEMM": measured["fraction_of_gemm"]})
    return pd.DataFrame(rows, columns=list(THROUGHPUT_COLUMNS))


def channels_last_speedup(table: pd.DataFrame) -> pd.DataFrame:
    """Per (chapter, run), at each thread count: channels-last samples/s over contiguous
    samples/s from a :func:`throughput_table` (above 1: channels-last trains faster)."""
    speeds = table.pivot_table(index=["chapter", "run", "threads"], columns="channels_last",
                               values="samples/s")
    return (speeds[True] / speeds[False]).unstack("threads").rename(
        columns=lambda threads: f"{threads} thread(s)")


def _throughput_command(args: argparse.Namespace) -> int:
    if args.steps < 1 or args.throughput_warmup < 0:
        raise ValueError(f"--steps must be at least 1 and --warmup at least 0, got "
                         f"{args.steps} and {args.throughput_warmup}")
    if args.out is not None:  # before measuring, so a bad path loses no measurement
        try:
            args.out.parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise ValueError(f"--out {args.out}: cannot create its folder ({error}); choose a "
                             "writable path") from None
    chapters = args.chapters or throughput_chapters()
    table = throughput_table(chapters, args.profile, steps=args.steps,
                             warmup=args.throughput_warmup,
                             threads=positive_integers(args.threads, "--threads"),
                             tiny=args.tiny)
    print(f"Training throughput of the headline runs, profile {args.profile!r}"
          f"{' (tiny)' if args.tiny else ''}, on {device_name('cpu')}: median of {args.steps} "
          f"steps; achieved = 3 x forward GFLOPs x samples/s, against fp32 torch.mm at "
          f"1024² in the same process and thread count")
    print(table.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    print("\nChannels-last samples/s over contiguous (above 1: channels-last is faster):")
    print(channels_last_speedup(table).to_string(float_format=lambda v: f"{v:.3f}"))
    if args.out is not None:
        table.to_csv(args.out, index=False)
        print(f"written to {args.out}")
    return 0


def register_cli(subparsers) -> None:
    throughput = subparsers.add_parser(
        "throughput", help="CPU training samples/s of each chapter's headline runs against the "
        "machine's fp32 matrix-multiply rate",
        description="For each chapter's headline runs (its study group 'main', first dataset, "
        "first seed), the engine's training step on one batch of the run's data at each thread "
        "count, contiguous and channels-last: samples/s, achieved GFLOP/s (3 x forward) and its "
        "fraction of fp32 torch.mm GFLOP/s measured in the same process.")
    throughput.add_argument("--profile", default="cpu", help="the chapters' profile")
    throughput.add_argument("--chapter", dest="chapters", nargs="+", action="extend",
                            metavar="CHAPTER",
                            help="chapters to measure (default: every chapter with a study)")
    throughput.add_argument("--steps", type=int, default=10, metavar="N",
                            help="timed training steps per setting (median reported)")
    throughput.add_argument("--warmup", dest="throughput_warmup", type=int, default=2, metavar="N",
                            help="untimed training steps before timing")
    throughput.add_argument("--threads", default="1,2",
                            help="comma-separated CPU thread counts to measure")
    throughput.add_argument("--tiny", action="store_true",
                            help="the profiles at toy size (each chapter's `tiny` block)")
    throughput.add_argument("--out", type=Path, help="also write the table to this CSV file")
    throughput.set_defaults(func=_throughput_command)
