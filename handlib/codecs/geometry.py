"""The one place where crops are undone and pixels are lifted to 3D.

Every item carries ``crop`` (3, 3): the affine A that takes the canonical sample's own pixels
to the model's input pixels, the left-to-right mirror included (``handlib.data.pipeline``; a
mirrored left hand has A = A_crop · F with F: x → W − x), and ``mirrored``. The crop changes the
camera's intrinsics (the crop's K = A_crop · K) but not the 3D points, except for the mirror,
which negates x of the camera-frame joints (``handlib.data.transforms.mirror_sample``).

- :func:`uncrop` applies A⁻¹ (input pixels → the sample's own pixels);
- :func:`crop_scale` is A's scale (input pixels per original pixel), for converting lengths;
- :func:`project` is P (camera mm → pixels with K) and :func:`back_project` P⁻¹ (pixels and
  depth → camera mm);
- :func:`unmirror_3d` negates x where a sample was mirrored;
- :func:`to_sample_frame` applies the last three to every keypoint quantity of a prediction (or
  label) dict; the engine uses it for predictions and labels alike, so a round trip is exact.
"""
from __future__ import annotations

import numpy as np
import torch

#: Quantities in camera millimetres that a mirror flips (x negated).
CAMERA_KEYS: tuple[str, ...] = ("kp3d", "kp3d_rel", "rel_root")


def _numpy(value) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        return value.detach().double().cpu().numpy()
    return np.asarray(value, dtype=np.float64)


def uncrop(points, crop) -> np.ndarray:
    """(..., J, 2) input pixels → the sample's own pixels, with A⁻¹ of ``crop`` (3, 3), or
    (B, 3, 3) for a batch of (B, J, 2) points."""
    points, crop = _numpy(points), _numpy(crop)
    inverse = np.linalg.inv(crop)
    if inverse.ndim == 3:
        inverse = inverse[:, None]  # (B, 1, 3, 3) against (B, J, 2)
    linear, offset = inverse[..., :2, :2], inverse[..., :2, 2]
    return (np.einsum("...ij,...j->...i", linear, points) + offset).astype(np.float32)


def crop_scale(crop) -> np.ndarray:
    """Input pixels per original pixel of a similarity crop: sqrt(|det A[:2, :2]|)."""
    crop = _numpy(crop)
    return np.sqrt(np.abs(np.linalg.det(crop[..., :2, :2]))).astype(np.float32)


def project(kp3d, K) -> np.ndarray:
    """Pinhole projection P: (..., J, 3) camera mm → (..., J, 2) pixels; K (3, 3) or (B, 3, 3)."""
    kp3d, K = _numpy(kp3d), _numpy(K)
    if K.ndim == 3:
        K = K[:, None]
    uvw = np.einsum("...ij,...j->...i", K, kp3d)
    return (uvw[..., :2] / uvw[..., 2:3]).astype(np.float32)


def back_project(kp2d, z_mm, K) -> np.ndarray:
    """P⁻¹: (..., J, 2) pixels at depths ``z_mm`` (..., J) → (..., J, 3) camera mm."""
    kp2d, z, K = _numpy(kp2d), _numpy(z_mm), _numpy(K)
    if K.ndim == 3:
        K = K[:, None]
    homogeneous = np.concatenate([kp2d, np.ones_like(kp2d[..., :1])], axis=-1)
    rays = np.einsum("...ij,...j->...i", np.linalg.inv(K), homogeneous)
    return (rays / rays[..., 2:3] * z[..., None]).astype(np.float32)


def unmirror_3d(points, mirrored) -> np.ndarray:
    """Negate x of (B, ..., 3) camera-frame points where ``mirrored`` (B,) is True; a single
    flag (a scalar) applies to all of ``points`` (one item, no batch axis)."""
    points = _numpy(points).astype(np.float32).copy()
    flags = _numpy(mirrored).astype(bool)
    if flags.ndim == 0:
        if flags:
            points[..., 0] *= -1
        return points
    flags = flags.reshape(-1)
    if len(flags) != len(points):
        raise ValueError(f"unmirror_3d: {len(flags)} mirror flags for {len(points)} samples")
    points[flags, ..., 0] *= -1
    return points


def to_sample_frame(found: dict, batch: dict) -> dict[str, np.ndarray]:
    """Predictions (or labels) of a batch in the crop frame → the samples' own frames: ``kp2d``
    through A⁻¹, camera-frame quantities (:data:`CAMERA_KEYS`) with the mirror undone; every
    other entry as it is (as numpy)."""
    out = {}
    for key, value in found.items():
        if key == "kp2d":
            out[key] = uncrop(value, batch["crop"])
        elif key in CAMERA_KEYS:
            out[key] = unmirror_3d(value, batch["mirrored"])
        else:
            out[key] = value.detach().cpu().numpy() if isinstance(value, torch.Tensor) \
                else np.asarray(value)
    return out
