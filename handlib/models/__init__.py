"""Model registry: ``build(name, **kwargs)`` makes any model the book trains or benchmarks.

Names map to ``module:function`` strings so that importing the registry stays cheap and each
model lives in its own module: shared architectures here in ``handlib.models``, each paper's own
models in its package ``handlib.papers.<paper>``. :func:`module_of` names the module behind a
model, whose code (and everything it imports) keys a run's reuse (``handlib.code_version``).
"""
from __future__ import annotations

import importlib

import torch.nn as nn

REGISTRY: dict[str, str] = {
    # backbones (C2-C5 trunks without classifier) and HRNet heatmap models
    "resnet18": "handlib.models.backbones:resnet18",
    "resnet34": "handlib.models.backbones:resnet34",
    "resnet50": "handlib.models.backbones:resnet50",
    "resnet101": "handlib.models.backbones:resnet101",
    "hrnet_w32": "handlib.models.hrnet:hrnet_w32",
    "hrnet_w48": "handlib.models.hrnet:hrnet_w48",
    # reference heatmap baseline (Xiao et al. 2018)
    "simple_baseline_r50": "handlib.models.simple_baseline:simple_baseline_r50",
    # the InterNet family (Moon et al. 2020), shared by papers 2 (MS-FF) and 3 (InterNet+)
    "internet": "handlib.models.internet:internet",
    # paper 1: RCSF and its baselines / design variants (handlib/papers/rcsf/)
    "cpn50": "handlib.papers.rcsf.cpn:cpn50",
    "cpn101": "handlib.papers.rcsf.cpn:cpn101",
    "rcsf": "handlib.papers.rcsf.models:rcsf",
    "rcsf_global_only": "handlib.papers.rcsf.models:rcsf_global_only",
    "rcsf_high_res_first": "handlib.papers.rcsf.models:rcsf_high_res_first",
    # paper 2: MS-FF and its module ablations (handlib/papers/msff/)
    "msff": "handlib.papers.msff.models:msff",
    "msff_no_channel_conversion": "handlib.papers.msff.models:msff_no_channel_conversion",
    "msff_no_global_regression": "handlib.papers.msff.models:msff_no_global_regression",
    "msff_no_local_optimization": "handlib.papers.msff.models:msff_no_local_optimization",
    "zb_posenet": "handlib.papers.msff.posenet:zb_posenet",
    # paper 3: InterNet+ (Table 1's extractor + InterNet's PoseNet) and its variants
    # (handlib/papers/internet_plus/)
    "internet_plus_extractor": "handlib.papers.internet_plus.models:extractor",
    "internet_plus": "handlib.papers.internet_plus.models:internet_plus",
    "internet_plus_no_ca": "handlib.papers.internet_plus.models:internet_plus_no_ca",
    "internet_plus_se": "handlib.papers.internet_plus.models:internet_plus_se",
    "internet_plus_cbam": "handlib.papers.internet_plus.models:internet_plus_cbam",
    "internet_plus_no_fcanet": "handlib.papers.internet_plus.models:internet_plus_no_fcanet",
    "internet_plus_relu": "handlib.papers.internet_plus.models:internet_plus_relu",
    "internet_plus_residual": "handlib.papers.internet_plus.models:internet_plus_residual",
    # paper 4: ResUnet and the controls of its claims (handlib/papers/resunet/)
    "resunet": "handlib.papers.resunet.models:resunet",
    "resunet_fixed_beta": "handlib.papers.resunet.models:resunet_fixed_beta",
    "resunet_argmax": "handlib.papers.resunet.models:resunet_argmax",
    "resunet_joints": "handlib.papers.resunet.models:resunet_joints",
    "resunet_no_skips": "handlib.papers.resunet.models:resunet_no_skips",
    "resnet34_regression": "handlib.papers.resunet.models:resnet34_regression",
    # paper 5: CrossInfoNet's Table 1 variants and the ablations of its claims
    # (handlib/papers/crossinfonet/)
    "crossinfonet": "handlib.papers.crossinfonet.models:crossinfonet",
    "crossinfonet_cross": "handlib.papers.crossinfonet.models:crossinfonet_cross",
    "crossinfonet_base": "handlib.papers.crossinfonet.models:crossinfonet_base",
    "crossinfonet_base_hm": "handlib.papers.crossinfonet.models:crossinfonet_base_hm",
    "crossinfonet_single_branch": "handlib.papers.crossinfonet.models:crossinfonet_single_branch",
    "crossinfonet_palm_mask_only": "handlib.papers.crossinfonet.models:crossinfonet_palm_mask_only",
    "crossinfonet_finger_mask_only":
        "handlib.papers.crossinfonet.models:crossinfonet_finger_mask_only",
}


def available() -> list[str]:
    return sorted(REGISTRY)


def module_of(name: str) -> str:
    """The module that defines the registered model ``name``."""
    if name not in REGISTRY:
        raise ValueError(f"unknown model {name!r}; registered models: {', '.join(available())}")
    return REGISTRY[name].split(":")[0]


def build(name: str, **kwargs) -> nn.Module:
    """Build the registered model ``name`` with constructor keyword arguments ``kwargs``."""
    if name not in REGISTRY:
        raise ValueError(f"unknown model {name!r}; registered models: {', '.join(available())}")
    module_name, function_name = REGISTRY[name].split(":")
    return getattr(importlib.import_module(module_name), function_name)(**kwargs)
