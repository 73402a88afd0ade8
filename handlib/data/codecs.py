"""Training targets and their decoders: 2D heatmaps, 2.5D, 3D heatmaps, bone vectors.

**Pixel convention (the one place it is defined).** Coordinates are continuous: pixel
``(row, col)`` covers ``[col, col+1) x [row, row+1)`` and its centre is ``(col + 0.5, row + 0.5)``.
So an image of side ``S`` spans ``[0, S)``, resizing by a factor ``s`` maps ``x -> s * x``, and a
point ``(x, y)`` lies in pixel ``(floor(y), floor(x))``. A heatmap of side ``h`` for an input of
side ``S`` has cells of ``S / h`` input pixels; input point ``x`` is heatmap point ``x * h / S``.

- ``encode_heatmaps``: an unnormalised Gaussian (peak 1) of standard deviation ``sigma``
  heatmap pixels per joint, sampled at the cell centres (as in CPN/SimpleBaseline/RCSF);
  joints with zero weight get an all-zero map.
- ``decode_heatmaps``: the arg-max cell, refined to sub-pixel by fitting a parabola to the
  logarithm of the map around it along x and along y (exact for a Gaussian peak, so an
  encode -> decode round trip recovers the joint away from the borders).
- ``soft_argmax``: ResUnet eq. 1-2, ``PM = softmax(beta * F)`` over all cells and
  ``p = sum PM(p) p`` (differentiable; ``beta`` may be a learnable tensor per joint).
- 2.5D (InterNet, MS-FF, InterNet+): 2D heatmaps plus each joint's depth relative to the root
  (wrist), normalised to [-1, 1] by ``depth_range_mm / 2``; ``lift_25d`` back-projects with
  ``K`` and a root depth.
- 3D heatmaps: a Gaussian in (depth bin, y, x), the depth axis covering
  ``[-depth_range_mm/2, depth_range_mm/2)`` around the root in ``depth_bins`` bins.
- Bones (ResUnet eq. 3): ``B_i = J_i - J_parent(i)`` for the 20 bones of ``handlib.skeleton``;
  ``decode_bones`` sums them back along the kinematic tree from a root position.
"""
from __future__ import annotations

import numpy as np
import torch

from handlib.skeleton import BONES, NUM_JOINTS, bone_vectors


def _cell_centres(n: int) -> np.ndarray:
    return np.arange(n, dtype=np.float32) + 0.5


def encode_heatmaps(kp2d: np.ndarray, weight: np.ndarray | None, input_size: int,
                    heatmap_size: int, sigma: float = 2.0) -> np.ndarray:
    """(J,2) input-pixel joints -> (J, h, w) float32 Gaussian heatmaps (see module doc)."""
    kp = np.asarray(kp2d, dtype=np.float32) * (heatmap_size / input_size)
    if sigma <= 0:
        raise ValueError(f"sigma must be > 0 heatmap pixels, got {sigma}")
    weight = np.ones(len(kp), bool) if weight is None else np.asarray(weight) > 0
    cells = _cell_centres(heatmap_size)
    gx = np.exp(-((cells[None, :] - kp[:, 0:1]) ** 2) / (2 * sigma ** 2))
    gy = np.exp(-((cells[None, :] - kp[:, 1:2]) ** 2) / (2 * sigma ** 2))
    heatmaps = gy[:, :, None] * gx[:, None, :]
    heatmaps[~weight] = 0.0
    return heatmaps.astype(np.float32)


def _parabola_offset(left: np.ndarray, centre: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Vertex offset in (-0.5, 0.5) of the parabola through log values at -1, 0, +1."""
    eps = 1e-10
    l, c, r = (np.log(np.maximum(v, eps)) for v in (left, centre, right))
    curvature = l - 2 * c + r
    offset = np.where(curvature < -1e-12, 0.5 * (l - r) / np.minimum(curvature, -1e-12), 0.0)
    return np.clip(offset, -0.5, 0.5)


def decode_heatmaps(heatmaps, input_size: int) -> tuple[np.ndarray, np.ndarray]:
    """(N,J,h,w) (or (J,h,w)) numpy/torch heatmaps -> (kp2d in input pixels, confidence = peak).

    Arg-max cell plus log-parabola sub-pixel refinement; a cell on the border is not refined
    along the axis that lacks a neighbour.
    """
    if isinstance(heatmaps, torch.Tensor):
        heatmaps = heatmaps.detach().float().cpu().numpy()
    heatmaps = np.asarray(heatmaps, dtype=np.float32)
    single = heatmaps.ndim == 3
    if single:
        heatmaps = heatmaps[None]
    n, j, h, w = heatmaps.shape
    flat = heatmaps.reshape(n, j, -1)
    best = flat.argmax(axis=-1)
    confidence = np.take_along_axis(flat, best[..., None], axis=-1)[..., 0]
    row, col = np.divmod(best, w)
    maps = heatmaps.reshape(n * j, h, w)
    r, c, k = row.ravel(), col.ravel(), np.arange(n * j)
    inner_x = (c > 0) & (c < w - 1)
    inner_y = (r > 0) & (r < h - 1)
    centre = maps[k, r, c]
    dx = _parabola_offset(maps[k, r, np.maximum(c - 1, 0)], centre,
                          maps[k, r, np.minimum(c + 1, w - 1)]) * inner_x
    dy = _parabola_offset(maps[k, np.maximum(r - 1, 0), c], centre,
                          maps[k, np.minimum(r + 1, h - 1), c]) * inner_y
    x = (c + 0.5 + dx) * (input_size / w)
    y = (r + 0.5 + dy) * (input_size / h)
    kp2d = np.stack([x, y], axis=-1).reshape(n, j, 2).astype(np.float32)
    if single:
        return kp2d[0], confidence[0]
    return kp2d, confidence


def soft_argmax(heatmaps: torch.Tensor, beta: float | torch.Tensor = 1.0,
                input_size: int | None = None) -> torch.Tensor:
    """ResUnet eq. 1-2: (B,J,h,w) maps -> (B,J,2) expected positions of softmax(beta * maps).

    Positions are in heatmap pixels (cell centres at ``k + 0.5``), or in input pixels when
    ``input_size`` is given. ``beta`` is a scalar or a (J,) tensor (learnable per joint).
    """
    b, j, h, w = heatmaps.shape
    beta = torch.as_tensor(beta, dtype=heatmaps.dtype, device=heatmaps.device)
    if beta.ndim == 1:
        beta = beta.view(1, j, 1)
    probability = torch.softmax(beta * heatmaps.reshape(b, j, -1), dim=-1).reshape(b, j, h, w)
    xs = torch.arange(w, dtype=heatmaps.dtype, device=heatmaps.device) + 0.5
    ys = torch.arange(h, dtype=heatmaps.dtype, device=heatmaps.device) + 0.5
    x = (probability.sum(dim=2) * xs).sum(dim=-1)
    y = (probability.sum(dim=3) * ys).sum(dim=-1)
    coords = torch.stack([x, y], dim=-1)
    if input_size is not None:
        coords = coords * torch.tensor([input_size / w, input_size / h], dtype=coords.dtype,
                                       device=coords.device)
    return coords


# ---- 2.5D and 3D ----------------------------------------------------------------------------
def relative_depth(kp3d: np.ndarray, root: int = 0) -> np.ndarray:
    """(..., J, 3) joints -> (..., J) depth relative to the root joint (mm)."""
    kp = np.asarray(kp3d)
    return kp[..., 2] - kp[..., root:root + 1, 2]


def encode_25d(kp2d: np.ndarray, kp3d: np.ndarray, weight: np.ndarray | None, input_size: int,
               heatmap_size: int, sigma: float = 2.0, depth_range_mm: float = 400.0,
               root: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """2.5D target: (J,h,w) heatmaps and (J,) root-relative depth in [-1, 1]."""
    rel = relative_depth(kp3d, root) / (depth_range_mm / 2)
    return (encode_heatmaps(kp2d, weight, input_size, heatmap_size, sigma),
            np.clip(rel, -1.0, 1.0).astype(np.float32))


def decode_25d(heatmaps, rel_depth, input_size: int,
               depth_range_mm: float = 400.0) -> tuple[np.ndarray, np.ndarray]:
    """2.5D prediction -> (kp2d input px, root-relative depth mm)."""
    kp2d, _ = decode_heatmaps(heatmaps, input_size)
    if isinstance(rel_depth, torch.Tensor):
        rel_depth = rel_depth.detach().float().cpu().numpy()
    return kp2d, np.asarray(rel_depth, dtype=np.float32) * (depth_range_mm / 2)


def lift_25d(kp2d: np.ndarray, rel_depth_mm: np.ndarray, root_depth_mm, K: np.ndarray) -> np.ndarray:
    """Back-project (..., J, 2) pixels at depths ``root_depth + rel_depth`` with intrinsics K."""
    z = np.asarray(rel_depth_mm, dtype=np.float64) + np.asarray(root_depth_mm, float)[..., None]
    homogeneous = np.concatenate([np.asarray(kp2d, np.float64), np.ones_like(z)[..., None]], -1)
    rays = homogeneous @ np.linalg.inv(np.asarray(K, np.float64)).swapaxes(-1, -2)
    return (rays / rays[..., 2:3] * z[..., None]).astype(np.float32)


def encode_heatmaps_3d(kp2d: np.ndarray, rel_depth_mm: np.ndarray, weight: np.ndarray | None,
                       input_size: int, heatmap_size: int, depth_bins: int = 64,
                       depth_range_mm: float = 400.0, sigma: float = 2.0) -> np.ndarray:
    """(J, D, h, w) Gaussian volumes; depth bin ``d`` covers ``[d, d+1) * range / D - range/2``."""
    planar = encode_heatmaps(kp2d, weight, input_size, heatmap_size, sigma)
    z = (np.asarray(rel_depth_mm, np.float32) / depth_range_mm + 0.5) * depth_bins
    gz = np.exp(-((_cell_centres(depth_bins)[None, :] - z[:, None]) ** 2) / (2 * sigma ** 2))
    return (gz[:, :, None, None] * planar[:, None]).astype(np.float32)


def decode_heatmaps_3d(volumes, input_size: int, depth_range_mm: float = 400.0):
    """(N,J,D,h,w) volumes -> (kp2d input px (N,J,2), rel depth mm (N,J), confidence (N,J))."""
    if isinstance(volumes, torch.Tensor):
        volumes = volumes.detach().float().cpu().numpy()
    volumes = np.asarray(volumes, np.float32)
    n, j, d, h, w = volumes.shape
    best = volumes.reshape(n, j, -1).argmax(-1)
    bin_index = best // (h * w)
    # refine x, y on the best depth slice; depth on the profile through the best cell
    plane = np.take_along_axis(volumes, bin_index[..., None, None, None], axis=2)[:, :, 0]
    kp2d, confidence = decode_heatmaps(plane, input_size)
    cell = best % (h * w)
    profile = np.take_along_axis(volumes.reshape(n, j, d, h * w), cell[..., None, None],
                                 axis=3)[..., 0]
    depth_index = np.arange(n * j)
    flat = profile.reshape(n * j, d)
    b = bin_index.ravel()
    inner = (b > 0) & (b < d - 1)
    dz = _parabola_offset(flat[depth_index, np.maximum(b - 1, 0)], flat[depth_index, b],
                          flat[depth_index, np.minimum(b + 1, d - 1)]) * inner
    z = ((b + 0.5 + dz) / d - 0.5) * depth_range_mm
    return kp2d, z.reshape(n, j).astype(np.float32), confidence


# ---- bones ----------------------------------------------------------------------------------
def encode_bones(kp3d):
    """ResUnet eq. 3: (..., 21, 3) joints -> (..., 20, 3) bone vectors (``skeleton.BONES``)."""
    if isinstance(kp3d, torch.Tensor):
        parents = [p for p, _ in BONES]
        children = [c for _, c in BONES]
        return kp3d[..., children, :] - kp3d[..., parents, :]
    return bone_vectors(kp3d)


def decode_bones(bones, root):
    """(..., 20, 3) bones and (..., 3) root position -> (..., 21, 3) joints, summing each joint's
    bones along its path from the root (numpy or torch)."""
    joints = [root] + [None] * (NUM_JOINTS - 1)
    for k, (parent, child) in enumerate(BONES):
        joints[child] = joints[parent] + bones[..., k, :]
    stack = torch.stack if isinstance(bones, torch.Tensor) else np.stack
    return stack(joints, -2)
