"""Model registry: ``build(name, **kwargs)`` makes any model the book trains or benchmarks.

Each model is registered with what a run needs to pair it with its data:

- ``build``: the ``module:function`` that makes it, imported only when the model is built, so
  that importing the registry stays cheap and each model lives in its own module;
- ``codecs``: the codecs whose targets it predicts, each named as ``data.codec`` names it (a
  codec's name, or a list of names for a combined codec); a trunk without a head lists none;
- ``codec`` and ``loss``: the names of the ``data.codec`` and ``loss`` a run gets when it names
  none (``handlib.runconfig.resolve_config``; the codec's own options then take its defaults).

The shared models are listed here (:data:`CORE`); each paper adds its own from its package, the
``MODELS`` dict of ``handlib/papers/<paper>/__init__.py`` (``handlib.papers.registry``).
:func:`module_of` names the module behind a model, whose code (and everything it imports) keys
a run's reuse (``handlib.code_version``).
"""
from __future__ import annotations

import importlib

import torch.nn as nn

from handlib import papers

#: A trunk: C2-C5 features without a head, built inside other models, trained by no run.
_TRUNK = {"codecs": [], "codec": None, "loss": None}
#: 2D heat maps scored by the plain heat-map L2.
_HEATMAPS = {"codecs": ["heatmap2d"], "codec": "heatmap2d", "loss": "heatmap_mse"}

#: The shared models: name -> registration (see the module docstring).
CORE: dict[str, dict] = {
    # backbones (C2-C5 trunks without classifier)
    "resnet18": {"build": "handlib.models.backbones:resnet18", **_TRUNK},
    "resnet34": {"build": "handlib.models.backbones:resnet34", **_TRUNK},
    "resnet50": {"build": "handlib.models.backbones:resnet50", **_TRUNK},
    "resnet101": {"build": "handlib.models.backbones:resnet101", **_TRUNK},
    # HRNet heatmap models and the reference heatmap baseline (Xiao et al. 2018)
    "hrnet_w32": {"build": "handlib.models.hrnet:hrnet_w32", **_HEATMAPS},
    "hrnet_w48": {"build": "handlib.models.hrnet:hrnet_w48", **_HEATMAPS},
    "simple_baseline_r50": {"build": "handlib.models.simple_baseline:simple_baseline_r50",
                            **_HEATMAPS},
    # the InterNet family (Moon et al. 2020), shared by papers 2 (MS-FF) and 3 (InterNet+)
    "internet": {"build": "handlib.models.internet:internet", "codecs": ["heatmap3d"],
                 "codec": "heatmap3d", "loss": "internet"},
}

#: Every registered model: the shared ones and each paper's.
REGISTRY: dict[str, dict] = papers.registry(CORE, "MODELS")


def available() -> list[str]:
    return sorted(REGISTRY)


def registration(name: str) -> dict:
    """The registration of model ``name``: ``build``, ``codecs``, ``codec`` and ``loss``."""
    if name not in REGISTRY:
        raise ValueError(f"unknown model {name!r}; registered models: {', '.join(available())}")
    return REGISTRY[name]


def module_of(name: str) -> str:
    """The module that defines the registered model ``name``."""
    return registration(name)["build"].split(":")[0]


def build(name: str, **kwargs) -> nn.Module:
    """Build the registered model ``name`` with constructor keyword arguments ``kwargs``."""
    module_name, function_name = registration(name)["build"].split(":")
    return getattr(importlib.import_module(module_name), function_name)(**kwargs)
