"""ResUnet (Bekiri & Babahenini, §II.A, Figs. 1-2, eqs. 1-4) and the controls its claims need,
estimating the 2D joints (input pixels of the 128² crop, the ``softargmax2d`` codec's ``kp2d``)
and the 20 bone vectors (camera mm, the ``bones3d`` codec's ``bones``) from one RGB hand crop.

**Contracting path (§II.A).** ResNet-34 (:func:`handlib.models.backbones.resnet34`) on the
128² crop, read at five levels (:class:`ContractingPath`): the stem's 7×7/2 convolution
(64 × 64², before the max-pool), F1 = layer1 (64 × 32²), F2 = layer2 (128 × 16²), F3 = layer3
(256 × 8²), F4 = layer4 (512 × 4²). The paper's ResNet-34 is "pre-trained"; no pretrained
weights are available offline, so the trunk is trained from scratch — a deviation expected to
cost accuracy, most on the smallest data set (STB).

**Expansive path: four Unet-Blocks (§II.A, Fig. 1).** Each block upsamples its input
bilinearly to the resolution of the next shallower level, concatenates that level (F_skip) and
applies two 3×3 convolution + BN + ReLU layers (:class:`UnetBlock`): block 1 takes
F_g = {F4, F3} (F4 up to 8², ⊕ F3), block 2 ⊕ F2 (16²), block 3 ⊕ F1 (32²), block 4 ⊕ the
stem's features (64²). Their widths, (256, 128, 64, 64), are ours (the paper gives none). The
head is "two convolution layers separate with RELU": 3×3 (64) → ReLU → 1×1 to 21 latent maps.

**LHR (eqs. 1-2).** ``PM_i = softmax(β_i F_i)`` over the 64² cells and ``p_i = Σ PM_i(p) p``
(:func:`handlib.codecs.softargmax.soft_argmax`), in input pixels ("within [0, image width]"),
with one learnable β_i per joint. The paper neither initialises nor constrains β; β ≤ 0 would
make the softmax ignore or invert the maps, so β = softplus(θ) (floored at :data:`BETA_MIN`,
where softplus underflows to 0 in float32 after an extreme step), θ set so that β starts at
``beta_init`` (default 1).

**Intermediate heat maps.** "After that [block 1], estimate 2D heatmaps before passing it to
the upcoming Unet-Block"; "we get the 2D feature heatmaps from the Unet-blocks, including pose
data from intermediate outputs". We read this as deep supervision after block 1 only (the one
block the paper names): a 1×1 convolution of block 1's output to 21 maps at 8², decoded by the
same soft-argmax with its own β (``kp2d_block1``), weighted 0.5 in the loss (``weight_block1``;
our choice, the paper says neither whether nor how much it is supervised).

**3D branch (§II.A, eq. 3).** "Two convolutional layers ... each followed by a ReLU ... every
two convolutional layers are preceded by a max-pooling layer. Then, we concatenate the process
3D features with intermediate features ... two fully connected layers ... (20, 3)"
(:class:`Branch3D`). The paper names neither the input, nor the number of groups, widths or the
"intermediate features"; ours: the last block's 64 × 64² features, three groups of [2×2
max-pool → 3×3 conv + ReLU → 3×3 conv + ReLU] (64, 128, 256 channels, no BN: the paper names
only convolutions and ReLUs) down to 8², concatenated with block 1's output (the one
intermediate output at 8²), flattened, FC (``fc`` = 1024) + ReLU, FC to 60. The network
regresses bones in units of ``bone_unit_mm`` (100 mm) and multiplies, so its raw outputs are
O(1) while ``bones`` is in camera mm, as the ``bones3d`` codec's targets are. No dropout (the
paper names none). At the default width this branch holds 34.8M of the model's 59.3M
parameters, nearly all in its first FC layer (256 + 256 channels × 8² → 1024); ``fc`` and
``width`` shrink it.

**Initialisation** (unstated): He initialisation of every convolution and BN (1, 0), as the
trunk's (:func:`handlib.models.layers.init_weights`); the convolutions that output maps start
near zero (:func:`~handlib.models.layers.init_heatmap_head`), so the soft-argmax starts at the
crop centre; the same in every variant, so the controls differ only in what they test.

**Loss** (:func:`resunet_loss`, registered as ``resunet``): eq. 4 on the bones, ½ Σ_bones
‖Δ / ``bone_unit_mm``‖² weighted by ``bone_weight`` and averaged over the batch; for 2D (the
paper writes none; Fig. 3(b) names an MSE) the mean squared distance between ``kp2d`` and
``kp2d_target`` over the labelled joints, in units of the crop side, plus ``weight_block1`` ×
the same for ``kp2d_block1``; the two weighted 1 : 1 (``weight_2d``, ``weight_3d``; the paper
gives no total). The controls' terms: Gaussian heat-map MSE (``two_d="heatmaps"``) and the same
form as eq. 4 on the 20 non-root joints (``three_d="joints"``).

**The 1 : 1 is nominal.** The two terms are in different units and their sizes differ by more
than an order of magnitude at the start of training: the soft-argmax starts at the crop centre,
so the 2D term is the mean squared distance of the joints from the centre in crop sides, a small
fraction of one, while the bone term adds ½ ‖Δ / ``bone_unit_mm``‖² over 20 bones of several
centimetres each, of the order of one or more: the bone term dominates the total. The chapter
measures both terms on a run's first training batch
(``handlib.papers.resunet.study.loss_terms_at_start``) and prints their ratio. We keep 1 : 1, the
weights every run was trained with: the paper gives none to follow, and reweighting would have to
be checked to still learn on every profile.

**Where the paper contradicts itself** (checklist §9):

- *64 vs the upsample.* "The output of the last block with a size of 64. Furthermore, we add
  upsample layer with bilinear mode followed by two convolution layers ... The output is a
  tensor of size (21, 64)." Upsampling a 64² block would give 128² maps. We keep the stated
  64² output (the size the ``softargmax2d`` codec and the paper's transcription record,
  ``heatmap_size`` 64) and drop the upsample: the output is the stated fact, the upsample a
  step that cannot both hold with it.
- *β names two things*: eq. 1's temperature β_i and the bones "β_k" of eq. 4. Here ``beta`` is
  only the temperature; the bone vectors are ``bones``.
- *Eq. 4's index*: ``L_β = ½ Σ_{j=1}^{J} ‖β^pred − β^gt‖²`` has no j in the summand and J is not
  defined; we sum over the 20 bones.
- *No 2D loss, no total loss, no optimiser*: :func:`resunet_loss` records the loss we chose
  (the MSE Fig. 3(b) names); the optimiser and schedule belong to the chapter's profiles.

**Controls the paper never trained** (same trunk, same data; checklist §8): ``resunet_fixed_beta``
(β a fixed buffer at ``beta_init``: does learning β matter?), ``resunet_argmax`` (the head's
maps trained as Gaussian heat maps, output ``heatmaps`` (B, 21, 64, 64), decoded by the
``heatmap2d`` codec's arg-max with its log-parabola sub-pixel refinement; it has no soft-argmax,
so no ``kp2d_block1`` either: train ``resunet`` with ``weight_block1=0`` to compare the decodings
alone), ``resunet_joints`` (the 3D branch's last layer regresses the 20 non-root joints,
``kp3d_rel_direct`` (B, 21, 3) with the wrist at 0, and ``bones = encode_bones(joints)`` so the
``bones3d`` codec decodes exactly those joints; its loss is on joints), ``resunet_no_skips``
(each block upsamples and convolves only the previous block's output; block 1 takes F4 alone)
and ``resnet34_regression`` (a plain published-style baseline: global average pool of F4, a
hidden fully connected layer of ``fc`` with ReLU — two FC layers, as the 3D branch has — then
one linear layer to ``kp2d`` = ``input_size`` · (0.5 + output), the crop centre at 0, and one
to the bones in ``bone_unit_mm``; no decoder).

Outputs: ``kp2d`` (B, 21, 2) input px; ``heatmaps_latent`` (B, 21, 64, 64); ``beta`` (B, 21);
``kp2d_block1`` (B, 21, 2); ``beta_block1`` (B, 21); ``bones`` (B, 20, 3) mm; the controls'
``heatmaps`` and ``kp3d_rel_direct`` as above (β is repeated per sample so that every output
is batched). ``width`` (a float multiplier, default 1.0) scales the trunk's base channels and
every decoder and branch width for cheap profiles. ``joints`` must be 21 (the bones are
``handlib.skeleton``'s tree) and ``input_size`` a multiple of 32; the maps are always at half
of it (the stem's resolution, where block 4 ends), so the ``softargmax2d`` codec's
``heatmap_size`` must be ``input_size / 2``.
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from handlib.codecs.bones import decode_bones, encode_bones
from handlib.codecs.softargmax import soft_argmax
from handlib.losses import per_joint_mse
from handlib.models.backbones import resnet34
from handlib.models.layers import conv_bn, init_heatmap_head, init_weights
from handlib.skeleton import BONES, NUM_JOINTS

TRUNK_WIDTH = 64                        # ResNet-34's base channels (the stem's and F1's)
DECODER_CHANNELS = (256, 128, 64, 64)   # Unet-Blocks 1-4 (ours)
BRANCH3D_CHANNELS = (64, 128, 256)      # the 3D branch's three conv groups (ours)
BONE_UNIT_MM = 100.0                    # the unit the 3D branch regresses in
BETA_MIN = 1e-6                         # learnable β's floor (softplus underflows to 0)
TWO_D = ("soft_argmax", "argmax")
THREE_D = ("bones", "joints")


def scaled(channels: int, width: float) -> int:
    """``channels`` × ``width``, at least 1."""
    return max(1, round(channels * width))


def check_beta_init(beta_init: float) -> None:
    """Refuse a non-positive soft-argmax β (see :func:`handlib.codecs.softargmax.check_beta`)."""
    if not beta_init > 0:
        raise ValueError(f"beta_init must be > 0 (eq. 1's soft-argmax β; β <= 0 ignores or "
                         f"inverts the maps), got {beta_init}")


class SoftArgmaxBeta(nn.Module):
    """Eq. 1's β, one per joint: softplus(θ) floored at :data:`BETA_MIN` (learnable), or a
    fixed buffer; ``forward()`` returns the (J,) values."""

    def __init__(self, joints: int, beta_init: float, learnable: bool):
        super().__init__()
        check_beta_init(beta_init)
        self.learnable = learnable
        if learnable:
            theta = beta_init + math.log(-math.expm1(-beta_init))  # softplus(θ) = beta_init
            self.theta = nn.Parameter(torch.full((joints,), theta))
        else:
            self.register_buffer("fixed", torch.full((joints,), float(beta_init)))

    def forward(self) -> torch.Tensor:
        if self.learnable:
            return F.softplus(self.theta).clamp_min(BETA_MIN)
        return self.fixed


class ContractingPath(nn.Module):
    """ResNet-34 read at ``[stem, F1, F2, F3, F4]`` (strides 2, 4, 8, 16, 32): the stem is its
    7×7/2 convolution + BN + ReLU before the max-pool."""

    def __init__(self, width: float = 1.0):
        super().__init__()
        self.resnet = resnet34(width=scaled(TRUNK_WIDTH, width))
        self.out_channels: tuple[int, ...] = (self.resnet.out_channels[0],
                                              *self.resnet.out_channels)

    def forward(self, image: torch.Tensor) -> list[torch.Tensor]:
        convolution, max_pool = self.resnet.stem
        stem = convolution(image)
        x = max_pool(stem)
        levels = [stem]
        for stage in self.resnet.stages:
            x = stage(x)
            levels.append(x)
        return levels


class UnetBlock(nn.Module):
    """Bilinear upsampling to the skip level's resolution, the skip level concatenated (unless
    ``skip_channels`` is 0: then only its size is used), two 3×3 conv + BN + ReLU."""

    def __init__(self, in_channels: int, skip_channels: int, out_channels: int):
        super().__init__()
        self.concatenate = skip_channels > 0
        self.convs = nn.Sequential(conv_bn(in_channels + skip_channels, out_channels),
                                   conv_bn(out_channels, out_channels))

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False)
        if self.concatenate:
            x = torch.cat([x, skip], dim=1)
        return self.convs(x)


class Branch3D(nn.Module):
    """§II.A's 3D branch: [2×2 max-pool → 3×3 conv + ReLU → 3×3 conv + ReLU] per entry of
    ``channels``, concatenation with the intermediate features, flatten, two fully connected
    layers (ReLU between) to ``outputs`` 3-vectors."""

    def __init__(self, in_channels: int, intermediate_channels: int, channels: tuple[int, ...],
                 spatial: int, fc: int, outputs: int):
        super().__init__()
        layers: list[nn.Module] = []
        for out in channels:
            layers += [nn.MaxPool2d(2), nn.Conv2d(in_channels, out, 3, padding=1),
                       nn.ReLU(inplace=True), nn.Conv2d(out, out, 3, padding=1),
                       nn.ReLU(inplace=True)]
            in_channels = out
        self.features = nn.Sequential(*layers)
        self.regress = nn.Sequential(
            nn.Flatten(), nn.Linear((in_channels + intermediate_channels) * spatial ** 2, fc),
            nn.ReLU(inplace=True), nn.Linear(fc, 3 * outputs))

    def forward(self, last: torch.Tensor, intermediate: torch.Tensor) -> torch.Tensor:
        x = torch.cat([self.features(last), intermediate], dim=1)
        return self.regress(x).reshape(len(x), -1, 3)


def check_options(width: float, joints: int, input_size: int, bone_unit_mm: float) -> None:
    """The options every builder shares, each refused with its reason."""
    if not width > 0:
        raise ValueError(f"width (a channel multiplier) must be > 0, got {width}")
    if not bone_unit_mm > 0:
        raise ValueError(f"bone_unit_mm must be > 0, got {bone_unit_mm}")
    if joints != NUM_JOINTS:
        raise ValueError(f"the 3D branch regresses the {len(BONES)} bones of handlib.skeleton's "
                         f"{NUM_JOINTS}-joint tree; joints must be {NUM_JOINTS}, got {joints}")
    if input_size % 32:
        raise ValueError(f"input_size must be a multiple of 32 (F4 is 1/32 of it), got "
                         f"{input_size}")


class ResUnet(nn.Module):
    """See the module docstring: ``two_d`` is ``"soft_argmax"`` (LHR) or ``"argmax"`` (Gaussian
    heat maps), ``three_d`` ``"bones"`` or ``"joints"``; ``learn_beta`` and ``skips`` switch the
    controls."""

    def __init__(self, two_d: str = "soft_argmax", three_d: str = "bones",
                 learn_beta: bool = True, skips: bool = True, width: float = 1.0,
                 fc: int = 1024, beta_init: float | None = None, joints: int = NUM_JOINTS,
                 input_size: int = 128, bone_unit_mm: float = BONE_UNIT_MM):
        super().__init__()
        if two_d not in TWO_D or three_d not in THREE_D:
            raise ValueError(f"two_d must be one of {TWO_D} and three_d one of {THREE_D}, got "
                             f"{two_d!r}, {three_d!r}")
        check_options(width, joints, input_size, bone_unit_mm)
        if two_d == "argmax" and beta_init is not None:
            raise ValueError("resunet_argmax decodes by arg-max: it has no soft-argmax beta, so "
                             "no beta_init")
        self.two_d, self.three_d = two_d, three_d
        self.input_size, self.bone_unit_mm = input_size, bone_unit_mm
        self.contracting = ContractingPath(width)
        levels = self.contracting.out_channels        # stem, F1, F2, F3, F4
        decoder = [scaled(c, width) for c in DECODER_CHANNELS]
        in_channels = [levels[-1], *decoder[:-1]]
        skip_channels = [c if skips else 0 for c in reversed(levels[:-1])]
        self.blocks = nn.ModuleList(UnetBlock(i, s, o)
                                    for i, s, o in zip(in_channels, skip_channels, decoder))
        last = decoder[-1]
        self.head = nn.Sequential(nn.Conv2d(last, last, 3, padding=1), nn.ReLU(inplace=True),
                                  nn.Conv2d(last, joints, 1))
        self.branch3d = Branch3D(last, decoder[0], tuple(scaled(c, width)
                                                         for c in BRANCH3D_CHANNELS),
                                 input_size // 16, fc, len(BONES))
        init_weights(self)
        init_heatmap_head(self.head[-1])
        if two_d == "soft_argmax":
            beta_init = 1.0 if beta_init is None else beta_init
            self.beta = SoftArgmaxBeta(joints, beta_init, learn_beta)
            self.block1_maps = nn.Conv2d(decoder[0], joints, 1)
            init_heatmap_head(self.block1_maps)
            self.beta_block1 = SoftArgmaxBeta(joints, beta_init, learn_beta)

    def forward(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        levels = self.contracting(image)
        x, decoded = levels[-1], []
        for block, skip in zip(self.blocks, reversed(levels[:-1])):   # F3, F2, F1, stem
            x = block(x, skip)
            decoded.append(x)
        maps = self.head(x)
        batch = len(image)
        out: dict[str, torch.Tensor] = {}
        if self.two_d == "argmax":
            out["heatmaps"] = maps
        else:
            # β > 0 by construction (SoftArgmaxBeta): unchecked, so the forward never waits
            # for the device to read it back
            beta, beta_block1 = self.beta(), self.beta_block1()
            out["kp2d"] = soft_argmax(maps.float(), beta, input_size=self.input_size,
                                      check=False)
            out["kp2d_block1"] = soft_argmax(self.block1_maps(decoded[0]).float(), beta_block1,
                                             input_size=self.input_size, check=False)
            out["heatmaps_latent"] = maps
            out["beta"] = beta.expand(batch, -1)
            out["beta_block1"] = beta_block1.expand(batch, -1)
        regressed = self.branch3d(x, decoded[0]) * self.bone_unit_mm
        if self.three_d == "bones":
            out["bones"] = regressed
        else:  # the 20 non-root joints, the wrist (joint 0) at the origin
            joints = torch.cat([regressed.new_zeros(batch, 1, 3), regressed], dim=1)
            out["kp3d_rel_direct"] = joints
            out["bones"] = encode_bones(joints)
        return out


class ResNetRegression(nn.Module):
    """The plain baseline: ResNet-34, global average pool of F4, a hidden fully connected layer
    (``fc``, ReLU), then one linear layer to the 2D joints (input px, the crop centre at 0) and
    one to the bones (``bone_unit_mm``)."""

    def __init__(self, width: float = 1.0, fc: int = 1024, joints: int = NUM_JOINTS,
                 input_size: int = 128, bone_unit_mm: float = BONE_UNIT_MM):
        super().__init__()
        check_options(width, joints, input_size, bone_unit_mm)
        self.input_size, self.bone_unit_mm = input_size, bone_unit_mm
        self.backbone = resnet34(width=scaled(TRUNK_WIDTH, width))
        self.hidden = nn.Sequential(nn.Linear(self.backbone.out_channels[-1], fc),
                                    nn.ReLU(inplace=True))
        self.kp2d = nn.Linear(fc, 2 * joints)
        self.bones = nn.Linear(fc, 3 * len(BONES))

    def forward(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        pooled = torch.flatten(F.adaptive_avg_pool2d(self.backbone(image)[-1], 1), 1)
        hidden = self.hidden(pooled)
        batch = len(image)
        return {"kp2d": self.input_size * (0.5 + self.kp2d(hidden).reshape(batch, -1, 2)),
                "bones": self.bone_unit_mm * self.bones(hidden).reshape(batch, -1, 3)}


def resunet(**kwargs) -> ResUnet:
    """The paper's model: Unet-Blocks with skips, LHR with learnable β, bone regression."""
    return ResUnet(**kwargs)


def resunet_fixed_beta(**kwargs) -> ResUnet:
    """Control: β fixed at ``beta_init`` (a buffer, not learned)."""
    return ResUnet(learn_beta=False, **kwargs)


def resunet_argmax(**kwargs) -> ResUnet:
    """Control: Gaussian heat maps decoded by arg-max (the ``heatmap2d`` codec)."""
    return ResUnet(two_d="argmax", **kwargs)


def resunet_joints(**kwargs) -> ResUnet:
    """Control: direct regression of the 20 non-root joints instead of bones."""
    return ResUnet(three_d="joints", **kwargs)


def resunet_no_skips(**kwargs) -> ResUnet:
    """Control: the decoder without the skip concatenations."""
    return ResUnet(skips=False, **kwargs)


def resnet34_regression(**kwargs) -> ResNetRegression:
    """Control: a plain ResNet-34 regression baseline, no decoder."""
    return ResNetRegression(**kwargs)


def labelled_mean(error: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Mean of (B, J) ``error`` over the entries with weight > 0 (weighted; 0 when none)."""
    weight = weight.float()
    labelled = weight > 0
    return torch.where(labelled, error * weight, 0.0).sum() / weight.sum().clamp_min(1.0)


def half_squared_sum(predicted: torch.Tensor, target: torch.Tensor, weight: torch.Tensor,
                     unit: float) -> torch.Tensor:
    """Eq. 4's form: ½ Σ over the (B, N, 3) vectors of w ‖(pred − gt) / unit‖², batch mean."""
    error = ((predicted.float() - target.float()) / unit).pow(2).sum(dim=-1)
    weight = weight.float()
    return 0.5 * torch.where(weight > 0, error * weight, 0.0).sum(dim=1).mean()


def required(outputs: dict, key: str, option: str) -> torch.Tensor:
    """``outputs[key]``, or an error naming the loss option that needs it."""
    if key not in outputs:
        raise ValueError(f"resunet loss {option} needs the model output {key!r}; the model "
                         f"returned {', '.join(outputs)}")
    return outputs[key]


def resunet_loss(two_d: str = "coords", three_d: str = "bones", weight_2d: float = 1.0,
                 weight_3d: float = 1.0, weight_block1: float = 0.5,
                 bone_unit_mm: float = BONE_UNIT_MM, input_size: int = 128):
    """``weight_2d · L2D + weight_3d · L3D``; the terms are returned already weighted, and the
    engine sums them (it reserves the name ``loss`` for that sum). The default 1 : 1 is nominal:
    the bone term starts far larger than the 2D term (the module docstring).

    - ``two_d="coords"`` (term ``kp2d``; the paper writes no 2D loss, Fig. 3(b) names MSE): the
      mean over labelled joints (``kp2d_weight``) of the squared distance between ``kp2d`` and
      ``kp2d_target`` in units of the crop side ``input_size``; plus ``weight_block1`` × the
      same for ``kp2d_block1`` (term ``kp2d_block1``) when the model outputs it.
    - ``two_d="heatmaps"`` (term ``heatmaps``, the arg-max control): the pixel-mean squared
      error between ``heatmaps`` and the ``heatmap2d`` codec's Gaussians (batch ``heatmaps``),
      averaged over joints with ``target_weight`` > 0 (a pixel mean: its scale is not the
      coordinate term's, ``weight_2d`` sets it against the 3D term).
    - ``three_d="bones"`` (term ``bones``, eq. 4): ½ Σ over bones of
      ``‖(b_pred − b_gt) / bone_unit_mm‖²`` weighted by ``bone_weight``, mean over the batch.
    - ``three_d="joints"`` (term ``joints``, the direct-joint control): the same form on the
      20 non-root joints of ``kp3d_rel_direct`` against the target bones summed from the wrist
      at 0; a joint counts when every bone on its path is labelled.
    """
    if two_d not in ("coords", "heatmaps") or three_d not in THREE_D:
        raise ValueError(f"two_d must be 'coords' or 'heatmaps' and three_d one of {THREE_D}, "
                         f"got {two_d!r}, {three_d!r}")
    non_root = [child for _, child in BONES]

    def coordinate_error(predicted: torch.Tensor, batch: dict) -> torch.Tensor:
        offset = (predicted.float() - batch["kp2d_target"].float()) / input_size
        return labelled_mean(offset.pow(2).sum(dim=-1), batch["kp2d_weight"])

    def loss(outputs: dict, batch: dict) -> dict[str, torch.Tensor]:
        terms: dict[str, torch.Tensor] = {}
        if two_d == "coords":
            terms["kp2d"] = weight_2d * coordinate_error(
                required(outputs, "kp2d", "two_d='coords'"), batch)
            if "kp2d_block1" in outputs and weight_block1:
                terms["kp2d_block1"] = weight_2d * weight_block1 * coordinate_error(
                    outputs["kp2d_block1"], batch)
        else:
            heatmaps = required(outputs, "heatmaps", "two_d='heatmaps'")
            terms["heatmaps"] = weight_2d * labelled_mean(
                per_joint_mse(heatmaps, batch["heatmaps"]), batch["target_weight"])
        bones, bone_weight = batch["bones"].float(), batch["bone_weight"].float()
        if three_d == "bones":
            terms["bones"] = weight_3d * half_squared_sum(
                required(outputs, "bones", "three_d='bones'"), bones, bone_weight, bone_unit_mm)
        else:
            origin = bones.new_zeros(len(bones), 3)
            target = decode_bones(bones, origin)
            unlabelled_on_path = decode_bones((bone_weight <= 0).float()[..., None],
                                              origin[:, :1])[..., 0]
            predicted = required(outputs, "kp3d_rel_direct", "three_d='joints'")
            terms["joints"] = weight_3d * half_squared_sum(
                predicted[:, non_root], target[:, non_root],
                (unlabelled_on_path[:, non_root] == 0).float(), bone_unit_mm)
        return terms

    return loss
