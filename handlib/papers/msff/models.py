"""MS-FF: the multiscale feature fusion network (Zhan & Luo 2023, Method A-D, Figs. 1-4, eqs. 3-15)
and the module ablations the paper never ran (without the channel conversion module, without the
global regression module, without the local optimization module).

Our copy of the paper has lost the bodies of eqs. (1), (2), (6)-(15) and all four diagrams, so
the structure below is read from the prose; every *Choice* is ours, with the reason.

**Backbone (Method A).** ResNet-50 gives C2-C5 at 1/4, 1/8, 1/16, 1/32 of the 256² input
(``handlib.models.backbones``, randomly initialised: the paper does not say whether it starts from
ImageNet weights, and none can be downloaded here).

**Channel conversion module, CCM (§B, Fig. 2, eqs. 3-5)**: a squeeze-and-excitation block.
Eq. (3) averages each channel over the map (A_c); eq. (5) rescales each channel by its weight
W_c. Eq. (4) is printed as ``W_c = σ(W_1 A + W_2 A)``, which contradicts its own text (two fully
connected layers with a ReLU): we implement the text, SE's ``σ(W_2 δ(W_1 A))`` (Hu et al. 2018).
*Choices:* reduction ratio 16 (SE's default; the paper gives none), biases in both layers, no
residual path (the paper shows none). Sec. C's "feature maps are obtained by the channel
conversion module", naming all four levels, puts one CCM on each of C2-C5.

**Global regression module, GRM (§C, Fig. 3, eqs. 6-11)**: an FPN top-down path. The horizontal
path reduces each CCM output to ``channels`` by a 1×1 convolution followed by ReLU (V_k, eq. 6:
"R_l is the convolution operation with a 1×1 convolution kernel, [δ] is the ReLU function"); the
vertical path upsamples the level above by bilinear interpolation (U_k, eqs. 7-10); the two are
added (eq. 11): ``P_5 = V_5``, ``P_k = V_k + B(P_{k+1})``. *Choices:* 256 channels (FPN's), no 3×3
smoothing convolution after the sum (the paper names none), ``align_corners=False``.

**Local optimization module, LOM (§D, Fig. 4)**: channel split into two halves; one half passes
unchanged, the other goes through 1×1, 3×3 and 1×1 convolutions and a CCM with a residual
connection around that path; the halves are concatenated (the channel count is unchanged),
channels are shuffled, and bilinear interpolation upsamples ×2. *Choices:* the split is half and
half and the shuffle has 2 groups (ShuffleNetV2's, which this unit follows); the 3×3 convolution
is a full one (the paper does not say depthwise); BN after each convolution, ReLU after the first
two and after the residual sum.

**Passes per level (eqs. 12-13).** The four pass counts of eq. (13) are lost. With ×2 per pass,
the maps at 1/4, 1/8, 1/16, 1/32 reach a common size after 0, 1, 2 and 3 passes, the only counts
that make "the four feature maps have the same dimension" without a separate resize: ``passes =
(0, 1, 2, 3)`` (as CPN's RefineNet stacks more units on coarser levels). The passes do not share
weights.

**Output (eqs. 14-15).** The four 1/4 maps are concatenated and a 1×1 convolution gives the "2.5D
Gaussian heatmap". *Choice:* InterNet's voxel heat maps, 42 joints × ``depth_bins`` over the
map (``heatmap3d`` codec): the paper builds on InterNet, trains on InterHand2.6M, has its
handedness and root-depth outputs and decodes with its P⁻¹ A⁻¹ (eq. 2); the alternative reading
(2D heat maps plus depth maps) would need a codec the paper gives no hint of.

**Handedness and relative root depth (Method A)** come from "the feature map with the smallest
resolution from the channel conversion module", CCM(C5), through InterNet's PoseNet heads
(``handlib.models.internet``: pooled features, 2-layer MLPs with 512 hidden units, the root
depth's 1D heat map read by soft-argmax). The layer sizes are InterNet's: the paper gives none.

**Ablations** (for claims the paper makes about each module without evidence):
``channel_conversion=False`` removes every CCM (the backbone maps go straight on, and the LOM
loses its CCM); ``global_regression=False`` keeps only C5 (its 1×1 reduction, then the LOM passes
of the 1/32 level; the top-down fusion of C2-C4 is gone); ``local_optimization=False`` replaces
the LOM passes by plain bilinear upsampling to 1/4.

Outputs as :class:`handlib.models.internet.InterNet`'s: ``heatmaps3d`` (B, 42, D, H/4, W/4),
``root_depth`` (B,) in root bins, ``hand_type`` (B, 2) logits; trained with
:func:`handlib.losses.internet`.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from handlib.models import build
from handlib.models.internet import HANDS, expected_bin, mlp_head
from handlib.models.layers import SqueezeExcitation, conv_bn
from handlib.skeleton import NUM_JOINTS

#: LOM passes of the maps at 1/4, 1/8, 1/16 and 1/32 (each pass upsamples ×2).
PASSES: tuple[int, ...] = (0, 1, 2, 3)


class ChannelConversion(SqueezeExcitation):
    """§B, eqs. 3-5: average each channel (A), weigh channels by σ(W_2 δ(W_1 A)), rescale: the
    squeeze-and-excitation block of ``handlib.models.layers`` (sigmoid gate)."""


def channel_shuffle(features: torch.Tensor, groups: int = 2) -> torch.Tensor:
    """Interleave ``groups`` channel groups (ShuffleNet): [a0 a1 .. b0 b1 ..] -> [a0 b0 a1 b1 ..]."""
    b, c, h, w = features.shape
    return features.reshape(b, groups, c // groups, h, w).transpose(1, 2).reshape(b, c, h, w)


class LocalOptimization(nn.Module):
    """§D, Fig. 4: split; identity ‖ (1×1, 3×3, 1×1, CCM) + residual; concat; shuffle; ×2 up."""

    def __init__(self, channels: int, channel_conversion: bool = True, upsample: bool = True):
        super().__init__()
        if channels % 2:
            raise ValueError("the local optimization module splits channels in half; got "
                             f"{channels}")
        half = channels // 2
        self.path = nn.Sequential(
            conv_bn(half, half, kernel_size=1), conv_bn(half, half, kernel_size=3),
            conv_bn(half, half, kernel_size=1, relu=False),
            ChannelConversion(half) if channel_conversion else nn.Identity())
        self.upsample = upsample

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        kept, processed = features.chunk(2, dim=1)
        processed = F.relu(processed + self.path(processed))
        out = channel_shuffle(torch.cat([kept, processed], dim=1))
        if self.upsample:
            out = F.interpolate(out, scale_factor=2, mode="bilinear", align_corners=False)
        return out


class MSFF(nn.Module):
    """ResNet-50 → CCM per level → GRM (FPN top-down) → LOM passes → concat → 1×1 → voxel heat
    maps; CCM(C5) → handedness and relative root depth. See the module docstring."""

    def __init__(self, backbone: str = "resnet50", channels: int = 256, depth_bins: int = 64,
                 root_bins: int = 64, hidden: int = 512, reduction: int = 16,
                 passes: tuple[int, ...] = PASSES, channel_conversion: bool = True,
                 global_regression: bool = True, local_optimization: bool = True,
                 **backbone_kwargs):
        super().__init__()
        if len(passes) != 4 or any(p < 0 for p in passes):
            raise ValueError(f"passes gives the LOM passes of the 4 levels, got {passes}")
        self.backbone = build(backbone, **backbone_kwargs)
        self.depth_bins, self.passes = depth_bins, tuple(passes)
        levels = self.backbone.out_channels
        self.used = (0, 1, 2, 3) if global_regression else (3,)
        # modules of the used levels only (the C5-only ablation has no C2-C4 parameters)
        self.conversion = nn.ModuleDict(
            {str(k): ChannelConversion(levels[k], reduction) if channel_conversion
             else nn.Identity() for k in self.used})
        self.reduce = nn.ModuleDict(
            {str(k): nn.Sequential(nn.Conv2d(levels[k], channels, 1), nn.ReLU(inplace=True))
             for k in self.used})
        self.refine = nn.ModuleDict(
            {str(k): nn.Sequential(*(LocalOptimization(channels, channel_conversion)
                                     for _ in range(self.passes[k] if local_optimization else 0)))
             for k in self.used})
        self.head = nn.Conv2d(channels * len(self.used), HANDS * NUM_JOINTS * depth_bins, 1)
        nn.init.normal_(self.head.weight, std=0.001)
        nn.init.zeros_(self.head.bias)
        self.root_head = mlp_head(levels[-1], hidden, root_bins)
        self.hand_type_head = mlp_head(levels[-1], hidden, HANDS)

    def pyramid(self, features: list[torch.Tensor]) -> tuple[list[torch.Tensor], torch.Tensor]:
        """CCM and GRM (eqs. 3-11): the fused maps P_k of the used levels, and CCM(C5)."""
        converted = {k: self.conversion[str(k)](features[k]) for k in self.used}
        fused: dict[int, torch.Tensor] = {}
        for k in reversed(self.used):
            lateral = self.reduce[str(k)](converted[k])                     # V_k, eq. 6
            if k + 1 in fused:                                              # U_k, eqs. 7-10
                lateral = lateral + F.interpolate(fused[k + 1], size=lateral.shape[-2:],
                                                  mode="bilinear", align_corners=False)
            fused[k] = lateral                                              # P_k, eq. 11
        return [fused[k] for k in self.used], converted[3]

    def forward(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        features = self.backbone(image)
        fused, smallest = self.pyramid(features)
        size = features[0].shape[-2:]  # 1/4 of the input
        maps = []
        for k, level in zip(self.used, fused):
            level = self.refine[str(k)](level)                              # eqs. 12-13
            if level.shape[-2:] != size:  # without the LOM passes, or with other counts
                level = F.interpolate(level, size=size, mode="bilinear", align_corners=False)
            maps.append(level)
        volumes = self.head(torch.cat(maps, dim=1))                        # eqs. 14-15
        pooled = smallest.mean(dim=(2, 3))
        return {"heatmaps3d": volumes.reshape(len(image), HANDS * NUM_JOINTS, self.depth_bins,
                                              *size),
                "root_depth": expected_bin(self.root_head(pooled)),
                "hand_type": self.hand_type_head(pooled)}


def msff(**kwargs) -> MSFF:
    """MS-FF as the paper describes it (our readings in the module docstring)."""
    return MSFF(**kwargs)


def msff_no_channel_conversion(**kwargs) -> MSFF:
    """Ablation: MS-FF without any channel conversion module."""
    return MSFF(channel_conversion=False, **kwargs)


def msff_no_global_regression(**kwargs) -> MSFF:
    """Ablation: MS-FF on C5 only (no top-down fusion of C2-C4)."""
    return MSFF(global_regression=False, **kwargs)


def msff_no_local_optimization(**kwargs) -> MSFF:
    """Ablation: MS-FF with plain bilinear upsampling in place of the LOM passes."""
    return MSFF(local_optimization=False, **kwargs)
