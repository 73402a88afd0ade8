"""A run's configuration: its sections and defaults, its hash (code included), its checks.

See ``handlib.engine`` for the sections. :func:`resolve_config` fills in the defaults: the
engine's (:data:`DEFAULTS`) and the model's (a run that names no ``data.codec`` or ``loss`` gets
the ones its model is registered with in ``handlib.models``), and refuses a model paired with a
codec it does not work with (:func:`check_model_pairing`). :func:`config_hash` is what decides
whether a finished run is reused (``handlib.runs.load_or_train``); :func:`check_splits` and
:func:`check_device` refuse a configuration before anything is trained.
"""
from __future__ import annotations

import copy
import hashlib
import json
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
        "amp": True,
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


def check_device(config: dict) -> None:
    """Refuse to start a profile that expects a GPU (``train.expects_gpu``) on a machine without
    CUDA, unless the device was chosen explicitly (``train.device`` other than ``auto``)."""
    spec = resolve_config(config)["train"]
    if spec["expects_gpu"] and spec["device"] == "auto" and not torch.cuda.is_available():
        raise ValueError("this profile expects a GPU (its schedule would take hours on a CPU) "
                         "and none is available; run it on a machine with CUDA, or set the "
                         "device explicitly to run it here anyway (`--device cpu`, or "
                         "device=\"cpu\" in the notebook's parameters)")
