"""``heatmap3d``: InterNet's 2.5D targets for one or two hands (Moon et al. 2020, "InterHand2.6M",
§5: InterNet), as MS-FF and InterNet+ use them.

Per joint, a 3D Gaussian heat map over (depth bin, y, x): x and y on the ``heatmap_size``² grid
of the input, depth relative to the joint's own wrist over ``[-depth_range_mm/2,
depth_range_mm/2)`` in ``depth_bins`` bins. The relative root depth (left wrist z minus right
wrist z) is a 1D heat map of ``root_depth_bins`` bins over ``root_depth_range_mm``, read by
soft-argmax; the hand type is two sigmoids (right, left present). Two hand slots always: right
joints 0-20, left 21-41 (``two_slot``; a one-hand sample fills its side's slot).

Constants from the authors' released code (github.com/facebookresearch/InterHand2.6M,
``main/config.py``):
64³ output heat maps (``output_hm_shape``), ``sigma`` 2.5, 400 mm depth ranges for joints
(``bbox_3d_size``) and for the root (``bbox_3d_size_root``), 64 root-depth bins.

**Targets as coordinates.** 42 volumes of 64³ floats are 44 MB per sample, too much to build in
a data loader; like the reference code, ``encode`` stores each joint's heat-map coordinates
(``joint_hm``: x, y in heat-map cells, z in depth bins) and the loss renders the Gaussian volumes
on the device with :func:`render_volumes`, at the codec's own ``sigma`` (carried in each item as
``volume_sigma``, so the loss cannot render targets of another width). The reference code scales
its Gaussians by 255; ours peak at 1 here and the loss scales them (``handlib.losses.internet``:
the factor weighs the heat-map term against the other two, so it is kept).

**Encoding.** ``joint_weight`` = labelled, inside the crop, depth inside the range and hand
present (the reference code's ``joint_valid`` after its range checks); ``hand_type`` = the two
``hand_valid`` flags ([1, 0] right, [0, 1] left, [1, 1] both, as ``handtype_str2array``), with
``hand_type_weight`` the item's ``hand_type_valid`` (InterHand2.6M's flag; 1 elsewhere), which
the reference multiplies into its hand-type loss;
``root_depth_target`` = (left wrist z − right wrist z) in root bins, ``(d / range + 0.5) · bins``,
with ``root_depth_weight`` 1 only when both hands are present, both wrists labelled and the
value inside ``[0, root_depth_bins)`` (the reference's ``root_valid``). Bins, like heat-map
cells, have their centres at ``k + 0.5`` (``handlib.codecs``' pixel convention; the reference
code puts them at ``k``, a half-bin shift that cancels between its encode and decode as it does
between ours).

**Decoding and the evaluation protocol (InterNet's, reference ``data/InterHand2.6M/dataset.py``,
``evaluate``).** ``decode_crop`` takes the arg-max voxel of each joint, refined to sub-voxel as
``heatmap2d`` does (the reference's ``main/model.py`` stops at the integer arg-max voxel; the
refinement makes the encode → decode round trip exact and removes up to half a voxel, 3 mm at
64 bins over 400 mm, of quantisation), on the device the volumes are on (a sample's 42 volumes of
64³ are 44 MB: only each joint's peak voxel and its six neighbours come to the host,
:func:`decode_volumes`); ``root_depth`` (B,) comes in root bins (the model's
soft-argmax over its 1D map, positions at bin centres ``k + 0.5``) and is mapped back to mm;
``hand_type`` logits pass through a sigmoid. Then, with the batch's ``root_depth_abs`` (B, 2)
(the GROUND-TRUTH absolute wrist depth of each hand) and ``K`` (the crop's intrinsics):

- ``kp3d`` = P⁻¹(kp2d, predicted wrist-relative depth + GT wrist depth of that hand)
  (``handlib.codecs.geometry.back_project``; P⁻¹ with the crop's K on crop pixels equals P⁻¹
  with the original K on the un-cropped pixels, so this is the reference's
  ``pixel2cam(inv_trans(...))``);
- ``kp3d_rel`` = ``kp3d`` minus its hand's (predicted) wrist: the quantity of InterNet's MPJPE,
  for which the GT absolute depth only sets the scale of the back-projection;
- ``rel_root`` (for MRRPE) = P⁻¹(left wrist 2D, GT right wrist depth + predicted relative root
  depth + the left wrist's own predicted relative depth) − P⁻¹(right wrist 2D, GT right wrist
  depth + the right wrist's own predicted relative depth), exactly the reference's formula (the
  wrists' own relative depths are ~0: their targets are the volume's central depth).

On a one-hand frame the absent hand's slot is back-projected at the present hand's true wrist
depth, the only one known, so that its ``kp3d_rel`` is finite: scoring the slot the model's
hand-type head names ("GT H = N", ``handlib.metrics.predicted_hand_selection``) needs it.

``root_depth_abs`` is whatever the pipeline gives: the GT wrist depths (the reference's
``trans_test = 'gt'``). The reference's default config (``trans_test = 'rootnet'``) takes the
absolute depths (and boxes) of val/test from RootNet's released outputs instead; a batch carrying
such estimates in ``root_depth_abs`` is decoded the same way. MS-FF and InterNet+ do not say which
they use (MS-FF notes, ambiguity 7). Without ``root_depth_abs`` in the batch, only
``kp2d``, ``confidence``, ``root_depth`` and ``hand_type`` are decoded.
"""
from __future__ import annotations

import numpy as np
import torch

from handlib.codecs import Codec, check_two_hand_decode, output, to_numpy
from handlib.codecs.geometry import back_project
from handlib.codecs.heatmap2d import parabola_offset
from handlib.skeleton import NUM_JOINTS, WRIST

HANDS = 2


def render_volumes(joint_hm: torch.Tensor, heatmap_size: int, depth_bins: int,
                   sigma: float | torch.Tensor) -> torch.Tensor:
    """(B, J, 3) heat-map coordinates (x, y cells, z bins) → (B, J, D, h, w) Gaussians of peak 1
    sampled at the cell centres (the loss's targets, made on the model's device). ``sigma`` is a
    number or a (B,) tensor, one width per sample (the batch's ``volume_sigma``, read on the
    device: no copy to the host)."""
    cells = torch.arange(heatmap_size, device=joint_hm.device, dtype=torch.float32) + 0.5
    bins = torch.arange(depth_bins, device=joint_hm.device, dtype=torch.float32) + 0.5
    if isinstance(sigma, torch.Tensor):
        sigma = sigma.to(joint_hm.device, torch.float32).reshape(-1, 1, 1)
    spread = 2 * sigma ** 2
    x, y, z = (joint_hm[..., k].float()[..., None] for k in range(3))
    gx = torch.exp(-((cells - x) ** 2) / spread)
    gy = torch.exp(-((cells - y) ** 2) / spread)
    gz = torch.exp(-((bins - z) ** 2) / spread)
    return gz[..., :, None, None] * gy[..., None, :, None] * gx[..., None, None, :]


def _refined(before: np.ndarray, centre: np.ndarray, after: np.ndarray, index: np.ndarray,
             size: int) -> np.ndarray:
    """The centre ``index + 0.5`` of an arg-max cell moved by the log-parabola through its two
    neighbours along one axis (:func:`handlib.codecs.heatmap2d.parabola_offset`; not moved on
    the border, where one neighbour is missing)."""
    inner = (index > 0) & (index < size - 1)
    return index + 0.5 + parabola_offset(before, centre, after) * inner


def decode_volumes(volumes, input_size: int, depth_range_mm: float):
    """(N, J, D, h, w) volumes → (kp2d input px (N, J, 2), depth relative to the wrist in mm
    (N, J), confidence (N, J)): the arg-max voxel (the first, on ties), refined on its depth
    slice (x, y, as ``heatmap2d`` refines a cell) and along the depth profile through it (z).

    The arg-max and the reading of the voxel's six neighbours run where the volumes are (a
    tensor on the model's device; an array is read as a CPU tensor), in fp32; only those seven
    values and the voxel's three indices per joint are copied to the host for the refinement."""
    volumes = torch.as_tensor(volumes).detach().float()
    n, j, d, h, w = volumes.shape
    flat = volumes.reshape(n, j, d * h * w)
    best = flat.argmax(dim=-1)
    b, r, c = best // (h * w), best // w % h, best % w
    at = [(b, r, c), (b, r, (c - 1).clamp(min=0)), (b, r, (c + 1).clamp(max=w - 1)),
          (b, (r - 1).clamp(min=0), c), (b, (r + 1).clamp(max=h - 1), c),
          ((b - 1).clamp(min=0), r, c), ((b + 1).clamp(max=d - 1), r, c)]
    voxels = torch.stack([(k * h + y) * w + x for k, y, x in at], dim=-1)
    values = flat.gather(-1, voxels).cpu().numpy()
    b, r, c = torch.stack([b, r, c]).cpu().numpy()
    centre, left, right, up, down, front, back = np.moveaxis(values, -1, 0)
    x = _refined(left, centre, right, c, w) * (input_size / w)
    y = _refined(up, centre, down, r, h) * (input_size / h)
    z = (_refined(front, centre, back, b, d) / d - 0.5) * depth_range_mm
    return np.stack([x, y], axis=-1).astype(np.float32), z.astype(np.float32), centre


class Heatmap3D(Codec):
    """InterNet's voxel heat maps, relative root depth and hand type (see the module doc)."""

    name = "heatmap3d"
    two_slot = True

    def __init__(self, input_size: int, heatmap_size: int = 64, depth_bins: int = 64,
                 depth_range_mm: float = 400.0, sigma: float = 2.5, root_depth_bins: int = 64,
                 root_depth_range_mm: float = 400.0):
        if heatmap_size <= 0 or input_size % heatmap_size:
            raise ValueError(f"heatmap3d: input_size {input_size} must be a multiple of "
                             f"heatmap_size {heatmap_size}")
        for option, value in (("depth_bins", depth_bins), ("root_depth_bins", root_depth_bins),
                              ("depth_range_mm", depth_range_mm), ("sigma", sigma),
                              ("root_depth_range_mm", root_depth_range_mm)):
            if value <= 0:
                raise ValueError(f"heatmap3d: {option} must be > 0, got {value}")
        self.input_size, self.heatmap_size, self.depth_bins = input_size, heatmap_size, depth_bins
        self.depth_range_mm, self.sigma = float(depth_range_mm), float(sigma)
        self.root_depth_bins, self.root_depth_range_mm = root_depth_bins, float(root_depth_range_mm)

    # --------------------------------------------------------------------------- encode
    def _to_bins(self, depth_mm, bins: int, range_mm: float):
        return (np.asarray(depth_mm, np.float64) / range_mm + 0.5) * bins

    def encode(self, item: dict) -> dict[str, np.ndarray]:
        kp2d = np.asarray(item["kp2d"], np.float32)
        if kp2d.shape[0] != HANDS * NUM_JOINTS or "hand_valid" not in item:
            raise ValueError("heatmap3d is a two-hand codec: it needs items in the two-hand "
                             f"layout (42 joints and hand_valid), got {kp2d.shape[0]} joints")
        hand_valid = np.asarray(item["hand_valid"], bool)
        weight = np.asarray(item["labelled"], bool) & np.asarray(item["in_frame"], bool)
        joint_hm = np.zeros((HANDS * NUM_JOINTS, 3), np.float32)
        joint_hm[:, :2] = kp2d * (self.heatmap_size / self.input_size)
        out = {"hand_type": hand_valid.astype(np.float32),
               "hand_type_weight": np.float32(item.get("hand_type_valid", True)),
               "root_depth_target": np.float32(0.0), "root_depth_weight": np.float32(0.0),
               "volume_sigma": np.float32(self.sigma)}
        if "kp3d" in item:
            hands = np.asarray(item["kp3d"], np.float64).reshape(HANDS, NUM_JOINTS, 3)
            relative = (hands[..., 2] - hands[:, WRIST:WRIST + 1, 2]).reshape(-1)
            z = self._to_bins(relative, self.depth_bins, self.depth_range_mm)
            inside = np.isfinite(z) & (z >= 0) & (z < self.depth_bins)
            joint_hm[:, 2] = np.nan_to_num(z)
            weight &= inside
            labelled = np.asarray(item["labelled"], bool).reshape(HANDS, NUM_JOINTS)
            if hand_valid.all() and labelled[:, WRIST].all():
                root = self._to_bins(hands[1, WRIST, 2] - hands[0, WRIST, 2],
                                     self.root_depth_bins, self.root_depth_range_mm)
                if 0 <= root < self.root_depth_bins:
                    out.update(root_depth_target=np.float32(root),
                               root_depth_weight=np.float32(1.0))
        else:
            weight[:] = False  # no depth label: no 3D target
        weight &= np.repeat(hand_valid, NUM_JOINTS)
        out.update(joint_hm=joint_hm, joint_weight=weight.astype(np.float32))
        return out

    # --------------------------------------------------------------------------- decode
    def decode_crop(self, outputs, batch) -> dict[str, np.ndarray]:
        volumes = output(outputs, "heatmaps3d", self.name)
        check_two_hand_decode(self.name, volumes, 5, "(B, 42, D, h, w) volumes", batch)
        kp2d, relative, confidence = decode_volumes(volumes, self.input_size,
                                                    self.depth_range_mm)
        root_bins = to_numpy(output(outputs, "root_depth", self.name)).reshape(-1)
        root_depth = (root_bins / self.root_depth_bins - 0.5) * self.root_depth_range_mm
        hand_type = 1.0 / (1.0 + np.exp(-to_numpy(output(outputs, "hand_type", self.name))))
        found = {"kp2d": kp2d, "confidence": confidence, "root_depth": root_depth.astype(
            np.float32), "hand_type": hand_type.astype(np.float32)}
        if "root_depth_abs" in batch and "K" in batch:
            wrists = to_numpy(batch["root_depth_abs"]).reshape(-1, HANDS).astype(np.float64)
            # an absent hand's slot at the present hand's depth (the only one known), so a
            # model that names the wrong hand is still scored (GT H = N, handlib.metrics)
            wrists = np.where(np.isfinite(wrists), wrists, wrists[:, ::-1])
            K = to_numpy(batch["K"])
            z = relative.reshape(-1, HANDS, NUM_JOINTS) + wrists[..., None]
            kp3d = back_project(kp2d, z.reshape(-1, HANDS * NUM_JOINTS), K)
            hands = kp3d.reshape(-1, HANDS, NUM_JOINTS, 3)
            found["kp3d"] = kp3d
            found["kp3d_rel"] = (hands - hands[:, :, WRIST:WRIST + 1]).reshape(kp3d.shape)
            # MRRPE as the reference evaluation: both wrists at the GT right wrist depth plus
            # their own predicted wrist-relative depth, the left one also plus the predicted
            # relative root depth
            right_wrist = hands[:, 0, WRIST]
            left_z = wrists[:, 0] + root_depth + relative[:, NUM_JOINTS + WRIST]
            left_at_predicted = back_project(kp2d[:, NUM_JOINTS + WRIST][:, None],
                                             left_z[:, None], K)[:, 0]
            found["rel_root"] = (left_at_predicted - right_wrist).astype(np.float32)
        return found
