"""Profiles as data: each chapter's settings for ``smoke``, ``cpu``, ``gpu`` and ``paper``.

A paper chapter's profiles live in its package, ``handlib/papers/<paper>/profiles.yaml``; the
foundation chapters' in ``handlib/configs/<chapter>.yaml``. Both have the same shape::

    common:            # merged under every profile
      model: {...}
    profiles:
      smoke: {...}     # CI: tiny, proves every cell runs
      cpu: {...}       # make book on a laptop: small but meaningful
      gpu: {...}       # the paper's schedule and input size on synthetic data, one GPU
      paper: {...}     # the paper's exact settings on the real dataset under data_root

and, for every chapter that trains models, the same top-level sections (:data:`SECTIONS`): the run sections ``model``, ``data``,
``loss``, ``optimizer``, ``scheduler``, ``train``, ``eval`` (``handlib.engine``); ``runs``
(name -> the sections where a run differs, for chapters that train several models), ``families``
(name -> sections shared by every run that names that ``family``: a model override written once
for a family of runs), ``study`` (``handlib.study``: datasets, seeds, table -> runs map),
``bench`` (``handlib.bench`` settings of the chapter's speed and size table), ``report``
(what the chapter draws) and ``every_run`` (run sections merged into every run last, over its
family's and its dataset's settings: how a test shrinks each run whatever the nesting).

Beside ``profiles``, a paper's file has a ``tiny`` block: settings of the same shape that shrink
any profile to toy size (a couple of optimiser steps of narrow models on a few images) while
keeping its runs, datasets and splits. :func:`tiny_overrides` reads it, ``handlib train
--tiny`` applies it and a notebook takes it as its ``overrides`` parameter, so an end-to-end test
runs a chapter's real ``paper`` profile without knowing how the chapter nests its settings.

``load_profile`` deep-merges ``common`` and the chosen profile, then any overrides a notebook
passes (its papermill parameters), so the notebook holds no settings of its own.
:func:`resolve_run` merges one run over the shared sections: shared sections, then its
family's, then its own.
"""
from __future__ import annotations

import copy
from importlib import resources
from typing import Any

import yaml

PROFILE_NAMES: tuple[str, ...] = ("smoke", "cpu", "gpu", "paper")
#: The sections a run's configuration is made of (``handlib.engine``).
RUN_SECTIONS: tuple[str, ...] = ("model", "data", "loss", "optimizer", "scheduler", "train", "eval")
#: Every top-level section a chapter's profile file may use (see the module docstring).
SECTIONS: tuple[str, ...] = RUN_SECTIONS + ("runs", "families", "study", "bench", "report",
                                            "every_run")


def deep_merge(base: dict, update: dict) -> dict:
    """A new dict: ``base`` with ``update`` merged in (nested dicts merged, the rest replaced)."""
    merged = copy.deepcopy(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def profile_files() -> dict[str, Any]:
    """Chapter name -> its profile file (a paper package's ``profiles.yaml`` or a foundation
    chapter's ``configs/<chapter>.yaml``)."""
    root = resources.files("handlib")
    found = {p.name[: -len(".yaml")]: p for p in (root / "configs").iterdir()
             if p.name.endswith(".yaml")}
    for package in (root / "papers").iterdir():
        if (package / "profiles.yaml").is_file():
            found[package.name] = package / "profiles.yaml"
    return dict(sorted(found.items()))


def available_chapters() -> list[str]:
    """Names of the chapters that have a profile file."""
    return list(profile_files())


def trains(spec: dict) -> bool:
    """Whether a profile file describes training runs (a model or runs); the foundation
    chapters that train nothing (claims, data, datasets, metrics) keep free-form settings."""
    common = spec.get("common", {}) or {}
    return "model" in common or "runs" in common


def check_sections(config: dict, where: str) -> None:
    """Refuse top-level sections that are not in :data:`SECTIONS` (a typo would be ignored)."""
    unknown = sorted(set(config) - set(SECTIONS) - {"profile", "chapter"})
    if unknown:
        raise ValueError(f"{where}: unknown section(s) {unknown}; the sections are "
                         f"{', '.join(SECTIONS)}")


def resolve_run(config: dict, run: str | None) -> dict:
    """The run sections of one run. A config with ``runs`` defines several runs: run ``run`` is
    the shared sections, merged with its family's (``families[<its family>]``), merged with its
    own entry. A config without ``runs`` is a single run (``run`` is then ignored)."""
    base = {key: config[key] for key in RUN_SECTIONS if key in config}
    if "runs" not in config:
        return base
    runs = config["runs"]
    if run not in runs:
        raise ValueError(f"choose a run: this config defines {', '.join(runs)}; got {run!r}")
    own = dict(runs[run])
    family = own.pop("family", None)
    if family is not None:
        families = config.get("families", {})
        if family not in families:
            raise ValueError(f"run {run!r} names family {family!r}, which `families` does not "
                             f"define (it defines {', '.join(families) or 'none'})")
        base = deep_merge(base, families[family])
    unknown = sorted(set(own) - set(RUN_SECTIONS))
    if unknown:
        raise ValueError(f"run {run!r}: unknown section(s) {unknown}; a run sets "
                         f"{', '.join(RUN_SECTIONS)} (and `family`)")
    return deep_merge(base, own)


def tiny_overrides(chapter: str) -> dict:
    """The chapter's ``tiny`` block: overrides that shrink any of its profiles to toy size (see
    the module docstring); a ValueError naming the chapters that have one otherwise."""
    path = profile_files().get(chapter)
    tiny = (yaml.safe_load(path.read_text()) or {}).get("tiny") if path else None
    if tiny is None:
        having = [c for c, p in profile_files().items()
                  if "tiny" in (yaml.safe_load(p.read_text()) or {})]
        raise ValueError(f"chapter {chapter!r} has no `tiny` block in its profile file; "
                         f"chapters with one: {', '.join(having) or 'none'}")
    check_sections(tiny, f"{chapter} profiles, tiny")
    return tiny


def load_profile(chapter: str, profile: str, **overrides: Any) -> dict:
    """The resolved settings of ``chapter`` under ``profile``, with ``overrides`` applied last.

    Raises ``ValueError`` naming the valid choices for an unknown chapter or profile.
    """
    if profile not in PROFILE_NAMES:
        raise ValueError(
            f"unknown profile {profile!r}; valid profiles are {', '.join(PROFILE_NAMES)}"
        )
    path = profile_files().get(chapter)
    if path is None:
        raise ValueError(
            f"no profiles for chapter {chapter!r}; chapters with profiles: "
            f"{', '.join(available_chapters())}"
        )
    spec = yaml.safe_load(path.read_text())
    profiles = spec.get("profiles", {})
    if profile not in profiles:
        raise ValueError(
            f"chapter {chapter!r} does not define profile {profile!r}; it defines "
            f"{', '.join(profiles)}"
        )
    if trains(spec):
        check_sections(spec.get("common", {}), f"{chapter} profiles, common")
        check_sections(profiles[profile] or {}, f"{chapter} profiles, profile {profile}")
    resolved = deep_merge(spec.get("common", {}), profiles[profile] or {})
    resolved = deep_merge(resolved, {k: v for k, v in overrides.items() if v is not None})
    resolved["profile"] = profile
    resolved["chapter"] = chapter
    return resolved
