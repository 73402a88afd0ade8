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

Activations and attention of the MobileNet family (InterNet+, paper 3, and MS-FF's SE block),
each written out and each looked up by name (:func:`activation`, :func:`attention`), so that a
configuration names them as data and an unknown name is one clear error:

- ``AconC`` and ``MetaAconC``: ACON-C (Ma et al. 2021, InterNet+ eq. 4),
  ``(p1 − p2)·x·σ(β(p1 − p2)x) + p2·x`` with per-channel learnable p1, p2; β → 0 gives the
  linear mean ``(p1 + p2)/2 · x``, β → ∞ the maximum ``max(p1·x, p2·x)`` (eqs. 1-2). ACON-C
  learns one β per channel; Meta-ACON-C generates β per image and channel from the input,
  ``β = σ(W2 W1 GAP(x))`` (the ACON paper's channel-wise meta form, hidden width
  ``max(r, C/r)``, r = 16).
- ``SqueezeExcitation`` (Hu et al. 2018): global average pooling, two fully connected layers with
  a ReLU, a gate (sigmoid, or MobileNetV3's hard sigmoid), channel-wise rescaling.
- ``CoordinateAttention`` (Hou et al. 2021, Fig. 2(c)): pool along W and along H separately,
  a shared 1×1 conv to ``max(8, C/r)`` channels (r = 32) + BN + h-swish, two 1×1 convs back to
  C with sigmoids: one gate per row, one per column, multiplied into the input.
- ``CBAM`` (Woo et al. 2018): channel attention (shared MLP on average- and max-pooled vectors,
  r = 16) then spatial attention (7×7 conv on the channel mean and max).
- ``MultiSpectralAttention``, FcaNet (Qin et al. 2021): the channels are split into as many equal
  groups as there are frequencies; group k is pooled with the 2D DCT basis of frequency
  (u_k, v_k) over the whole map, and the pooled vector goes through SE's two layers and a sigmoid.
  The basis is ``cos(πu(h + ½)/H)·cos(πv(w + ½)/W) / (H·W)``, so that frequency (0, 0) is
  exactly global average pooling; the DCT size must equal the feature map's.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F


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


# ----------------------------------------------------------------------------- activations


class AconC(nn.Module):
    """ACON-C (eq. 4 of InterNet+, Ma et al. 2021) with one learnable β per channel.

    p1 and p2 start at 1 and 0, so the unit starts as Swish with β = 1 (ACON-A); all three are
    per-channel parameters of shape (1, C, 1, 1)."""

    def __init__(self, channels: int):
        super().__init__()
        self.p1 = nn.Parameter(torch.ones(1, channels, 1, 1))
        self.p2 = nn.Parameter(torch.zeros(1, channels, 1, 1))
        self.beta = nn.Parameter(torch.ones(1, channels, 1, 1))

    def switch(self, x: torch.Tensor, beta: torch.Tensor) -> torch.Tensor:
        """``(p1 − p2)·x·σ(β(p1 − p2)x) + p2·x`` for a given β (eq. 4)."""
        gap = (self.p1 - self.p2) * x
        return gap * torch.sigmoid(beta * gap) + self.p2 * x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.switch(x, self.beta)


class MetaAconC(AconC):
    """Meta-ACON-C: ACON-C whose β is generated from the input, ``σ(W2 W1 GAP(x))`` per image
    and channel (hidden width ``max(reduction, C // reduction)``). The ACON authors' code puts a
    BatchNorm after each of W1, W2; we leave them out, as the paper's formula does, so that the
    unit also trains at batch size 1."""

    def __init__(self, channels: int, reduction: int = 16):
        super().__init__(channels)
        del self.beta
        hidden = max(reduction, channels // reduction)
        self.beta_generator = nn.Sequential(nn.Conv2d(channels, hidden, 1),
                                            nn.Conv2d(hidden, channels, 1), nn.Sigmoid())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.switch(x, self.beta_generator(x.mean(dim=(2, 3), keepdim=True)))


#: Activations by name: ``name -> (channels -> module)``.
ACTIVATIONS: dict[str, object] = {
    "relu": lambda channels: nn.ReLU(inplace=True),
    "hswish": lambda channels: nn.Hardswish(inplace=True),
    "leaky_relu": lambda channels: nn.LeakyReLU(0.1, inplace=True),
    "acon_c": AconC,
    "meta_acon_c": MetaAconC,
    "none": lambda channels: nn.Identity(),
}


def activation(name: str, channels: int) -> nn.Module:
    """The activation ``name`` (:data:`ACTIVATIONS`) for ``channels`` channels."""
    if name not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; choose one of {', '.join(ACTIVATIONS)}")
    return ACTIVATIONS[name](channels)


# ----------------------------------------------------------------------------- attention

GATES = {"sigmoid": nn.Sigmoid, "hard_sigmoid": nn.Hardsigmoid}


class SqueezeExcitation(nn.Module):
    """SE (Hu et al. 2018): ``x · gate(W2 δ(W1 GAP(x)))``, hidden width ``channels // reduction``
    (at least ``min_hidden``)."""

    def __init__(self, channels: int, reduction: int = 16, gate: str = "sigmoid",
                 min_hidden: int = 1):
        super().__init__()
        if gate not in GATES:
            raise ValueError(f"unknown SE gate {gate!r}; choose one of {', '.join(GATES)}")
        hidden = max(min_hidden, channels // reduction)
        self.squeeze = nn.Linear(channels, hidden)
        self.excite = nn.Linear(hidden, channels)
        self.gate = GATES[gate]()

    def weights(self, pooled: torch.Tensor) -> torch.Tensor:
        """(B, C) pooled descriptors -> (B, C) channel weights."""
        return self.gate(self.excite(F.relu(self.squeeze(pooled))))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return features * self.weights(features.mean(dim=(2, 3)))[:, :, None, None]


class CoordinateAttention(nn.Module):
    """Coordinate attention (Hou et al. 2021): a gate per row and a gate per column."""

    def __init__(self, channels: int, reduction: int = 32, min_hidden: int = 8):
        super().__init__()
        hidden = max(min_hidden, channels // reduction)
        self.shared = nn.Sequential(nn.Conv2d(channels, hidden, 1, bias=False),
                                    nn.BatchNorm2d(hidden), nn.Hardswish(inplace=True))
        self.row_gate = nn.Conv2d(hidden, channels, 1)
        self.column_gate = nn.Conv2d(hidden, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        height = x.shape[2]
        rows = x.mean(dim=3, keepdim=True)                        # (B, C, H, 1): pooled along W
        columns = x.mean(dim=2, keepdim=True).transpose(2, 3)     # (B, C, W, 1): pooled along H
        shared = self.shared(torch.cat([rows, columns], dim=2))
        rows, columns = shared[:, :, :height], shared[:, :, height:]
        row_weights = torch.sigmoid(self.row_gate(rows))                        # (B, C, H, 1)
        column_weights = torch.sigmoid(self.column_gate(columns)).transpose(2, 3)  # (B, C, 1, W)
        return x * row_weights * column_weights


class CBAM(nn.Module):
    """CBAM (Woo et al. 2018): channel attention on average- and max-pooled vectors through one
    shared MLP, then spatial attention from a 7×7 conv on the channel mean and maximum."""

    def __init__(self, channels: int, reduction: int = 16, spatial_kernel: int = 7):
        super().__init__()
        hidden = max(1, channels // reduction)
        self.mlp = nn.Sequential(nn.Linear(channels, hidden), nn.ReLU(inplace=True),
                                 nn.Linear(hidden, channels))
        self.spatial = nn.Conv2d(2, 1, spatial_kernel, padding=spatial_kernel // 2, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        channel = torch.sigmoid(self.mlp(x.mean(dim=(2, 3))) + self.mlp(x.amax(dim=(2, 3))))
        x = x * channel[:, :, None, None]
        pooled = torch.cat([x.mean(dim=1, keepdim=True), x.amax(dim=1, keepdim=True)], dim=1)
        return x * torch.sigmoid(self.spatial(pooled))


#: FcaNet's 16 best single frequencies on ImageNet ("top16", Qin et al. 2021, their Fig. 4 and
#: released code), as (u, v) on a 7×7 DCT grid; :func:`scaled_frequencies` maps them to others.
FCANET_TOP16: tuple[tuple[int, int], ...] = (
    (0, 0), (0, 1), (6, 0), (0, 5), (0, 2), (1, 0), (1, 2), (4, 0),
    (5, 0), (1, 6), (3, 0), (0, 4), (0, 6), (0, 3), (3, 5), (2, 2))


def scaled_frequencies(frequencies: Sequence[tuple[int, int]], size: int,
                       reference: int = 7) -> list[tuple[int, int]]:
    """Frequencies given on a ``reference``×``reference`` grid, mapped to a ``size`` grid
    (``u·size // reference``); a repeated frequency is kept (its channel group is pooled the
    same way)."""
    return [(u * size // reference, v * size // reference) for u, v in frequencies]


def dct_basis(height: int, width: int, u: int, v: int) -> torch.Tensor:
    """(H, W) the 2D DCT-II basis of frequency (u, v), scaled by 1/(H·W): at (0, 0) every weight
    is 1/(H·W), so pooling with it is global average pooling."""
    if not (0 <= u < height and 0 <= v < width):
        raise ValueError(f"DCT frequency ({u}, {v}) lies outside a {height}x{width} map")
    rows = torch.cos(math.pi * u * (torch.arange(height) + 0.5) / height)
    columns = torch.cos(math.pi * v * (torch.arange(width) + 0.5) / width)
    return rows[:, None] * columns[None, :] / (height * width)


class MultiSpectralAttention(nn.Module):
    """FcaNet's multi-spectral channel attention on ``size``×``size`` maps (see the module doc)."""

    def __init__(self, channels: int, size: int, reduction: int = 16,
                 frequencies: Sequence[tuple[int, int]] = FCANET_TOP16):
        super().__init__()
        if channels % len(frequencies):
            raise ValueError(f"FcaNet splits the channels into {len(frequencies)} groups, one "
                             f"per frequency; {channels} channels do not divide into them "
                             "(choose a width that is a multiple of the number of frequencies)")
        self.size = size
        per_group = channels // len(frequencies)
        bases = [dct_basis(size, size, u, v) for u, v in scaled_frequencies(frequencies, size)]
        self.register_buffer("filters", torch.stack(bases).repeat_interleave(per_group, dim=0),
                             persistent=False)                              # (C, size, size)
        self.excitation = SqueezeExcitation(channels, reduction)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if tuple(x.shape[-2:]) != (self.size, self.size):
            raise ValueError(f"FcaNet's DCT is {self.size}x{self.size} but the feature map is "
                             f"{x.shape[-2]}x{x.shape[-1]}: set its size to the map's (the input "
                             "size divided by the extractor's stride)")
        pooled = (x * self.filters).sum(dim=(2, 3))
        return x * self.excitation.weights(pooled)[:, :, None, None]


#: Attention modules by name: ``name -> (channels -> module)``; "none" is no attention.
ATTENTIONS: dict[str, object] = {
    "none": lambda channels: nn.Identity(),
    "ca": CoordinateAttention,
    "se": lambda channels: SqueezeExcitation(channels, reduction=4, gate="hard_sigmoid",
                                             min_hidden=8),
    "cbam": CBAM,
}


def attention(name: str, channels: int) -> nn.Module:
    """The attention module ``name`` (:data:`ATTENTIONS`) for ``channels`` channels. SE is
    MobileNetV3's (reduction 4, hard-sigmoid gate), the block InterNet+'s CA replaces."""
    if name not in ATTENTIONS:
        raise ValueError(f"unknown attention {name!r}; choose one of {', '.join(ATTENTIONS)}")
    return ATTENTIONS[name](channels)
