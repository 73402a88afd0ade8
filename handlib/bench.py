"""Model size, cost and speed of any registered model (``handlib bench``).

For one model at one input (square, ``input_channels`` channels: 3 for RGB, 1 for a depth crop),
:func:`benchmark` reports

- parameters (millions) and size (MB at fp32, 4 bytes per parameter, buffers excluded);
- GFLOPs of one forward pass of one image, counted by ``torch.utils.flop_counter``: 2 FLOPs per
  multiply-accumulate of convolutions, transposed convolutions and matrix products;
  element-wise work (BatchNorm, activations, additions, pooling, upsampling) is not counted.
  GMACs = GFLOPs / 2 are given too: the "GFLOPs" most vision papers print are multiply-
  accumulates (the ResNet-50 trunk at 224² is usually quoted at 4.1 "GFLOPs"; this counter gives
  4.09 GMACs, 8.17 GFLOPs), so compare a paper's "GFLOPs" with the GMACs column.
- unless ``counts_only``, per batch size: inference latency (median of ``repeats`` timed
  forward passes after ``warmup`` untimed ones, with the device synchronised around each) and
  images/s, and training images/s (forward, a loss, backward and an SGD step; median step time).
  Each is measured for eager fp32 and, on CUDA (or when ``fast=True``), for the fast path the
  engine trains with: bf16 autocast (CUDA-only, ``engine.autocast``) + channels-last
  (``engine.memory_format``) + ``torch.compile``; ``speedup`` is the ratio of fast to eager
  training images/s per batch size. On CPU ``fast=True`` therefore adds channels-last in fp32
  and the compile step.

:func:`benchmark_config` measures the model a run's configuration describes (its model
settings, and the input its data and codec give it: channels from ``data.modality``, size from
``data.input_size``), so that every paper's speed and size table measures the models it trains.

The training loss is the sum of the means of every output tensor (a stand-in that exercises
the backward pass of every output, not a pose loss).

:func:`forward_gflops` counts the forward FLOPs per sample of a run's model at its input (once per
distinct model and input in a process): ``handlib.study.training_estimate`` turns them into the
gpu profiles' estimated H100 minutes at :data:`H100_SUSTAINED_TFLOPS`.

``handlib bench throughput`` (:func:`throughput_table`) measures, on the CPU, the samples/s of
each chapter's headline runs (:func:`headline_runs`) through the engine's own training step
(:func:`training_throughput`: the run's model, loss and optimiser on one batch of its own
training data) at each thread count (1 and 2 by default), contiguous and channels-last, beside
the fp32 matrix-multiply rate of the same process at the same thread count (:func:`gemm_rate`):
the fraction of the machine's attainable rate each model reaches, and which layout and thread
count train faster.
"""
from __future__ import annotations

import argparse
import functools
import json
import math
import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import torch
import torch.nn as nn
from torch.utils.flop_counter import FlopCounterMode

from handlib import engine, losses, models, profiles
from handlib.data.pipeline import build_dataset, resolve_spec
from handlib.engine import autocast, memory_format, resolve_device
from handlib.profiles import deep_merge, load_profile, resolve_run, tiny_overrides
from handlib.results import device_name
from handlib.runconfig import build_named
from handlib.runtime import make_loader, to_device
from handlib.training import _train_step  # the engine's own optimiser step, measured as it runs

#: The H100 SXM's dense bf16 tensor-core peak, TFLOP/s (NVIDIA's H100 datasheet; twice that with
#: 2:4 sparsity, which no model here uses).
H100_DENSE_BF16_PEAK_TFLOPS = 989.0
#: The rate the gpu profiles' estimates assume one H100 sustains on the book's models, TFLOP/s:
#: 10 % of the dense bf16 peak. Small convnets at batch 16-32 keep the tensor cores busy only a
#: small fraction of the time (thin 3x3 convolutions, BatchNorm, activations and other
#: element-wise work the FLOP count leaves out, kernel launches, the optimiser step). An
#: assumption until the first gpu run measures it: 3 x forward FLOPs x its ``samples_per_s``.
H100_SUSTAINED_TFLOPS = 0.10 * H100_DENSE_BF16_PEAK_TFLOPS


def count(model: nn.Module, input_size: int, in_channels: int = 3) -> dict[str, float]:
    """Parameters (M), fp32 size (MB), GFLOPs and GMACs of one forward pass of one image."""
    parameters = sum(p.numel() for p in model.parameters())
    probe = next(model.parameters())
    image = torch.zeros(1, in_channels, input_size, input_size, device=probe.device)
    was_training = model.training
    model.eval()
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(image)
    model.train(was_training)
    flops = counter.get_total_flops()
    return {
        "params_m": parameters / 1e6,
        "size_mb": parameters * 4 / 2**20,
        "gflops": flops / 1e9,
        "gmacs": flops / 2e9,
    }


def model_input_size(config: dict) -> tuple[int, int]:
    """The input a run's ``config`` gives its model: (square size, channels), from
    ``data.input_size`` and ``data.modality`` (1 channel for a depth crop, else 3)."""
    data = resolve_spec(config.get("data", {}))
    return data["input_size"], 1 if data["modality"] == "depth" else 3


@functools.lru_cache(maxsize=None)
def _model_gflops(model_spec: str, input_size: int, in_channels: int) -> float:
    """Forward GFLOPs of the model of ``model_spec`` (its settings as sorted JSON, hashable)."""
    model = engine.build_model({"model": json.loads(model_spec)})
    return count(model, input_size, in_channels)["gflops"]


def forward_gflops(config: dict) -> float:
    """GFLOPs of one forward pass of one sample of the model a run's ``config`` builds, at the
    input its data gives it (:func:`count`, on the CPU). Each distinct (model settings, input)
    is built and counted once per process: a profile's many runs share a few models."""
    return _model_gflops(json.dumps(config["model"], sort_keys=True), *model_input_size(config))


def activation_count(model: nn.Module, input_size: int, in_channels: int = 3) -> int:
    """How many values the leaf modules of ``model`` output in one training-mode forward pass of
    one image: the activations backpropagation keeps, a device-free measure of training memory
    (in-place activations counted once per call, as each writes a tensor of its size)."""
    total = 0

    def add(module: nn.Module, inputs, output) -> None:
        nonlocal total
        tensors = output if isinstance(output, (list, tuple)) else [output]
        total += sum(t.numel() for t in tensors if isinstance(t, torch.Tensor))

    leaves = [m for m in model.modules() if not list(m.children())]
    hooks = [m.register_forward_hook(add) for m in leaves]
    probe = next(model.parameters())
    was_training = model.training
    model.train()
    try:
        with torch.no_grad():
            model(torch.zeros(2, in_channels, input_size, input_size, device=probe.device))
    finally:
        for hook in hooks:
            hook.remove()
        model.train(was_training)
    return total // 2


def module_table(model: nn.Module, input_size: int, in_channels: int = 3,
                 depth: int = 1) -> pd.DataFrame:
    """The model's modules down to ``depth`` levels, as ``torchinfo.summary`` reports them at a
    one-image input: one row per module (``module``, its ``kind``, the ``output`` shape of its
    last call (of the first tensor when it returns several; empty for containers that are not
    called, such as a ``ModuleDict``), ``params (M)`` of its own and its children's, in
    millions), the compact replacement for a paper's architecture diagram."""
    import torchinfo  # here only: just the notebooks' module table needs it (the device has none)

    probe = next(model.parameters())
    was_training = model.training
    stats = torchinfo.summary(model, input_size=(1, in_channels, input_size, input_size),
                              depth=depth, device=probe.device, verbose=0,
                              col_names=("output_size", "num_params"))
    model.train(was_training)
    rows = {}
    for info in stats.summary_list:
        if info.depth == 0 or info.depth > depth:
            continue
        name = info.get_layer_name(show_var_name=True, show_depth=False).split(" (")[-1].rstrip(")")
        rows[name] = {"kind": info.class_name, "output": tuple(info.output_size),
                      "params (M)": info.num_params / 1e6}
    frame = pd.DataFrame.from_dict(rows, orient="index")
    frame.index.name = "module"
    return frame


def _output_loss(outputs: Any) -> torch.Tensor:
    """Sum of the means of every tensor in ``outputs`` (a tensor, list/tuple or dict)."""
    if isinstance(outputs, torch.Tensor):
        return outputs.float().mean()
    values = outputs.values() if isinstance(outputs, dict) else outputs
    return sum(_output_loss(value) for value in values)


def _median_seconds(
    step: Callable[[], None], device: torch.device, warmup: int, repeats: int
) -> float:
    synchronize = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    for _ in range(warmup):
        step()
    synchronize()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        step()
        synchronize()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _speed(
    model: nn.Module, batch: int, input_size: int, in_channels: int, device: torch.device, *,
    fast: bool, compile: bool, warmup: int, repeats: int, train: bool = True,
) -> dict[str, float]:
    layout = memory_format(fast)
    model = model.to(memory_format=layout)
    runner = torch.compile(model) if fast and compile else model
    precision = autocast(device, enabled=fast)
    image = torch.randn(batch, in_channels, input_size, input_size, device=device)
    image = image.contiguous(memory_format=layout)
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-6)

    def infer() -> None:
        with torch.no_grad(), precision:
            runner(image)

    def train_step() -> None:
        optimizer.zero_grad(set_to_none=True)
        with precision:
            loss = _output_loss(runner(image))
        loss.backward()
        optimizer.step()

    model.eval()
    latency = _median_seconds(infer, device, warmup, repeats)
    model.train()
    step = _median_seconds(train_step, device, warmup, repeats) if train else math.nan
    return {
        "latency_ms": latency * 1e3,
        "infer_img_s": batch / latency,
        "train_img_s": batch / step,
        "train_step_s": step,
    }


def benchmark(
    model_name: str,
    input_size: int = 256,
    batch_sizes: Sequence[int] = (1, 8, 32),
    device: str = "auto",
    counts_only: bool = False,
    *,
    fast: bool | None = None,
    compile: bool = True,
    warmup: int = 3,
    repeats: int = 10,
    input_channels: int = 3,
    train_batch_sizes: Sequence[int] | None = None,
    model_kwargs: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Counts and (unless ``counts_only``) speed of the registered model ``model_name``.

    ``model_kwargs`` are the model's constructor arguments (a model may take its own
    ``input_size``). ``fast=None`` measures the fast path on CUDA only; ``compile=False`` leaves
    ``torch.compile`` out of it. Training steps are timed at ``train_batch_sizes`` (default:
    every batch size; at the others ``train_img_s`` and ``train_step_s`` are NaN). Returns
    ``{"model", "input_size", "device", "device_name", "params_m", "size_mb", "gflops", "gmacs",
    "speed": [{"mode", "batch", "latency_ms", "infer_img_s", "train_img_s", "train_step_s"},
    ...], "speedup": {batch: fast/eager training images/s}}``.
    """
    torch_device = resolve_device(device)
    model = models.build(model_name, **(model_kwargs or {})).to(torch_device)
    result: dict[str, Any] = {
        "model": model_name,
        "input_size": input_size,
        "in_channels": input_channels,
        "device": str(torch_device),
        "device_name": device_name(str(torch_device)),
        **count(model, input_size, input_channels),
        "speed": [],
        "speedup": {},
    }
    if counts_only:
        return result
    with_fast = torch_device.type == "cuda" if fast is None else fast
    modes = ["eager", "fast"] if with_fast else ["eager"]
    for mode in modes:
        for batch in batch_sizes:
            measured = _speed(
                model, batch, input_size, input_channels, torch_device, fast=mode == "fast",
                compile=compile, warmup=warmup, repeats=repeats,
                train=train_batch_sizes is None or batch in train_batch_sizes,
            )
            result["speed"].append({"mode": mode, "batch": batch, **measured})
    if "fast" in modes:
        train = {(row["mode"], row["batch"]): row["train_img_s"] for row in result["speed"]}
        result["speedup"] = {b: train["fast", b] / train["eager", b] for b in batch_sizes
                             if not math.isnan(train["eager", b])}
    return result


def benchmark_config(config: dict, batch_sizes: Sequence[int] = (1,), device: str = "auto",
                     counts_only: bool = False, **options) -> dict[str, Any]:
    """:func:`benchmark` of the model a run's ``config`` describes, fed the input its data
    gives it (``data.input_size``; 1 channel for ``data.modality: depth``, else 3)."""
    input_size, in_channels = model_input_size(config)
    kwargs = {key: value for key, value in config["model"].items() if key != "name"}
    return benchmark(config["model"]["name"], input_size, batch_sizes, device, counts_only,
                     input_channels=in_channels, model_kwargs=kwargs, **options)


def table(results: Sequence[dict[str, Any]]) -> pd.DataFrame:
    """One row per model (and mode and batch size when speed was measured) of ``benchmark``
    results, for printing or a notebook."""
    rows = []
    for result in results:
        counts = {
            "model": result["model"],
            "params (M)": result["params_m"],
            "size (MB)": result["size_mb"],
            "GFLOPs": result["gflops"],
            "GMACs": result["gmacs"],
        }
        if not result["speed"]:
            rows.append(counts)
        for speed in result["speed"]:
            rows.append(
                counts
                | {
                    "mode": speed["mode"],
                    "batch": speed["batch"],
                    "latency (ms)": speed["latency_ms"],
                    "inference img/s": speed["infer_img_s"],
                    "training img/s": speed["train_img_s"],
                    "fast/eager training": result["speedup"].get(speed["batch"])
                    if speed["mode"] == "fast" else None,
                }
            )
    frame = pd.DataFrame(rows)
    return frame.dropna(axis=1, how="all")


# ----------------------------------------------------------------------------- CPU throughput


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
    seconds = _median_seconds(lambda: torch.mm(left, right), torch_device, warmup, repeats)
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
    ``threads`` CPU threads and the model and batch channels-last or contiguous. The achieved
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
    layout = memory_format(channels_last)
    batch = to_device(training_batch(cfg), device, layout)
    model = engine.build_model(cfg).to(memory_format=layout).train()
    loss_fn = build_named(losses.build, cfg["loss"])
    optimizer = engine.build_optimizer(model.parameters(), cfg["optimizer"])

    def step() -> None:
        _train_step(model, batch, loss_fn, optimizer, device=device, amp=cfg["train"]["amp"],
                    grad_clip=cfg["train"]["grad_clip"])

    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        seconds = _median_seconds(step, device, warmup, steps)
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
    its study group :data:`HEADLINE_GROUP` on that group's first dataset with the profile's
    first seed, as the notebook builds them (``overrides`` merged over the profile, e.g. its
    ``tiny`` block)."""
    from handlib import study  # here: handlib.study imports this module

    settings = load_profile(chapter, profile)
    if HEADLINE_GROUP not in settings.get("study", {}).get("groups", {}):
        raise ValueError(f"chapter {chapter!r} has no study group {HEADLINE_GROUP!r}; chapters "
                         f"with one: {', '.join(throughput_chapters())}")
    cfg = study.apply_parameters(settings, overrides=overrides)
    groups = cfg["study"]["groups"]
    dataset = study.group_datasets(cfg, HEADLINE_GROUP)[0]
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


def _positive_integers(text: str, option: str) -> list[int]:
    """``"1,8,32"`` -> ``[1, 8, 32]`` for the command-line ``option``; a clear error otherwise."""
    try:
        values = [int(part) for part in text.split(",")]
    except ValueError:
        raise ValueError(
            f"{option} expects comma-separated integers like 1,8,32, got {text!r}"
        ) from None
    if any(value < 1 for value in values):
        raise ValueError(f"{option} values must be positive, got {text!r}")
    return values


def _bench_command(args: argparse.Namespace) -> int:
    if args.model is None and args.chapter is None:
        raise ValueError("choose a registered model with --model or a chapter's run with "
                         "--chapter (or `handlib bench throughput` for CPU training throughput)")
    options = {"compile": not args.no_compile, "warmup": args.warmup, "repeats": args.repeats}
    batches = _positive_integers(args.batch, "--batch")
    if args.chapter is not None:
        config = resolve_run(load_profile(args.chapter, args.profile), args.run)
        if args.input is not None:
            config["data"] = {**config.get("data", {}), "input_size": args.input}
        result = benchmark_config(config, batches, args.device, args.counts_only, **options)
    else:
        result = benchmark(args.model, args.input or 256, batches, args.device,
                           args.counts_only, input_channels=args.channels, **options)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        size = result["input_size"]
        print(f"{result['model']} at {size}x{size}x{result['in_channels']} on "
              f"{result['device_name']}")
        print(table([result]).to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    return 0


def _throughput_command(args: argparse.Namespace) -> int:
    if args.model is not None or args.chapter is not None:
        raise ValueError("`handlib bench throughput` takes its options after `throughput`, e.g. "
                         "handlib bench throughput --profile cpu --chapter rcsf")
    if args.steps < 1 or args.throughput_warmup < 0:
        raise ValueError(f"--steps must be at least 1 and --warmup at least 0, got "
                         f"{args.steps} and {args.throughput_warmup}")
    chapters = args.chapters or throughput_chapters()
    table = throughput_table(chapters, args.profile, steps=args.steps,
                             warmup=args.throughput_warmup,
                             threads=_positive_integers(args.threads, "--threads"),
                             tiny=args.tiny)
    print(f"Training throughput of the headline runs, profile {args.profile!r}"
          f"{' (tiny)' if args.tiny else ''}, on {device_name('cpu')}: median of {args.steps} "
          f"steps; achieved = 3 x forward GFLOPs x samples/s, against fp32 torch.mm at "
          f"1024² in the same process and thread count")
    print(table.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    print("\nChannels-last samples/s over contiguous (above 1: channels-last is faster):")
    print(channels_last_speedup(table).to_string(float_format=lambda v: f"{v:.3f}"))
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        table.to_csv(args.out, index=False)
        print(f"written to {args.out}")
    return 0


def register_cli(subparsers) -> None:
    parser = subparsers.add_parser(
        "bench",
        help="parameters, GFLOPs/GMACs, latency and throughput of a registered model",
        description="Benchmark a registered model (see handlib.models.REGISTRY): counts, and "
        "inference/training speed for eager fp32 and (on CUDA) bf16 + channels-last + compile.",
    )
    source = parser.add_mutually_exclusive_group()  # one of them, or the throughput action
    source.add_argument("--model", help="registered model name, e.g. resnet50")
    source.add_argument("--chapter", help="bench a chapter's run as its profile configures it "
                        "(with --profile and --run): input size and channels from its data")
    parser.add_argument("--profile", default="gpu", help="the chapter's profile (with --chapter)")
    parser.add_argument("--run", help="the chapter's run (with --chapter)")
    parser.add_argument("--input", type=int, default=None,
                        help="square input size in px (default 256, or the run's data.input_size)")
    parser.add_argument("--channels", type=int, default=3,
                        help="input channels with --model (3 RGB, 1 depth)")
    parser.add_argument("--batch", default="1,8,32", help="comma-separated batch sizes")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda")
    parser.add_argument("--counts-only", action="store_true", help="parameters and FLOPs only")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.add_argument("--no-compile", action="store_true", help="fast path without torch.compile")
    parser.add_argument("--warmup", type=int, default=3, help="untimed runs before timing")
    parser.add_argument("--repeats", type=int, default=10, help="timed runs (median reported)")
    parser.set_defaults(func=_bench_command)
    actions = parser.add_subparsers(dest="action", metavar="ACTION")
    throughput = actions.add_parser(
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
