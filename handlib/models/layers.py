"""Building blocks shared by the book's convolutional models (one place for each block).

- ``conv_bn(in, out, kernel, stride, relu)``: convolution (no bias) → BatchNorm → optional ReLU,
  the unit every ResNet/HRNet/CPN/RCSF layer is made of.
- ``BasicBlock`` (two 3×3 convolutions, expansion 1) and ``Bottleneck`` (1×1 → 3×3 → 1×1,
  expansion 4, stride on the 3×3 as in torchvision's "ResNet v1.5"): He et al. 2016, Fig. 5.
  The projection shortcut (1×1 conv + BN) is added whenever the shape changes.
- ``residual_stage(block, in_channels, planes, blocks, stride)``: ``blocks`` residual blocks,
  the first one carrying the stride and the projection.
- ``ExchangeUnit``: the multi-resolution fusion unit of HRNet (Sun et al. 2019, §3 "exchange
  units") and of RCSF's RegionalNet (Guan et al. 2023, Fig. 2): every output resolution sums all
  input resolutions, brought up by a 1×1 conv-BN + nearest upsampling, or down by repeated 3×3/2
  conv-BN (ReLU between the steps), then ReLU. Resolutions are *levels*: level ``l`` has stride
  4·2^l (0 = the highest resolution, stride 4; 3 = stride 32).
- ``MultiResolutionModule``: parallel branches of residual blocks, one per level, followed by an
  exchange unit (an HRNet "module"; a RegionalNet stage).
- ``init_weights(module)``: He (fan-out) initialisation of convolutions, BN weight 1 / bias 0,
  the initialisation torchvision and the CPN reference code use for training from scratch
  (RCSF §4.1: "our network parameters were randomly initialized").
- ``init_heatmap_head(conv)``: a heat-map output convolution starts near zero (normal, std
  0.001, zero bias; the initialisation of every convolution in the HRNet reference code), so
  that training does not first have to undo large random heat maps.
"""
from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn as nn


def conv_bn(
    in_channels: int, out_channels: int, kernel_size: int = 3, stride: int = 1, relu: bool = True
) -> nn.Sequential:
    """``kernel_size``×``kernel_size`` convolution ("same" padding, no bias), BN, optional ReLU."""
    layers: list[nn.Module] = [
        nn.Conv2d(
            in_channels,
            out_channels,
            kernel_size,
            stride=stride,
            padding=kernel_size // 2,
            bias=False,
        ),
        nn.BatchNorm2d(out_channels),
    ]
    if relu:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


def _shortcut(in_channels: int, out_channels: int, stride: int) -> nn.Module:
    if stride == 1 and in_channels == out_channels:
        return nn.Identity()
    return conv_bn(in_channels, out_channels, kernel_size=1, stride=stride, relu=False)


class BasicBlock(nn.Module):
    """Two 3×3 conv-BN layers with an identity (or projected) shortcut; output ``planes``."""

    expansion = 1

    def __init__(self, in_channels: int, planes: int, stride: int = 1):
        super().__init__()
        out_channels = planes * self.expansion
        self.body = nn.Sequential(
            conv_bn(in_channels, planes, 3, stride),
            conv_bn(planes, out_channels, 3, relu=False),
        )
        self.shortcut = _shortcut(in_channels, out_channels, stride)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.body(x) + self.shortcut(x))


class Bottleneck(nn.Module):
    """1×1 reduce → 3×3 (carries the stride) → 1×1 expand ×``expansion``, plus shortcut."""

    expansion = 4

    def __init__(self, in_channels: int, planes: int, stride: int = 1, expansion: int = 4):
        super().__init__()
        self.expansion = expansion
        out_channels = planes * expansion
        self.body = nn.Sequential(
            conv_bn(in_channels, planes, 1),
            conv_bn(planes, planes, 3, stride),
            conv_bn(planes, out_channels, 1, relu=False),
        )
        self.shortcut = _shortcut(in_channels, out_channels, stride)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.body(x) + self.shortcut(x))


def residual_stage(
    block: type[BasicBlock] | type[Bottleneck],
    in_channels: int,
    planes: int,
    blocks: int,
    stride: int = 1,
) -> nn.Sequential:
    """``blocks`` residual blocks of ``planes``; the first takes the stride and any projection."""
    if blocks < 1:
        raise ValueError(f"a residual stage needs at least one block, got {blocks}")
    layers = [block(in_channels, planes, stride)]
    out_channels = planes * block.expansion
    layers += [block(out_channels, planes) for _ in range(blocks - 1)]
    return nn.Sequential(*layers)


def deconv_stack(in_channels: int, channels: int = 256, layers: int = 3) -> nn.Sequential:
    """``layers`` × (4×4 transposed convolution of stride 2, BN, ReLU): ×2 resolution each, the
    head of Simple Baselines (Xiao et al. 2018) and of InterNet's PoseNet (Moon et al. 2020).
    Weights start from N(0, 0.001²) as in both authors' code."""
    modules: list[nn.Module] = []
    for _ in range(layers):
        modules += [nn.ConvTranspose2d(in_channels, channels, kernel_size=4, stride=2, padding=1,
                                       bias=False),
                    nn.BatchNorm2d(channels), nn.ReLU(inplace=True)]
        in_channels = channels
    stack = nn.Sequential(*modules)
    for module in stack:
        if isinstance(module, nn.ConvTranspose2d):
            nn.init.normal_(module.weight, std=0.001)
    return stack


def upsample_unit(in_channels: int, out_channels: int, factor: int) -> nn.Sequential:
    """Fusion path to a higher resolution: 1×1 conv-BN, then nearest upsampling by ``factor``."""
    return nn.Sequential(
        conv_bn(in_channels, out_channels, kernel_size=1, relu=False),
        nn.Upsample(scale_factor=factor, mode="nearest"),
    )


def downsample_unit(in_channels: int, out_channels: int, steps: int) -> nn.Sequential:
    """Fusion path to a lower resolution: ``steps`` 3×3/2 conv-BN, ReLU between them, not after."""
    layers = [conv_bn(in_channels, in_channels, 3, stride=2) for _ in range(steps - 1)]
    layers.append(conv_bn(in_channels, out_channels, 3, stride=2, relu=False))
    return nn.Sequential(*layers)


class ExchangeUnit(nn.Module):
    """Fuse parallel branches: ``inputs`` and ``outputs`` map level → channels (in branch order).

    ``forward(xs)`` takes one tensor per input level (in the order of ``inputs``) and returns one
    per output level: ReLU(Σ_j path_ij(x_j)), where the path from a level to itself is the
    identity (a 1×1 conv-BN if the width changes).
    """

    def __init__(self, inputs: Mapping[int, int], outputs: Mapping[int, int]):
        super().__init__()
        self.paths = nn.ModuleList()
        for level_out, c_out in outputs.items():
            row = nn.ModuleList()
            for level_in, c_in in inputs.items():
                if level_in == level_out:
                    same = c_in == c_out
                    row.append(nn.Identity() if same else conv_bn(c_in, c_out, 1, relu=False))
                elif level_in > level_out:
                    row.append(upsample_unit(c_in, c_out, 2 ** (level_in - level_out)))
                else:
                    row.append(downsample_unit(c_in, c_out, level_out - level_in))
            self.paths.append(row)
        # not in place: with a single input the sum is that input itself, still needed elsewhere
        self.relu = nn.ReLU()

    def forward(self, xs: list[torch.Tensor]) -> list[torch.Tensor]:
        fused = []
        for row in self.paths:
            total = row[0](xs[0])
            for path, x in zip(row[1:], xs[1:]):
                total = total + path(x)
            fused.append(self.relu(total))
        return fused


class MultiResolutionModule(nn.Module):
    """Parallel branches (``blocks`` residual blocks each, width kept) then an ``ExchangeUnit``.

    ``inputs`` maps level → channels of the branches; ``outputs`` (default: the same levels) the
    levels/widths the exchange unit produces, so a module can also add or drop branches.
    """

    def __init__(
        self,
        inputs: Mapping[int, int],
        blocks: int,
        block: type[BasicBlock] | type[Bottleneck] = BasicBlock,
        outputs: Mapping[int, int] | None = None,
    ):
        super().__init__()
        self.branches = nn.ModuleList(
            residual_stage(block, c, c // block.expansion, blocks) for c in inputs.values()
        )
        self.exchange = ExchangeUnit(inputs, dict(inputs) if outputs is None else outputs)

    def forward(self, xs: list[torch.Tensor]) -> list[torch.Tensor]:
        return self.exchange([branch(x) for branch, x in zip(self.branches, xs)])


def init_heatmap_head(conv: nn.Conv2d) -> None:
    """Normal(0, 0.001) weights and zero bias for a convolution that outputs heat maps."""
    nn.init.normal_(conv.weight, std=0.001)
    if conv.bias is not None:
        nn.init.zeros_(conv.bias)


def init_weights(module: nn.Module) -> None:
    """He (fan-out) normal init for convolutions, ones/zeros for BN, zero biases."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
