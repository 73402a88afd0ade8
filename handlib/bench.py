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
  engine trains with: bf16 autocast (``engine.autocast``) + channels-last
  (``engine.memory_format``) + ``torch.compile``; ``speedup`` is the ratio of fast to eager
  training images/s per batch size. On CPU ``fast=True`` therefore measures bf16 autocast in the
  contiguous layout (``engine.memory_format``: bf16 channels-last backward corrupts the CPU
  heap) and the compile step.

**Interleaved rounds.** Models compared with each other are timed together
(:func:`benchmark_configs`): after every model's warm-up, each of ``repeats`` *rounds* times one
step of every model in turn (A, B, A, B, ...), so that a load that comes and goes on the machine
hits every model alike instead of whichever happened to be timed during it. Each round's time is
recorded (``latency_rounds_ms``, ``train_step_rounds_s``) beside the medians. Two models' rounds
*agree* on which is faster by a rule fixed before any timing (:func:`rounds_disagree`): a
two-sided sign test over the rounds (ties left out) must reject "either is faster in a round
with probability one half" at the declared level; otherwise the order is inconclusive ("the
repeats disagree"). At the 5 % level that needs at least six rounds, all in one order.

:func:`benchmark_config` measures the model a run's configuration describes (its model
settings, and the input its data and codec give it: channels from ``data.modality``, size from
``data.input_size``), so that every paper's speed and size table measures the models it trains;
:func:`benchmark_configs` measures several such models in interleaved rounds.

The training loss is the sum of the means of every output tensor (a stand-in that exercises
the backward pass of every output, not a pose loss).

:func:`forward_gflops` counts the forward FLOPs per sample of a run's model at its input (once per
distinct model and input in a process): ``handlib.study.training_estimate`` turns them into the
gpu profiles' estimated H100 minutes at :data:`H100_SUSTAINED_TFLOPS`.

The CPU training throughput of the chapters' runs against the machine's matrix-multiply rate is
``handlib.throughput``'s.

Length: the counts, the interleaved timing with its agreement rule, and the ``handlib bench``
command that prints them: a speed table needs all three, and nothing else imports the timing
core apart from ``handlib.throughput``'s one-step median.
"""
from __future__ import annotations

import argparse
import functools
import json
import math
import statistics
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any

import pandas as pd
import torch
import torch.nn as nn
from torch.utils.flop_counter import FlopCounterMode

from handlib import engine, models
from handlib.data.pipeline import resolve_spec
from handlib.engine import autocast, memory_format, resolve_device
from handlib.profiles import load_profile, resolve_run
from handlib.results import device_name

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
    try:
        import torchinfo  # here only: just the notebooks' module table needs it (optional)
    except ImportError as error:
        raise ImportError("the module table (handlib.bench.module_table) needs torchinfo, "
                          "which the book's extra installs: pip install -e \".[book]\" (or "
                          "pip install torchinfo)") from error

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


def interleaved_seconds(
    steps: Mapping[str, Callable[[], None]], device: torch.device, warmup: int, repeats: int,
    clock: Callable[[], float] = time.perf_counter,
) -> dict[str, list[float]]:
    """Seconds of each of ``repeats`` interleaved rounds of every step in ``steps`` (label ->
    step): each step is first run ``warmup`` times untimed, then every round times one call of
    each step in turn, in the order of ``steps`` (A, B, A, B, ...), with the device synchronised
    around each call (``clock`` is the timer, injectable for tests)."""
    if repeats < 1:
        raise ValueError(f"timing needs repeats >= 1, got {repeats}")
    synchronize = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    for step in steps.values():
        for _ in range(warmup):
            step()
    synchronize()
    rounds: dict[str, list[float]] = {label: [] for label in steps}
    for _ in range(repeats):
        for label, step in steps.items():
            start = clock()
            step()
            synchronize()
            rounds[label].append(clock() - start)
    return rounds


def median_seconds(
    step: Callable[[], None], device: torch.device, warmup: int, repeats: int
) -> float:
    """The median seconds of ``repeats`` timed calls of one ``step`` after ``warmup`` untimed
    ones (:func:`interleaved_seconds` of that step alone)."""
    return statistics.median(interleaved_seconds({"step": step}, device, warmup, repeats)["step"])


def sign_test_p(wins: int, rounds: int) -> float:
    """Two-sided sign-test p-value of ``wins`` of ``rounds`` going one way when each goes either
    way with probability one half: twice the binomial tail of the larger side, at most 1."""
    extreme = max(wins, rounds - wins)
    tail = sum(math.comb(rounds, k) for k in range(extreme, rounds + 1)) / 2**rounds
    return min(1.0, 2 * tail)


def rounds_needed(level: float) -> int:
    """The fewest rounds with which a sign test at ``level`` can find two models' rounds
    agreeing (all of them in one order)."""
    if not 0 < level < 1:
        raise ValueError(f"a sign test's level is between 0 and 1, got {level}")
    return next(n for n in range(1, 64) if sign_test_p(n, n) <= level)


def rounds_disagree(subject: Sequence[float], reference: Sequence[float], level: float,
                    names: tuple[str, str] = ("subject", "reference")) -> str | None:
    """Why the interleaved rounds of two models (seconds per round of ``subject`` and of
    ``reference``, round by round) do not agree on which is faster, or ``None`` when they do.

    The rule, fixed before any timing: the rounds agree when a two-sided sign test over them
    (:func:`sign_test_p`; rounds of equal time left out) gives ``p <= level``. Without per-round
    times (a bench saved before the interleaved rounds) nothing can agree."""
    if not subject or len(subject) != len(reference):
        return ("no interleaved rounds recorded for both (a bench measured before them): "
                "re-measure")
    faster = sum(s < r for s, r in zip(subject, reference))
    rounds = faster + sum(s > r for s, r in zip(subject, reference))
    needed = rounds_needed(level)
    if rounds < needed:
        return (f"too few repeats: {rounds} interleaved round(s) with a winner, and a sign test "
                f"at {level:g} needs at least {needed}, all in one order")
    p = sign_test_p(faster, rounds)
    if p > level:
        return (f"the repeats disagree: {names[0]} was faster than {names[1]} in {faster} of "
                f"{rounds} interleaved rounds (two-sided sign test p = {p:.2g} > {level:g})")
    return None


def _steps(
    model: nn.Module, batch: int, input_size: int, in_channels: int, device: torch.device, *,
    fast: bool, compile: bool,
) -> tuple[Callable[[], None], Callable[[], None]]:
    """``(infer, train_step)`` of ``model`` at ``batch`` random images: one forward pass without
    gradients, and one forward pass, stand-in loss, backward pass and SGD step; ``fast`` in bf16
    autocast and channels-last, compiled unless ``compile`` is false. The caller sets the
    model's eval or train mode."""
    layout = memory_format(fast, device, amp=fast)
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

    return infer, train_step


def _speed_row(batch: int, latency_rounds: list[float], step_rounds: list[float]) -> dict:
    """One speed entry from the rounds' seconds (no training rounds: NaN training columns)."""
    latency = statistics.median(latency_rounds)
    step = statistics.median(step_rounds) if step_rounds else math.nan
    return {"latency_ms": latency * 1e3, "infer_img_s": batch / latency,
            "train_img_s": batch / step, "train_step_s": step,
            "latency_rounds_ms": [t * 1e3 for t in latency_rounds],
            "train_step_rounds_s": list(step_rounds)}


def _timed(
    built: Mapping[str, tuple[nn.Module, int, int]], batch_sizes: Sequence[int],
    device: torch.device, modes: Sequence[str], *, compile: bool, warmup: int, repeats: int,
    train_batch_sizes: Sequence[int] | None,
) -> dict[str, list[dict]]:
    """Label -> speed entries of every model in ``built`` (label -> model, input size,
    channels), each mode and batch size timed in interleaved rounds of all the models."""
    speeds: dict[str, list[dict]] = {label: [] for label in built}
    for mode in modes:
        for batch in batch_sizes:
            steps = {label: _steps(model, batch, size, channels, device, fast=mode == "fast",
                                   compile=compile)
                     for label, (model, size, channels) in built.items()}
            for model, _, _ in built.values():
                model.eval()
            latency = interleaved_seconds({label: s[0] for label, s in steps.items()}, device,
                                          warmup, repeats)
            for model, _, _ in built.values():
                model.train()
            trained = train_batch_sizes is None or batch in train_batch_sizes
            step = (interleaved_seconds({label: s[1] for label, s in steps.items()}, device,
                                        warmup, repeats) if trained
                    else {label: [] for label in built})
            for label in built:
                speeds[label].append({"mode": mode, "batch": batch,
                                      **_speed_row(batch, latency[label], step[label])})
    return speeds


def benchmark_models(
    specs: Mapping[str, dict[str, Any]],
    batch_sizes: Sequence[int] = (1, 8, 32),
    device: str = "auto",
    *,
    timed: Collection[str] | None = None,
    fast: bool | None = None,
    compile: bool = True,
    warmup: int = 3,
    repeats: int = 10,
    train_batch_sizes: Sequence[int] | None = None,
) -> dict[str, dict[str, Any]]:
    """:func:`benchmark` of several registered models, those in ``timed`` (default: all) timed
    together in interleaved rounds (the module doc). ``specs``: label -> ``{"model": registered
    name, "input_size", "input_channels", "model_kwargs"}`` (the last two optional). Returns
    label -> :func:`benchmark`'s result; the others are counted only."""
    torch_device = resolve_device(device)
    timed = list(specs) if timed is None else list(timed)
    unknown = sorted(set(timed) - set(specs))
    if unknown:
        raise ValueError(f"cannot time {unknown}: the benchmarked models are {', '.join(specs)}")
    results: dict[str, dict[str, Any]] = {}
    built: dict[str, tuple[nn.Module, int, int]] = {}
    for label, spec in specs.items():
        channels = spec.get("input_channels", 3)
        model = models.build(spec["model"], **(spec.get("model_kwargs") or {})).to(torch_device)
        results[label] = {
            "model": spec["model"],
            "input_size": spec["input_size"],
            "in_channels": channels,
            "device": str(torch_device),
            "device_name": device_name(str(torch_device)),
            **count(model, spec["input_size"], channels),
            "speed": [],
            "speedup": {},
        }
        if label in timed:
            built[label] = (model, spec["input_size"], channels)
    with_fast = torch_device.type == "cuda" if fast is None else fast
    modes = ["eager", "fast"] if with_fast else ["eager"]
    speeds = _timed(built, batch_sizes, torch_device, modes, compile=compile, warmup=warmup,
                    repeats=repeats, train_batch_sizes=train_batch_sizes) if built else {}
    for label, speed in speeds.items():
        results[label]["speed"] = speed
        if "fast" in modes:
            train = {(row["mode"], row["batch"]): row["train_img_s"] for row in speed}
            results[label]["speedup"] = {b: train["fast", b] / train["eager", b]
                                         for b in batch_sizes if not math.isnan(train["eager", b])}
    return results


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
    "speed": [{"mode", "batch", "latency_ms", "infer_img_s", "train_img_s", "train_step_s",
    "latency_rounds_ms", "train_step_rounds_s"}, ...], "speedup": {batch: fast/eager training
    images/s}}``.
    """
    spec = {"model": model_name, "input_size": input_size, "input_channels": input_channels,
            "model_kwargs": model_kwargs}
    return benchmark_models({model_name: spec}, batch_sizes, device,
                            timed=[] if counts_only else None, fast=fast, compile=compile,
                            warmup=warmup, repeats=repeats,
                            train_batch_sizes=train_batch_sizes)[model_name]


def config_spec(config: dict) -> dict[str, Any]:
    """The :func:`benchmark_models` spec of the model a run's ``config`` describes, fed the input
    its data gives it (``data.input_size``; 1 channel for ``data.modality: depth``, else 3)."""
    input_size, in_channels = model_input_size(config)
    kwargs = {key: value for key, value in config["model"].items() if key != "name"}
    return {"model": config["model"]["name"], "input_size": input_size,
            "input_channels": in_channels, "model_kwargs": kwargs}


def benchmark_config(config: dict, batch_sizes: Sequence[int] = (1,), device: str = "auto",
                     counts_only: bool = False, **options) -> dict[str, Any]:
    """:func:`benchmark` of the model a run's ``config`` describes (:func:`config_spec`)."""
    return benchmark_configs({"run": config}, batch_sizes, device,
                             timed=[] if counts_only else None, **options)["run"]


def benchmark_configs(configs: Mapping[str, dict], batch_sizes: Sequence[int] = (1,),
                      device: str = "auto", **options) -> dict[str, dict[str, Any]]:
    """:func:`benchmark_models` of the models runs' ``configs`` describe (label -> config,
    :func:`config_spec`), those in ``timed`` (default: all) timed in interleaved rounds."""
    return benchmark_models({label: config_spec(config) for label, config in configs.items()},
                            batch_sizes, device, **options)


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


def positive_integers(text: str, option: str) -> list[int]:
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
    options = {"compile": not args.no_compile, "warmup": args.warmup, "repeats": args.repeats}
    batches = positive_integers(args.batch, "--batch")
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


def register_cli(subparsers) -> None:
    parser = subparsers.add_parser(
        "bench",
        help="parameters, GFLOPs/GMACs, latency and throughput of a registered model",
        description="Benchmark a registered model (see handlib.models.REGISTRY): counts, and "
        "inference/training speed for eager fp32 and (on CUDA) bf16 + channels-last + compile.",
    )
    source = parser.add_mutually_exclusive_group(required=True)
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
