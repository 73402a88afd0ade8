"""CrossInfoNet (Du et al. 2019, §3, Figs. 1-3 and 6, Algorithm 1) and the variants of its
Table 1 and of the claims it makes without a run, regressing 3D joints from a 96² depth crop
(the ``depth_crop`` codec's ``kp3d_norm``, in half-cube units around the hand centre).

**Heat-map guided initial feature extraction (§3.1, Fig. 2).** A ResNet-50 trunk
(``handlib.models.backbones``; "the ResNet-50 backbone network with four residual modules") gives
C2-C5 at 24², 12², 6², 3² of the 96² crop; a feature pyramid merges them top-down: a 1×1
lateral convolution to 256 channels with ReLU on each level, the level above upsampled
bilinearly and passed through a 1×1 merge convolution, the two summed. **T** is the 12² level
(256 × 12², Fig. 2); the all-joint heat maps come from the 24² level through a bottleneck block
and a 3×3 convolution (Fig. 2: "2D heat maps with the size of 24×24 as supervision"), and are
never passed on ("only used as the constraints").

**Feature refinement and regression.** *Base* (§3.2, Fig. 3): T goes through one residual block
per branch (palm, finger), each branch to its fully connected layers and its joints, and the two
branches' last features, concatenated, to all joints. *Cross* (§3.3, Fig. 6, Algorithm 1):
P₀ = p₀(T), F₀ = f₀(T); F₋ = T − P₀, P₋ = T − F₀ (the "attention masks"); P₁ = P₀ ⊗ P₋,
F₁ = F₀ ⊗ F₋ (channel concatenation); P₂ = p₁(P₁), F₂ = f₁(F₁); palm, finger and all joints
from P₂ and F₂ as in Base. With heat maps (*+HM*), P₀ and F₀ each feed a palm or finger heat-map
head (eqs. 2-3); Base+HM has the all-joint heat maps only (eq. 1: its refinement module has no
P₀/F₀ stage for eqs. 2-3 to constrain).

**Where the paper is silent or contradicts its code** (github.com/dumyy/handpose,
``netlib/basemodel.py``; facts taken from it are marked *code*):

- *Backbone width.* The paper says ResNet-50; the code uses a quarter-width ResNet
  (64/128/256/256 channels) with ResNet-50's (3, 4, 6, 3) units. We build the paper's
  ResNet-50 (``width`` shrinks it for cheap profiles); its stem (7×7/2 and a 3×3/2 max-pool)
  gives the same 24², 12², 6², 3² levels as the code's.
- *FPN details* (*code*): laterals 1×1 to 256 with ReLU, bilinear upsampling, a 1×1 merge
  convolution without activation, summation; no 3×3 smoothing.
- *Residual block* (Figs. 3, 6: "kernel size of the residual block is set to 3×3"): the code's
  bottleneck (1×1 to 128, 3×3, 1×1 to 256, identity or projected shortcut), whose middle
  convolution is the 3×3 the figures name.
- *Heat-map heads* (*code*): P₀/F₀ → 1×1 convolution (256, ReLU) → 3×3 convolution to the
  subset's joints → bilinear resize 12² → 24².
- *Fully connected layers.* Figs. 3 and 6: "the dimension of the full-connected layer is set to
  2048"; the code: a 2×2 max-pool of the branch map, then two layers of 1024 with ReLU and
  dropout. We pool as the code does, then two layers of the paper's 2048 (``fc``), each with
  ReLU and dropout at the paper's rate 0.6 (the code's ``keep_prob = 0.6`` drops 0.4).
- *All joints.* Algorithm 1's J = J_p ⊗ J_f would make eq. (6) repeat eqs. (4)-(5); §3.2 and
  the code regress all joints from the concatenated branch features with one more fully
  connected layer, which we build; the model also returns the palm and finger outputs.
- *Initialisation* (§3.5): every convolution and fully connected weight from N(0, 0.01²), zero
  biases (the code uses Xavier in the pyramid); BN after every convolution (the code's).

**Variants**: ``crossinfonet_base`` and ``crossinfonet_base_hm`` (Base without / with heat maps),
``crossinfonet_cross`` and ``crossinfonet`` (Cross without / with heat maps: the paper's model),
``crossinfonet_single_branch`` (one branch regresses all joints, claim 18) and
``crossinfonet_palm_mask_only`` / ``crossinfonet_finger_mask_only`` (only P₋ or only F₋ is
concatenated, claim 15). The palm and finger joints are given by ``palm`` and ``finger``
(indices into the ``joints`` outputs; default ``handlib.skeleton``'s reading of Fig. 4).

Outputs: ``kp3d_norm`` (B, J, 3) all joints; ``kp3d_palm`` (B, P, 3) and ``kp3d_finger`` (B, F, 3)
the branch outputs (two-branch variants); ``channels`` (T's 256), ``fc`` (2048) and the trunk's
``width`` shrink the model for cheap profiles; ``heatmaps`` (B, J, 24, 24) and ``heatmaps_palm``,
``heatmaps_finger`` with the variant's heads. The loss is :func:`crossinfonet_loss` (eq. 7).
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from handlib.models import build
from handlib.models.layers import Bottleneck
from handlib.skeleton import FINGER_ONLY_JOINTS, NUM_JOINTS, PALM_JOINTS

CHANNELS = 256     # T's width (Fig. 2); the residual blocks' inner width is half of it (code)
REFINEMENTS = ("base", "cross", "single")


def residual_block(in_channels: int, channels: int = CHANNELS) -> Bottleneck:
    """The figures' "residual block": a bottleneck 1×1 → 3×3 (``channels / 2``) → 1×1 to
    ``channels``."""
    return Bottleneck(in_channels, channels // 2, expansion=2)


def heatmap_head(channels: int, joints: int) -> nn.Sequential:
    """P₀/F₀ → 1×1 conv (ReLU) → 3×3 conv to ``joints`` maps (resized by the caller to the
    all-joint maps' 1/4 of the crop: 24² at 96²)."""
    return nn.Sequential(nn.Conv2d(channels, channels, 1), nn.ReLU(inplace=True),
                         nn.Conv2d(channels, joints, 3, padding=1))


class Regressor(nn.Module):
    """A branch's regression: 2×2 max-pool, flatten, two fully connected layers (ReLU,
    dropout), and the joint outputs; ``features`` exposes the last hidden layer."""

    def __init__(self, channels: int, spatial: int, fc: int, joints: int, dropout: float):
        super().__init__()
        self.hidden = nn.Sequential(
            nn.MaxPool2d(2), nn.Flatten(),
            nn.Linear(channels * (spatial // 2) ** 2, fc), nn.ReLU(inplace=True),
            nn.Dropout(dropout), nn.Linear(fc, fc), nn.ReLU(inplace=True), nn.Dropout(dropout))
        self.out = nn.Linear(fc, 3 * joints)

    def forward(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        hidden = self.hidden(features)
        return hidden, self.out(hidden).reshape(len(features), -1, 3)


class CrossInfoNet(nn.Module):
    """See the module docstring; ``refinement`` is ``"base"``, ``"cross"`` or ``"single"``."""

    def __init__(self, refinement: str = "cross", heatmaps: bool = True,
                 masks: Sequence[str] = ("palm", "finger"), joints: int = NUM_JOINTS,
                 palm: Sequence[int] = PALM_JOINTS, finger: Sequence[int] = FINGER_ONLY_JOINTS,
                 input_size: int = 96, channels: int = CHANNELS, fc: int = 2048,
                 dropout: float = 0.6, backbone: str = "resnet50", **backbone_kwargs):
        super().__init__()
        if refinement not in REFINEMENTS:
            raise ValueError(f"unknown refinement {refinement!r}; choose one of "
                             f"{', '.join(REFINEMENTS)}")
        unknown = sorted(set(masks) - {"palm", "finger"})
        if unknown:
            raise ValueError(f"unknown cross mask(s) {unknown}; the masks are 'palm' (P-) and "
                             "'finger' (F-)")
        if input_size % 32:
            raise ValueError(f"input_size must be a multiple of 32 (T is 1/8 of it, pooled by "
                             f"2), got {input_size}")
        self.palm, self.finger = [int(j) for j in palm], [int(j) for j in finger]
        bad = [j for j in self.palm + self.finger if not 0 <= j < joints]
        if bad:
            raise ValueError(f"palm/finger joints {bad} are not among the {joints} joints")
        self.refinement, self.masks, self.joints = refinement, tuple(masks), joints
        self.backbone = build(backbone, in_channels=1, **backbone_kwargs)
        levels = self.backbone.out_channels
        c = channels
        self.lateral = nn.ModuleList(nn.Sequential(nn.Conv2d(width, c, 1), nn.ReLU(inplace=True))
                                     for width in levels)
        self.merge = nn.ModuleList(nn.Conv2d(c, c, 1) for _ in levels[:-1])
        self.heatmap_block = residual_block(c, c) if heatmaps else None
        self.heatmap_out = nn.Conv2d(c, joints, 3, padding=1) if heatmaps else None
        spatial = input_size // 8
        if refinement == "single":
            self.branch = residual_block(c, c)
            self.regress = Regressor(c, spatial, fc, joints, dropout)
        else:
            self.palm_block, self.finger_block = residual_block(c, c), residual_block(c, c)
            if refinement == "cross":
                widths = {m: 2 * c if m in self.masks else c for m in ("palm", "finger")}
                self.palm_final = residual_block(widths["palm"], c)
                self.finger_final = residual_block(widths["finger"], c)
            self.palm_regress = Regressor(c, spatial, fc, len(self.palm), dropout)
            self.finger_regress = Regressor(c, spatial, fc, len(self.finger), dropout)
            self.all_regress = nn.Linear(2 * fc, 3 * joints)
        with_branch_heads = heatmaps and refinement == "cross"
        self.palm_heatmaps = heatmap_head(c, len(self.palm)) if with_branch_heads else None
        self.finger_heatmaps = heatmap_head(c, len(self.finger)) if with_branch_heads else None
        init_normal(self)

    def pyramid(self, depth: torch.Tensor) -> list[torch.Tensor]:
        """The feature pyramid's levels at 1/4, 1/8, 1/16, 1/32 of the crop (§3.1)."""
        levels = self.backbone(depth)
        merged = [self.lateral[-1](levels[-1])]
        for k in range(len(levels) - 2, -1, -1):
            above = F.interpolate(merged[0], size=levels[k].shape[-2:], mode="bilinear",
                                  align_corners=False)
            merged.insert(0, self.lateral[k](levels[k]) + self.merge[k](above))
        return merged

    def forward(self, depth: torch.Tensor) -> dict[str, torch.Tensor]:
        levels = self.pyramid(depth)
        T = levels[1]
        out: dict[str, torch.Tensor] = {}
        if self.heatmap_out is not None:
            out["heatmaps"] = self.heatmap_out(self.heatmap_block(levels[0]))
        if self.refinement == "single":
            _, out["kp3d_norm"] = self.regress(self.branch(T))
            return out
        P0, F0 = self.palm_block(T), self.finger_block(T)                 # step 1
        if self.palm_heatmaps is not None:
            for name, head, features in (("palm", self.palm_heatmaps, P0),
                                         ("finger", self.finger_heatmaps, F0)):
                out[f"heatmaps_{name}"] = F.interpolate(
                    head(features), size=levels[0].shape[-2:], mode="bilinear",
                    align_corners=False)
        if self.refinement == "cross":
            P1 = torch.cat([P0, T - F0], dim=1) if "palm" in self.masks else P0    # steps 2-3
            F1 = torch.cat([F0, T - P0], dim=1) if "finger" in self.masks else F0
            P2, F2 = self.palm_final(P1), self.finger_final(F1)                   # step 4
        else:
            P2, F2 = P0, F0
        palm_hidden, out["kp3d_palm"] = self.palm_regress(P2)                      # step 5
        finger_hidden, out["kp3d_finger"] = self.finger_regress(F2)
        out["kp3d_norm"] = self.all_regress(torch.cat([palm_hidden, finger_hidden], dim=1)
                                            ).reshape(len(depth), -1, 3)          # step 6 (§3.2)
        return out


def init_normal(module: nn.Module, std: float = 0.01) -> None:
    """§3.5: every convolution and fully connected weight from N(0, std²), zero biases."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.normal_(m.weight, std=std)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


def crossinfonet(**kwargs) -> CrossInfoNet:
    """Table 1's Cross+HM, the paper's model."""
    return CrossInfoNet(refinement="cross", heatmaps=True, **kwargs)


def crossinfonet_cross(**kwargs) -> CrossInfoNet:
    """Table 1's Cross: cross-connected branches without heat-map constraints."""
    return CrossInfoNet(refinement="cross", heatmaps=False, **kwargs)


def crossinfonet_base(**kwargs) -> CrossInfoNet:
    """Table 1's Base: independent branches without heat-map constraints."""
    return CrossInfoNet(refinement="base", heatmaps=False, **kwargs)


def crossinfonet_base_hm(**kwargs) -> CrossInfoNet:
    """Table 1's Base+HM: independent branches with the all-joint heat maps."""
    return CrossInfoNet(refinement="base", heatmaps=True, **kwargs)


def crossinfonet_single_branch(**kwargs) -> CrossInfoNet:
    """Claim 18 (no run in the paper): one branch regresses every joint."""
    return CrossInfoNet(refinement="single", heatmaps=True, **kwargs)


def crossinfonet_palm_mask_only(**kwargs) -> CrossInfoNet:
    """Claim 15 (no run): Cross+HM with only the palm mask P₋ concatenated."""
    return CrossInfoNet(refinement="cross", heatmaps=True, masks=("palm",), **kwargs)


def crossinfonet_finger_mask_only(**kwargs) -> CrossInfoNet:
    """Claim 15 (no run): Cross+HM with only the finger mask F₋ concatenated."""
    return CrossInfoNet(refinement="cross", heatmaps=True, masks=("finger",), **kwargs)


def _weighted_sum(error: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Σ over joints (and pixels) of ``error`` (B, J, ...) weighted per joint, mean over B."""
    per_joint = error.flatten(2).sum(dim=2)
    return (per_joint * weight).sum(dim=1).mean()


def crossinfonet_loss(alpha: float = 0.01, beta: float = 1.0,
                      palm: Sequence[int] = PALM_JOINTS,
                      finger: Sequence[int] = FINGER_ONLY_JOINTS):
    """Eq. 7: ``α (L_ht + L_bp + L_bf) + β (L_ep + L_ef + L_a)``, each a sum of squared errors
    over joints (and heat-map pixels), weighted by ``joint_weight``, averaged over the batch
    (the equations' sums; the code's ``l2_loss / batch`` halves every term alike). A heat-map
    term is there when the model returns those maps (the +HM variants); ``alpha=0`` drops all of
    them. ``palm`` and ``finger`` index the codec's joints as the model's do."""
    palm, finger = [int(j) for j in palm], [int(j) for j in finger]

    def loss(outputs: dict, batch: dict) -> dict[str, torch.Tensor]:
        weight = batch["joint_weight"].float()
        target = batch["kp3d_norm"].float()
        terms = {"all_joints": beta * _weighted_sum(
            (outputs["kp3d_norm"].float() - target) ** 2, weight)}
        for name, joints in (("palm", palm), ("finger", finger)):
            if f"kp3d_{name}" in outputs:
                terms[f"{name}_joints"] = beta * _weighted_sum(
                    (outputs[f"kp3d_{name}"].float() - target[:, joints]) ** 2, weight[:, joints])
        for key, joints in (("heatmaps", None), ("heatmaps_palm", palm),
                            ("heatmaps_finger", finger)):
            if key in outputs and alpha:
                w = weight if joints is None else weight[:, joints]
                terms[key] = alpha * _weighted_sum(
                    (outputs[key].float() - batch[key].float()) ** 2, w)
        return terms

    return loss
