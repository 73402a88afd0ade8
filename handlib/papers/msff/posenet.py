"""Zimmermann & Brox's PoseNet + PosePrior ("Learning to Estimate 3D Hand Pose from Single RGB
Images", ICCV 2017), the "PoseNet(2017)" baseline of MS-FF (Figs. 5-6, Table 1 with GT S = Y and
GT H = Y), for two hands in the two-slot layout, and its loss.

(InterNet's head is also called PoseNet; MS-FF's Figs. 5-6 show "PoseNet" beside InterNet, so
the baseline is Z&B's network. Z&B's HandSegNet, which finds the hand before PoseNet, is not
built: our pipeline gives the hand crop, as Z&B's own evaluation on ground-truth crops does.)

Layer sizes are the authors' released code (github.com/lmb-freiburg/hand3d,
``nets/ColorHandPose3DNetwork.py``, ``inference_pose2d`` and ``_inference_pose3d``, and
``nets/PosePriorNetwork.py``); the targets and the decoding are the ``scoremap_lift`` codec's
(:mod:`handlib.codecs.scoremap_lift`).

**PoseNet (§4.2): 2D score maps** (:class:`ScoreMapNet`). A VGG-style encoder of 3×3
convolutions, blocks of 2, 2, 4, 2 layers with 64, 128, 256, 512 channels, 2×2 max pooling after
the first three (1/8 of the input: 32² maps at 256²), then four 3×3 convolutions of 256 channels
and one of 128: the "encoding". The first stage is a 1×1 convolution of 512 channels and a 1×1
convolution to the score maps; each refinement stage takes the previous stage's score maps
concatenated with the encoding through five 7×7 convolutions of 128 channels, a 1×1 of 128 and a
1×1 to the score maps (the reference's two recurrent units: ``stages`` = 3 maps in all). All
stages are outputs: the loss supervises every one (``training_posenet.py``), the codec decodes
the last. Two-slot layout: one set of 42 maps, right hand 0-20, left 21-41 (Z&B's network sees
one hand and predicts 21).

**PosePrior and viewpoint (§4.3, Fig. 3): lifting the score maps to 3D.** Each hand's
21 final score maps go, with that hand's side as a one-hot vector, through two networks of one
shape (:class:`LiftingNet`): three pairs of 3×3 convolutions (stride 1, then stride 2), the
flattened 4×4 map concatenated with the side, fully connected layers with dropout, a linear
output. The *PosePrior* (32, 64, 128 channels; 512, 512 units; dropout 0.2, the reference's
``keep_prob`` 0.8) predicts the 21 joints in the canonical frame; the *viewpoint* network
(64, 128, 256 channels; 256, 128 units; dropout 0.25) predicts an axis-angle vector ``u``, whose
rotation (angle ‖u‖ about u/‖u‖, the reference's ``_get_rot_mat``; here ``exp`` of the skew
matrix of ``u``, the same matrix) takes the canonical frame back to the camera's:
``kp3d_norm = (kp3d_canonical ⊙ sign) @ R`` with ``sign`` negating the right hand's canonical z
(``_flip_right_hand``; :data:`handlib.codecs.scoremap_lift.CANONICAL_SIGN`). This is the
variant Z&B propose and their best ("Proposed" in their Table 2: 18.8 mm average median error on
RHD against 20.9 for "Direct", as the reference's ``eval3d.py`` reproduces it); it is short to
build (a rotation from three numbers, and for the targets a canonical frame from two cross
products), so we implement it.
``variant="direct"`` is their "Direct" baseline: the PosePrior predicts ``kp3d_norm`` itself.

Two-slot layout and GT H = Y: the two hands share one PosePrior and one viewpoint network, as
Z&B's single networks serve both sides through their ``hand_side`` input; here the side of each
slot is its one-hot index (right [1, 0], left [0, 1]), so the model has no hand-type output: the
handedness is given, as Z&B's Table 1 row says. The 3D outputs are computed from the final score
maps only (:meth:`ZBPoseNet.lift`), as the reference's ``_inference_pose3d`` takes
``keypoints_scoremap[-1]``.

Choices where the paper and code do not carry over:

- **BN and ReLU** (``handlib.models.layers.conv_bn``) after every convolution instead of the
  reference's leaky ReLU (slope 0.01) without normalisation: the reference initialises PoseNet
  from Wei et al.'s CPM weights trained on MPII (``training_posenet.py``,
  ``./weights/cpm-model-mpii``), which are not available here; trained from scratch, batch
  normalisation keeps this deep plain network (15 convolutions to the encoding, 7 more per
  refinement stage) trainable. The fully connected layers take ReLU in
  place of the leaky ReLU too, and stay without normalisation as in the reference.
- **Initialisation:** He initialisation of the convolutions (``init_weights``, the book's for
  networks trained from scratch), score-map convolutions near zero (``init_heatmap_head``),
  Xavier-uniform fully connected layers with zero bias (the reference's Xavier, bias 1e-4).
- **Training, end to end:** Z&B train PoseNet and the lifting networks separately (the latter on
  ground-truth score maps) and then fine-tune the whole; one ``engine.fit`` run trains both at
  once, the 3D loss's gradient reaching PoseNet through the score maps.
- **Other input sizes:** the flattened map of the lifting networks is adaptively average-pooled
  to ``prior_grid``² cells (4, the reference's at 256² input, where the pooling is the identity),
  so the fully connected layers keep their size whatever the input.
- **Dropout:** the reference network defines the rates above, though its training scripts leave
  the ``evaluation`` flag at its default True, which switches dropout off; we train with the
  network's rates.

``width`` (64) scales every channel count and unit count in the ratios above and ``stages`` (3)
sets the number of score-map stages, so cheap profiles can shrink the model.

Outputs: ``heatmap_stages`` (B, stages, 42, H/8, W/8), ``heatmaps`` (the last stage),
``kp3d_norm`` (B, 42, 3; each hand relative to its wrist in units of its scale bone), and for the
proposed variant ``kp3d_canonical`` (B, 42, 3) and ``viewpoint`` (B, 2, 3, 3).

**Loss** (:func:`zb_posenet_loss`, registered as ``zb_posenet``): ``scoremap``, the reference's
score-map loss summed over all stages: per joint the root of the pixel-mean squared error,
averaged over the (sample, joint) pairs weighted by ``target_weight`` (``training_posenet.py``:
``Σ vis · sqrt(mean (pred - gt)²) / (Σ vis + 0.001)``; the reference first resizes the maps to
the 256² crop, we compare them on the score-map grid); for the proposed variant ``canonical`` and
``viewpoint``, the mean squared errors of the canonical coordinates and of the rotation matrix
(``training_lifting.py``); for the direct variant ``kp3d_norm``, the mean squared error of the
normalised coordinates. The 3D terms average over the entries their weights keep
(``kp3d_weight``, ``viewpoint_weight``), the reference's ``reduce_mean`` on fully labelled data.
"""
from __future__ import annotations

import torch
import torch.nn as nn

from handlib.codecs.scoremap_lift import CANONICAL_SIGN, HANDS
from handlib.losses import LossFn, per_joint_mse, target_weight
from handlib.models.layers import conv_bn, init_heatmap_head, init_weights
from handlib.skeleton import NUM_JOINTS

#: Layers per VGG block of the encoder (``inference_pose2d``'s ``layers_per_block``).
VGG_LAYERS: tuple[int, ...] = (2, 2, 4, 2)
#: Convolutions of each refinement stage before its 1×1 layers (``layers_per_recurrent_unit``).
REFINEMENT_LAYERS = 5
VARIANTS: tuple[str, ...] = ("proposed", "direct")


class ScoreMapNet(nn.Module):
    """PoseNet (§4.2): VGG-style encoder, a first stage and refinement stages of score maps."""

    def __init__(self, joints: int, width: int = 64, stages: int = 3):
        super().__init__()
        layers: list[nn.Module] = []
        in_channels = 3
        for block, (count, channels) in enumerate(zip(VGG_LAYERS, (width, 2 * width,
                                                                   4 * width, 8 * width))):
            for _ in range(count):
                layers.append(conv_bn(in_channels, channels))
                in_channels = channels
            if block < len(VGG_LAYERS) - 1:
                layers.append(nn.MaxPool2d(2))
        for _ in range(4):  # conv4_3 .. conv4_6
            layers.append(conv_bn(in_channels, 4 * width))
            in_channels = 4 * width
        encoding = 2 * width
        layers.append(conv_bn(in_channels, encoding))  # conv4_7: the encoding
        self.encoder = nn.Sequential(*layers)
        self.first_stage = nn.Sequential(conv_bn(encoding, 8 * width, kernel_size=1),
                                         nn.Conv2d(8 * width, joints, kernel_size=1))
        self.refinements = nn.ModuleList(
            nn.Sequential(conv_bn(joints + encoding, encoding, kernel_size=7),
                          *(conv_bn(encoding, encoding, kernel_size=7)
                            for _ in range(REFINEMENT_LAYERS - 1)),
                          conv_bn(encoding, encoding, kernel_size=1),
                          nn.Conv2d(encoding, joints, kernel_size=1))
            for _ in range(stages - 1))
        init_weights(self)
        for stage in (self.first_stage, *self.refinements):
            init_heatmap_head(stage[-1])

    def forward(self, image: torch.Tensor) -> list[torch.Tensor]:
        encoding = self.encoder(image)
        maps = [self.first_stage(encoding)]
        for refinement in self.refinements:
            maps.append(refinement(torch.cat([maps[-1], encoding], dim=1)))
        return maps


class LiftingNet(nn.Module):
    """Z&B's PosePrior / viewpoint network (§4.3): one hand's 21 score maps → pairs of 3×3
    convolutions (stride 1, stride 2) → flattened, with the hand side's one-hot appended →
    fully connected layers (ReLU, dropout) → ``out_features``."""

    def __init__(self, widths: tuple[int, ...], hidden: tuple[int, ...], out_features: int,
                 dropout: float, grid: int = 4):
        super().__init__()
        layers: list[nn.Module] = []
        in_channels = NUM_JOINTS
        for channels in widths:
            layers += [conv_bn(in_channels, channels), conv_bn(channels, channels, stride=2)]
            in_channels = channels
        self.features = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(grid), nn.Flatten())
        init_weights(self.features)
        head: list[nn.Module] = []
        in_features = in_channels * grid * grid + HANDS
        for units in hidden:
            head += [nn.Linear(in_features, units), nn.ReLU(inplace=True), nn.Dropout(dropout)]
            in_features = units
        head.append(nn.Linear(in_features, out_features))
        self.head = nn.Sequential(*head)
        for layer in self.head:
            if isinstance(layer, nn.Linear):
                nn.init.xavier_uniform_(layer.weight)
                nn.init.zeros_(layer.bias)

    def forward(self, scoremaps: torch.Tensor, side: torch.Tensor) -> torch.Tensor:
        return self.head(torch.cat([self.features(scoremaps), side], dim=1))


def axis_angle_rotation(axis_angle: torch.Tensor) -> torch.Tensor:
    """(N, 3) vectors u → (N, 3, 3) rotations by ‖u‖ about u/‖u‖ (Rodrigues; exp of the skew
    matrix of u, the matrix of the reference's ``_get_rot_mat``)."""
    x, y, z = axis_angle.float().unbind(-1)
    zero = torch.zeros_like(x)
    skew = torch.stack([zero, -z, y, z, zero, -x, -y, x, zero], dim=-1).reshape(-1, 3, 3)
    return torch.linalg.matrix_exp(skew)


def compose(canonical: torch.Tensor, rotation: torch.Tensor) -> torch.Tensor:
    """Canonical coordinates (B, 2, 21, 3) and rotations (B, 2, 3, 3) → the normalised pose
    (B, 2, 21, 3): ``(canonical ⊙ sign) @ R`` (row vectors), ``sign`` undoing the right hand's
    flip."""
    sign = torch.as_tensor(CANONICAL_SIGN, device=canonical.device, dtype=canonical.dtype)
    return (canonical * sign[:, None]) @ rotation.to(canonical.dtype)


class ZBPoseNet(nn.Module):
    """PoseNet's score maps for 42 joints, each hand lifted to normalised 3D by the PosePrior
    (and the viewpoint network in the proposed variant). See the module docstring."""

    def __init__(self, width: int = 64, stages: int = 3, variant: str = "proposed",
                 prior_grid: int = 4):
        super().__init__()
        if stages < 1:
            raise ValueError(f"zb_posenet needs at least one score-map stage, got {stages}")
        if variant not in VARIANTS:
            raise ValueError(f"zb_posenet variant must be one of {VARIANTS}, got {variant!r}")
        self.scoremap_net = ScoreMapNet(HANDS * NUM_JOINTS, width, stages)
        self.pose_prior = LiftingNet((max(1, width // 2), width, 2 * width),
                                     (8 * width, 8 * width), NUM_JOINTS * 3, 0.2, prior_grid)
        self.viewpoint_net = (LiftingNet((width, 2 * width, 4 * width), (4 * width, 2 * width),
                                         3, 0.25, prior_grid) if variant == "proposed" else None)

    def lift(self, scoremaps: torch.Tensor) -> dict[str, torch.Tensor]:
        """(B, 42, h, w) score maps → the 3D outputs; each slot is lifted with its side."""
        batch, _, height, width = scoremaps.shape
        per_hand = scoremaps.reshape(batch * HANDS, NUM_JOINTS, height, width)
        side = torch.eye(HANDS, device=scoremaps.device, dtype=scoremaps.dtype).repeat(batch, 1)
        coords = self.pose_prior(per_hand, side).reshape(batch, HANDS, NUM_JOINTS, 3)
        if self.viewpoint_net is None:
            return {"kp3d_norm": coords.reshape(batch, HANDS * NUM_JOINTS, 3)}
        rotation = axis_angle_rotation(self.viewpoint_net(per_hand, side))
        rotation = rotation.reshape(batch, HANDS, 3, 3)
        return {"kp3d_canonical": coords.reshape(batch, HANDS * NUM_JOINTS, 3),
                "viewpoint": rotation,
                "kp3d_norm": compose(coords, rotation).reshape(batch, HANDS * NUM_JOINTS, 3)}

    def forward(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        stages = self.scoremap_net(image)
        return {"heatmap_stages": torch.stack(stages, dim=1), "heatmaps": stages[-1],
                **self.lift(stages[-1])}


def zb_posenet(**kwargs) -> ZBPoseNet:
    """Z&B's PoseNet + PosePrior (proposed variant) at the reference's sizes; keyword arguments
    as :class:`ZBPoseNet`."""
    return ZBPoseNet(**kwargs)


def scoremap_rms(pred: torch.Tensor, target: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """(B, J, h, w) score maps → the reference's loss: per joint the root of the pixel-mean
    squared error, the ``weight``-weighted mean over the batch's (sample, joint) pairs."""
    rms = per_joint_mse(pred, target).clamp_min(1e-12).sqrt()  # clamp: finite gradient at 0
    weight = weight.to(rms.dtype).reshape(rms.shape)
    return (rms * weight).sum() / (weight.sum() + 1e-3)


def weighted_mse(pred: torch.Tensor, target: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Mean squared error over the entries of (B, N, ...) whose (B, N) ``weight`` is 1."""
    squared = (pred.float() - target.float()).pow(2).flatten(2)
    weight = weight.float()
    kept = weight.sum() * squared.shape[-1]
    return (squared * weight[..., None]).sum() / kept.clamp_min(1.0)


def zb_posenet_loss() -> LossFn:
    """Z&B's losses for :class:`ZBPoseNet` on the ``scoremap_lift`` codec: ``scoremap`` (every
    stage) and ``canonical`` + ``viewpoint`` (proposed variant) or ``kp3d_norm`` (direct)."""

    def loss(outputs: dict, batch: dict) -> dict[str, torch.Tensor]:
        if "kp3d_weight" not in batch:
            raise ValueError("the zb_posenet loss trains on the scoremap_lift codec's targets "
                             "(heatmaps, kp3d_canonical, viewpoint, kp3d_norm and their "
                             f"weights); the batch has {', '.join(sorted(batch))}: set "
                             "data.codec to scoremap_lift")
        stages = outputs["heatmap_stages"]
        weight = target_weight(batch)
        terms = {"scoremap": sum(scoremap_rms(stages[:, k], batch["heatmaps"], weight)
                                 for k in range(stages.shape[1]))}
        if "viewpoint" in outputs:
            terms["canonical"] = weighted_mse(outputs["kp3d_canonical"], batch["kp3d_canonical"],
                                              batch["kp3d_weight"])
            terms["viewpoint"] = weighted_mse(outputs["viewpoint"], batch["viewpoint"],
                                              batch["viewpoint_weight"])
        else:
            terms["kp3d_norm"] = weighted_mse(outputs["kp3d_norm"], batch["kp3d_norm"],
                                              batch["kp3d_weight"])
        return terms

    return loss
