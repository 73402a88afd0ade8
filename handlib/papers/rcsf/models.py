"""RCSF: the repeated cross-scale structure-induced feature fusion network (Guan et al. 2023,
Entropy 25:724, §3, Figs. 1-2) and the RegionalNet design variants of its Table 4.

Architecture (what the paper states, then what we chose where it is silent):

GlobalNet (§3.1). A ResNet-50 trunk gives C2..C5 (strides 4..32). A feature pyramid in the
style of CPN's GlobalNet (``handlib.papers.rcsf.cpn.TopDownPyramid``: 1×1 conv-BN-ReLU laterals
``L_i`` to 256 channels, top-down bilinear ×2 + 1×1 conv-BN added, ``P_i = L_i + up(P_{i+1})``)
is extended by "a jump connection ... between the input and output nodes at the same scale"
(the dashed lines of Fig. 1). *Choice:* the sentence is BiFPN's (Tan et al. 2020) description of
its extra same-level edge, so we read the input node as the lateral ``L_i`` and give each level
an output node ``G_i = conv3×3-BN-ReLU(P_i) + L_i``. The four ``G_i`` are upsampled to stride 4,
"merged" and turned into one heatmap by a 3×3 convolution (the intermediate supervision of
eq. 1). *Choice:* merged by element-wise addition, the meaning "merge" has in FPN (Lin et al.
2017), which also keeps the head small, as the paper wants.

RegionalNet (§3.2, Figs. 1-2). Four stages. The first stage has only the lowest resolution
(stride 32); each later stage adds the next higher resolution (16, 8, then 4), "from deep to
shallow". At the start of every stage, GlobalNet's feature ``G_i`` of each present resolution
is added to that branch (stage 1 starts from ``G_5`` itself). Within a resolution, bottleneck
blocks are stacked; an exchange unit then fuses the branches (Fig. 2: upsampling by a 1×1
convolution, downsampling by 3×3 stride-2 convolutions; ``handlib.models.layers.ExchangeUnit``).
*Choices:* (a) an exchange unit sits between consecutive stages and also creates the branch
that the next stage adds, fed by all existing branches (as HRNet's transition creates a new
branch from the existing ones); stage 4 has no exchange unit of its own, because the paper's
last step, concatenating all scales, already fuses them ("Finally, the features of all scales
are concatenated"). (b) Every branch keeps GlobalNet's 256 channels so that the GlobalNet
features add without projections; the bottlenecks have 64 planes (256 → 64 → 64 → 256).
(c) ``blocks=1`` bottleneck per branch and stage (so a resolution present in k stages passes
through k stacked bottlenecks). The paper gives no count; with (a)-(c) the model has 31,438,698
parameters = 119.93 MiB in float32, next to the paper's Table 7 size of 120.20 MB, and 10.75
GMACs at 256² (paper: 12.01 GFLOPs). ``blocks=4`` (HRNet's count) would give 33.55M parameters
(127.99 MiB) and 12.24 GMACs; the chapter's ``handlib bench`` fidelity check reports ours beside
the paper's. (d) Finally all resolutions are upsampled (bilinear) to stride 4 and
concatenated, and one 1×1 convolution gives the 21 heatmaps ("a convolution layer is attached
to generate the score maps", §4.2). (e) The paper uses dropout (§4.1) without saying where or
how much; ``dropout`` (default 0, i.e. the architecture as described) puts ``Dropout2d`` before
that final convolution.

Training (§4.1), recorded in ``handlib/papers/rcsf/profiles.yaml``: Adam, batch 32, lr 5e-4 halved at
"the 100th iteration", stopped at "the 150th iteration". We read "iteration" as epoch (150
optimiser steps of batch 32 would not cover even 1/8 of RHD's 38,530 training images).
Loss: ``handlib.papers.rcsf.losses.rcsf`` (eq. 1-3, OHKM with m = 11).

Table 4 variants:
- ``rcsf_global_only``, model (1): GlobalNet's heatmap is the prediction.
- ``rcsf_high_res_first``, model (2): the same RegionalNet but HRNet-like, starting from the
  highest resolution (stride 4) and adding 8, 16, 32 stage by stage.
- ``rcsf``, model (3) = ours: low resolution first.

Outputs: ``heatmaps`` (B, 21, S/4, S/4) and ``global_heatmaps`` (GlobalNet's, same shape).

Cheap profiles: ``backbone_depth`` (50), ``backbone_width`` (64), ``backbone_layers``,
``channels`` (256, GlobalNet and RegionalNet width) and ``blocks`` shrink or grow the net.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn as nn

from handlib.models.backbones import resnet
from handlib.papers.rcsf.cpn import TopDownPyramid, resize
from handlib.models.layers import (
    Bottleneck,
    MultiResolutionModule,
    conv_bn,
    init_heatmap_head,
    init_weights,
    residual_stage,
)
from handlib.skeleton import NUM_JOINTS

#: Levels (0 = stride 4 … 3 = stride 32) of each RegionalNet stage, per design (Table 4).
STAGE_LEVELS: dict[str, tuple[tuple[int, ...], ...]] = {
    "low_res_first": ((3,), (2, 3), (1, 2, 3), (0, 1, 2, 3)),
    "high_res_first": ((0,), (0, 1), (0, 1, 2), (0, 1, 2, 3)),
}


class GlobalNet(nn.Module):
    """ResNet C2..C5 → top-down pyramid with same-scale skips → ``G_2..G_5`` and one heatmap."""

    def __init__(
        self,
        num_joints: int = NUM_JOINTS,
        channels: int = 256,
        backbone_depth: int = 50,
        backbone_width: int = 64,
        backbone_layers: Sequence[int] | None = None,
    ):
        super().__init__()
        self.backbone = resnet(backbone_depth, width=backbone_width, layers=backbone_layers)
        self.pyramid = TopDownPyramid(self.backbone.out_channels, channels)
        self.outputs = nn.ModuleList(conv_bn(channels, channels, 3) for _ in range(4))
        self.head = nn.Conv2d(channels, num_joints, kernel_size=3, padding=1)

    def forward(self, image: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor]:
        features = self.backbone(image)
        laterals, merged = self.pyramid(features)
        pyramid = [out(p) + lat for out, p, lat in zip(self.outputs, merged, laterals)]
        size = pyramid[0].shape[-2:]
        heatmaps = self.head(sum(resize(g, size) for g in pyramid))
        return pyramid, heatmaps


class RegionalNet(nn.Module):
    """Four stages of repeated cross-scale fusion over GlobalNet's pyramid (see module doc)."""

    def __init__(
        self,
        num_joints: int = NUM_JOINTS,
        channels: int = 256,
        blocks: int = 1,
        design: str = "low_res_first",
        dropout: float = 0.0,
    ):
        super().__init__()
        if design not in STAGE_LEVELS:
            raise ValueError(
                f"unknown RegionalNet design {design!r}; choose from {list(STAGE_LEVELS)}"
            )
        self.stage_levels = STAGE_LEVELS[design]
        # stages 1-3 end in an exchange unit that outputs the next stage's resolutions
        self.stages = nn.ModuleList(
            MultiResolutionModule(
                {level: channels for level in levels},
                blocks,
                block=Bottleneck,
                outputs={level: channels for level in next_levels},
            )
            for levels, next_levels in zip(self.stage_levels, self.stage_levels[1:])
        )
        self.last_stage = nn.ModuleList(
            residual_stage(Bottleneck, channels, channels // Bottleneck.expansion, blocks)
            for _ in self.stage_levels[-1]
        )
        self.dropout = nn.Dropout2d(dropout)
        self.head = nn.Conv2d(4 * channels, num_joints, kernel_size=1)

    def forward(self, pyramid: list[torch.Tensor]) -> torch.Tensor:
        xs = [pyramid[level] for level in self.stage_levels[0]]
        for next_levels, stage in zip(self.stage_levels[1:], self.stages):
            # each stage after the first starts by adding GlobalNet's features
            xs = [x + pyramid[level] for x, level in zip(stage(xs), next_levels)]
        xs = [branch(x) for branch, x in zip(self.last_stage, xs)]
        size = pyramid[0].shape[-2:]
        return self.head(self.dropout(torch.cat([resize(x, size) for x in xs], dim=1)))


class RCSF(nn.Module):
    """GlobalNet (+ RegionalNet unless ``design="global_only"``); see the module docstring."""

    def __init__(
        self,
        design: str = "low_res_first",
        num_joints: int = NUM_JOINTS,
        channels: int = 256,
        blocks: int = 1,
        dropout: float = 0.0,
        backbone_depth: int = 50,
        backbone_width: int = 64,
        backbone_layers: Sequence[int] | None = None,
    ):
        super().__init__()
        self.global_net = GlobalNet(
            num_joints, channels, backbone_depth, backbone_width, backbone_layers
        )
        self.regional_net = (
            None
            if design == "global_only"
            else RegionalNet(num_joints, channels, blocks, design, dropout)
        )
        init_weights(self)
        init_heatmap_head(self.global_net.head)
        if self.regional_net is not None:
            init_heatmap_head(self.regional_net.head)

    def forward(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        pyramid, global_heatmaps = self.global_net(image)
        if self.regional_net is None:
            return {"heatmaps": global_heatmaps}
        return {"heatmaps": self.regional_net(pyramid), "global_heatmaps": global_heatmaps}


def rcsf(**kwargs) -> RCSF:
    """RCSF as in the paper (Table 4 model (3), low resolution first)."""
    return RCSF(design="low_res_first", **kwargs)


def rcsf_high_res_first(**kwargs) -> RCSF:
    """Table 4 model (2): an HRNet-like RegionalNet starting from the highest resolution."""
    return RCSF(design="high_res_first", **kwargs)


def rcsf_global_only(**kwargs) -> RCSF:
    """Table 4 model (1): GlobalNet's heatmap only (``blocks``/``dropout`` have no effect)."""
    return RCSF(design="global_only", **kwargs)
