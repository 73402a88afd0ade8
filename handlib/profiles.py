"""Profiles as data: each chapter's settings for ``smoke``, ``cpu``, ``gpu`` and ``paper``.

A chapter's profiles live in ``handlib/configs/<chapter>.yaml``::

    common:            # merged under every profile
      model: {...}
    profiles:
      smoke: {...}     # CI: tiny, proves every cell runs
      cpu: {...}       # make book on a laptop: small but meaningful
      gpu: {...}       # the paper's schedule and input size on synthetic data, one GPU
      paper: {...}     # the paper's exact settings on the real dataset under data_root

``load_profile`` deep-merges ``common`` and the chosen profile, then any overrides a notebook
passes (its papermill parameters), so the notebook holds no settings of its own.
"""
from __future__ import annotations

import copy
from importlib import resources
from typing import Any

import yaml

PROFILE_NAMES: tuple[str, ...] = ("smoke", "cpu", "gpu", "paper")


def deep_merge(base: dict, update: dict) -> dict:
    """A new dict: ``base`` with ``update`` merged in (nested dicts merged, the rest replaced)."""
    merged = copy.deepcopy(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def available_chapters() -> list[str]:
    """Names of the chapters that have a profile file."""
    files = resources.files("handlib") / "configs"
    return sorted(p.name[: -len(".yaml")] for p in files.iterdir() if p.name.endswith(".yaml"))


def load_profile(chapter: str, profile: str, **overrides: Any) -> dict:
    """The resolved settings of ``chapter`` under ``profile``, with ``overrides`` applied last.

    Raises ``ValueError`` naming the valid choices for an unknown chapter or profile.
    """
    if profile not in PROFILE_NAMES:
        raise ValueError(
            f"unknown profile {profile!r}; valid profiles are {', '.join(PROFILE_NAMES)}"
        )
    path = resources.files("handlib") / "configs" / f"{chapter}.yaml"
    if not path.is_file():
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
    resolved = deep_merge(spec.get("common", {}), profiles[profile])
    resolved = deep_merge(resolved, {k: v for k, v in overrides.items() if v is not None})
    resolved["profile"] = profile
    resolved["chapter"] = chapter
    return resolved
