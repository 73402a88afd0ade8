"""A run's configuration: its sections and defaults, its hash (code included), its checks.

See ``handlib.engine`` for the sections. :func:`resolve_config` fills in the defaults: the
engine's (:data:`DEFAULTS`) and the model's (a run that names no ``data.codec`` or ``loss`` gets
the ones its model is registered with in ``handlib.models``), and refuses a model paired with a
codec it does not work with (:func:`check_model_pairing`). :func:`config_hash` is what decides
whether a finished run is reused (``handlib.runs.load_or_train``); :func:`check_splits` and
:func:`check_device` refuse a configuration before anything is trained, the latter also when the
machine's torch, GPU or compilers cannot run it (:func:`check_runtime`, on the facts
:func:`detect_runtime` reads).
"""
from __future__ import annotations

import copy
import hashlib
import importlib.util
import json
import os
import re
import shutil
import sys
from dataclasses import dataclass
from typing import Any, Callable

import torch

from handlib import codecs, losses, models
from handlib.code_version import code_hash as hash_modules
from handlib.data.formats import DATASET_MODULES
from handlib.data.pipeline import codec_parts
from handlib.data.synthetic import GENERATOR_VERSION
from handlib.profiles import RUN_SECTIONS, deep_merge

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
        "amp": False,
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


def build_named(factory: Callable[..., Any], spec: dict) -> Any:
    """``factory(spec["name"], **the spec's other keys)``: a model or a loss from its config
    section."""
    kwargs = {key: value for key, value in spec.items() if key != "name"}
    return factory(spec["name"], **kwargs)


def codec_names(codec: dict | list) -> str | list[str]:
    """The name(s) of a ``data.codec`` spec, as a model's ``codecs`` list them: a codec's name,
    or the list of its parts' names for a combined codec."""
    return [part.get("name") for part in codec] if isinstance(codec, list) else codec.get("name")


def model_defaults(name: str) -> dict:
    """The sections a run of model ``name`` gets when it names none: its registered
    ``data.codec`` and ``loss`` (``handlib.models``), by name; none for a trunk."""
    entry, defaults = models.registration(name), {}
    if entry["codec"] is not None:
        codec = entry["codec"]
        defaults["data"] = {"codec": ([{"name": part} for part in codec]
                                      if isinstance(codec, list) else {"name": codec})}
    if entry["loss"] is not None:
        defaults["loss"] = {"name": entry["loss"]}
    return defaults


def check_model_pairing(config: dict) -> None:
    """Refuse a model given a codec it does not work with (its registered ``codecs``): the
    codec's targets would not be what the model predicts, and training would fail or, worse,
    fit the wrong thing. A configuration without a model or without a codec is not checked."""
    name = (config.get("model") or {}).get("name")
    codec = (config.get("data") or {}).get("codec")
    if name is None or codec is None:
        return
    accepted = models.registration(name)["codecs"]
    if codec_names(codec) not in accepted:
        raise ValueError(
            f"model {name!r} does not work with codec {codec_names(codec)!r}; it accepts "
            f"{', '.join(repr(c) for c in accepted) or 'none (a trunk without a head)'}: set "
            "data.codec to one of these, or leave it out to get the model's own")


def resolve_config(config: dict) -> dict:
    """``config`` with :data:`DEFAULTS` and its model's codec and loss filled in (a new dict),
    its model-codec pairing checked (:func:`check_model_pairing`).

    A section the configuration states wins: the model's ``data.codec`` and ``loss`` are merged
    under it, so a run that names both (every profile's run) resolves as it reads.
    """
    name = (config.get("model") or {}).get("name")
    base = deep_merge(DEFAULTS, model_defaults(name)) if name is not None else DEFAULTS
    resolved = deep_merge(base, config)
    check_model_pairing(resolved)
    return resolved


def code_modules(config: dict) -> list[str]:
    """The handlib modules whose code turns ``config`` into results: the model's, the loss's
    and the codecs' modules, the data pipeline (with the real dataset's loader when the run
    reads one) and the run machinery (``handlib.runs``: the training loop, prediction and this
    module); ``handlib.code_version`` follows their imports."""
    modules = ["handlib.runs", "handlib.data.pipeline", models.module_of(config["model"]["name"])]
    if config.get("loss"):
        modules.append(losses.module_of(config["loss"]["name"]))
    modules += [codecs.module_of(part["name"]) for part in codec_parts(config.get("data", {}))]
    source = config.get("data", {}).get("source", "synthetic")
    if source != "synthetic":
        modules += ["handlib.data.formats.common", DATASET_MODULES[source]]
    return modules


def code_hash(config: dict) -> str:
    """Hash of the code behind ``config`` (:func:`code_modules`, ``handlib.code_version``)."""
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
        identity["generator_version"] = GENERATOR_VERSION
    text = json.dumps(identity, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


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


#: The oldest torch the code runs on: ``torch.utils.flop_counter`` (``handlib.bench``) is new
#: in 2.1, ``torch.compile`` in 2.0, ``torch.load(weights_only=...)`` in 1.13.
MIN_TORCH: tuple[int, int] = (2, 1)
#: The oldest CUDA compute capability with bf16 in hardware (Ampere), which ``train.amp`` uses.
MIN_BF16_CAPABILITY: tuple[int, int] = (8, 0)


@dataclass(frozen=True)
class Runtime:
    """What a machine offers a run (:func:`detect_runtime`), as plain values so that
    :func:`check_runtime` can be given any machine's."""

    torch_version: str  # e.g. "2.11.0+cu128"
    device_type: str  # what train.device resolves to: "cuda", "cpu", ...
    capability: tuple[int, int] | None  # the lowest compute capability of the CUDA GPUs
    triton: bool  # Triton importable: torch.compile's code generator on CUDA
    c_compiler: str | None  # builds Triton's kernel launchers (CUDA)
    cxx_compiler: str | None  # builds torch.compile's kernels on the CPU


def _compiler(variable: str, names: tuple[str, ...]) -> str | None:
    """The path of the compiler ``$variable`` names, else of the first of ``names`` on the PATH
    (how Triton and torch.compile's inductor choose theirs); None when there is none."""
    named = os.environ.get(variable)
    return shutil.which(named) if named else next(filter(None, map(shutil.which, names)), None)


def detect_runtime(device: str) -> Runtime:
    """This machine's :class:`Runtime` for a run on ``device`` (``train.device``; ``"auto"`` is
    CUDA when available, as ``handlib.runtime.resolve_device`` resolves it)."""
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    device_type = torch.device(device).type
    gpus = range(torch.cuda.device_count() if device_type == "cuda" else 0)
    capability = min(map(torch.cuda.get_device_capability, gpus), default=None)
    return Runtime(
        torch_version=torch.__version__, device_type=device_type, capability=capability,
        triton=importlib.util.find_spec("triton") is not None,
        c_compiler=_compiler("CC", ("gcc", "clang")),
        cxx_compiler=_compiler("CXX", ("clang++",) if sys.platform == "darwin" else ("g++",)),
    )


def check_runtime(train: dict, runtime: Runtime) -> None:
    """Refuse a run (its resolved ``train`` section) that ``runtime`` cannot run: a torch older
    than :data:`MIN_TORCH`; ``train.amp`` (bf16 autocast) on a CUDA GPU without bf16
    (:data:`MIN_BF16_CAPABILITY`); ``train.compile`` without what ``torch.compile`` builds its
    kernels with (Triton and a C compiler on CUDA, a C++ compiler on the CPU). Each refusal
    names what was found, what is needed and how to run anyway."""
    found = re.match(r"(\d+)\.(\d+)", runtime.torch_version)
    if found is None or tuple(map(int, found.groups())) < MIN_TORCH:
        raise ValueError(
            f"torch {runtime.torch_version} is too old for handlib: it needs torch >= "
            f"{'.'.join(map(str, MIN_TORCH))} (torch.compile, torch.utils.flop_counter); "
            "install a newer torch")
    if (train["amp"] and runtime.device_type == "cuda" and runtime.capability is not None
            and runtime.capability < MIN_BF16_CAPABILITY):
        raise ValueError(
            f"train.amp asks for bf16 autocast, and this GPU (compute capability "
            f"{'.'.join(map(str, runtime.capability))}) has no bf16: it needs compute "
            f"capability >= {'.'.join(map(str, MIN_BF16_CAPABILITY))} (Ampere or newer); use "
            "such a GPU, or train in fp32 with `--set train.amp=false` (a different run)")
    if not train["compile"]:
        return
    needs = {"cuda": (("Triton (pip install triton)", runtime.triton),
                      ("a C compiler (gcc or clang, or the one $CC names)", runtime.c_compiler)),
             "cpu": (("a C++ compiler (g++, or the one $CXX names)", runtime.cxx_compiler),)}
    missing = [what for what, present in needs.get(runtime.device_type, ()) if not present]
    if missing:
        raise ValueError(
            f"train.compile asks for torch.compile, which on {runtime.device_type} needs "
            f"{' and '.join(missing)}, not found here; install it, or run without compiling "
            "(`--set train.compile=false`)")


def check_device(config: dict) -> None:
    """Refuse to start a profile that expects a GPU (``train.expects_gpu``) on a machine without
    CUDA, unless the device was chosen explicitly (``train.device`` other than ``auto``), and a
    run this machine's torch, GPU or compilers cannot run (:func:`check_runtime`)."""
    spec = resolve_config(config)["train"]
    if spec["expects_gpu"] and spec["device"] == "auto" and not torch.cuda.is_available():
        raise ValueError("this profile expects a GPU (its schedule would take hours on a CPU) "
                         "and none is available; run it on a machine with CUDA, or set the "
                         "device explicitly to run it here anyway (`--device cpu`, or "
                         "device=\"cpu\" in the notebook's parameters)")
    check_runtime(spec, detect_runtime(spec["device"]))
