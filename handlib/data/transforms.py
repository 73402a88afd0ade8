"""Crops, augmentation and normalisation of canonical samples; every transform updates the labels.

A geometric transform is a 2x3 affine matrix ``M`` in the continuous pixel convention of
``handlib.codecs`` (pixel centres at ``k + 0.5``). ``warp_sample`` applies it to the image
(bilinear), the depth map and the part mask (nearest, so depths and part ids are never blended),
the 2D joints and the bounding box, and replaces the intrinsics by ``A @ K`` (``A`` = ``M`` as a
3x3), so that projecting ``kp3d`` with the new ``K`` still gives the new ``kp2d`` exactly.

- ``crop_matrix``: the square of side ``padding * max(w, h)`` around a box's centre, resized to the
  model's input, with optional rotation, scale and shift (the augmentation of RCSF §4.1,
  CrossInfoNet §3.5: rotation, translation, scaling about the hand's centre).
- ``follow_rotation``: the 3D labels of a crop whose warp rotates the image in-plane (the
  rotation augmentation), brought into the rotated view, so that a model regressing 3D
  coordinates sees the hand and its labels turned alike (see the function).
- ``mirror_sample``: a left hand becomes a right hand (as the papers train one-handed models):
  the image is flipped, x of ``kp3d`` negated, and ``K`` adjusted so the projection still holds.
- ``colour_jitter``: brightness, contrast and saturation (image only).
- ``normalise_depth``: CrossInfoNet §3.5, depths within a cube of side ``cube_mm`` around the
  hand's centre mapped to [-1, 1] (missing readings and the far background to +1), with the
  matching normalisation of the 3D joints (``normalise_kp3d``).
"""
from __future__ import annotations

import cv2
import numpy as np

IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], np.float32)


def _as3x3(M: np.ndarray) -> np.ndarray:
    return np.vstack([np.asarray(M, np.float64), [0.0, 0.0, 1.0]])


def apply_affine(M: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Apply a 2x3 affine matrix to (..., 2) points."""
    points = np.asarray(points, np.float64)
    M = np.asarray(M, np.float64)
    return (points @ M[:, :2].T + M[:, 2]).astype(np.float32)


def bbox_centre_size(bbox: np.ndarray) -> tuple[np.ndarray, float]:
    """Centre and larger side of boxes (x, y, w, h); for (2, 4) boxes (two hands) their union."""
    boxes = np.asarray(bbox, np.float64).reshape(-1, 4)
    boxes = boxes[(boxes[:, 2] > 0) & (boxes[:, 3] > 0)]
    if len(boxes) == 0:
        raise ValueError("the sample has no valid bounding box to crop around")
    lo = boxes[:, :2].min(axis=0)
    hi = (boxes[:, :2] + boxes[:, 2:]).max(axis=0)
    return (lo + hi) / 2, float((hi - lo).max())


def crop_matrix(centre, size: float, out_size: int, rotation_deg: float = 0.0,
                scale: float = 1.0, shift=(0.0, 0.0)) -> np.ndarray:
    """The 2x3 matrix taking the square of side ``size`` around ``centre`` to ``out_size``²,
    rotated by ``rotation_deg`` (counter-clockwise on screen), zoomed by ``scale`` and shifted by
    ``shift`` (fractions of the output side)."""
    if size <= 0 or out_size <= 0:
        raise ValueError(f"crop size and output size must be > 0, got {size} and {out_size}")
    zoom = scale * out_size / size
    angle = np.deg2rad(rotation_deg)
    c, s = np.cos(angle) * zoom, np.sin(angle) * zoom
    linear = np.array([[c, s], [-s, c]])
    target = np.array([out_size / 2 + shift[0] * out_size, out_size / 2 + shift[1] * out_size])
    return np.hstack([linear, (target - linear @ np.asarray(centre, np.float64))[:, None]])


def _cv2_matrix(M: np.ndarray) -> np.ndarray:
    """Our convention (centres at k + 0.5) -> OpenCV's (centres at k)."""
    to_ours = np.array([[1, 0, 0.5], [0, 1, 0.5], [0, 0, 1.0]])
    return (np.linalg.inv(to_ours) @ _as3x3(M) @ to_ours)[:2]


def warp_sample(sample: dict, M: np.ndarray, out_size: int) -> dict:
    """Apply the affine ``M`` to a canonical sample's pixels and labels (see module doc)."""
    out = dict(sample)
    matrix = _cv2_matrix(M)
    size = (out_size, out_size)
    if "image" in sample:
        out["image"] = cv2.warpAffine(sample["image"], matrix, size, flags=cv2.INTER_LINEAR,
                                      borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    if "depth" in sample:
        out["depth"] = cv2.warpAffine(sample["depth"], matrix, size, flags=cv2.INTER_NEAREST,
                                      borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    if "mask" in sample:
        out["mask"] = cv2.warpAffine(sample["mask"].astype(np.uint8), matrix, size,
                                     flags=cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT,
                                     borderValue=0).astype(np.int8)
    out["kp2d"] = apply_affine(M, sample["kp2d"])
    if "K" in sample:
        out["K"] = (_as3x3(M) @ np.asarray(sample["K"], np.float64)).astype(np.float32)
    if "bbox" in sample:
        out["bbox"] = _warp_boxes(M, sample["bbox"], out_size)
    return out


def follow_rotation(sample: dict, M: np.ndarray, unrotated: np.ndarray) -> dict:
    """The 3D labels of ``sample`` after a crop ``M`` that rotates the image, and the crop's
    intrinsics without the rotation: ``{"kp3d", "K"[, "centre_mm"]}`` to put in the warped
    sample.

    ``warp_sample`` keeps ``kp3d`` in the camera frame and folds the whole warp into ``K``: right
    for 2D and 2.5D targets (heat maps, relative depth), but a model that regresses 3D
    coordinates would see a rotated hand with unrotated labels. Here each 3D point is projected
    with the sample's ``K``, moved by ``M`` into the crop and back-projected at its own depth with
    ``unrotated @ K`` (``unrotated``: the same crop without its rotation), the uvd augmentation of
    DeepPrior++ (Oberweger & Lepetit 2017): projecting the new points with the new ``K`` gives the
    warped 2D joints exactly, and every depth is kept, as the rotated depth map keeps its
    values. Like the rotated depth map itself, this is a rigid turn of the hand only up to a
    small shear for a hand off the optical axis (a few mm on the NYU test frame). Points without
    a label (NaN) stay NaN."""
    K = np.asarray(sample["K"], np.float64)
    plain = _as3x3(unrotated) @ K
    to_view = np.linalg.inv(plain)

    def turn(points) -> np.ndarray:
        points = np.asarray(points, np.float64)
        flat = points.reshape(-1, 3)
        z = flat[:, 2:3]
        with np.errstate(invalid="ignore", divide="ignore"):
            uv = (flat @ K.T)[:, :2] / z
        moved = apply_affine(M, uv)
        homogeneous = np.concatenate([moved, np.ones((len(moved), 1))], axis=1)
        return ((homogeneous @ to_view.T) * z).reshape(points.shape).astype(np.float32)

    out = {"kp3d": turn(sample["kp3d"]), "K": plain.astype(np.float32)}
    if sample.get("centre_mm") is not None:
        out["centre_mm"] = turn(sample["centre_mm"])
    return out


def _warp_boxes(M, bbox, out_size: int) -> np.ndarray:
    boxes = np.asarray(bbox, np.float64).reshape(-1, 4)
    x, y, w, h = boxes.T
    corners = np.stack([np.stack([x, y], -1), np.stack([x + w, y], -1),
                        np.stack([x, y + h], -1), np.stack([x + w, y + h], -1)], 1)
    warped = apply_affine(M, corners)
    lo = np.clip(warped.min(axis=1), 0, out_size)
    hi = np.clip(warped.max(axis=1), 0, out_size)
    result = np.concatenate([lo, hi - lo], axis=-1).astype(np.float32)
    result[(boxes[:, 2] <= 0) | (boxes[:, 3] <= 0)] = 0
    return result.reshape(np.shape(bbox))


def mirror_matrix(width: int) -> np.ndarray:
    """The 2x3 affine of a left-right flip of an image ``width`` pixels wide (x -> width - x)."""
    return np.array([[-1.0, 0.0, float(width)], [0.0, 1.0, 0.0]])


def mirror_sample(sample: dict) -> dict:
    """Flip a one-hand sample left-right; a left hand becomes a right hand (labels included)."""
    if np.ndim(sample["kp2d"]) != 2:
        raise ValueError("mirror_sample handles one-hand samples; a two-hand sample would also "
                         "need its hands swapped")
    width = image_width(sample)
    M = mirror_matrix(width)
    out = dict(sample)
    for key in ("image", "depth", "mask"):
        if key in sample:
            out[key] = np.ascontiguousarray(sample[key][:, ::-1])
    out["kp2d"] = apply_affine(M, sample["kp2d"])
    for key in ("kp3d", "centre_mm"):  # camera-frame points: x negated
        if sample.get(key) is not None:
            out[key] = (np.asarray(sample[key]) * np.array([-1, 1, 1], np.float32)).astype(
                np.float32)
    if "K" in sample:
        out["K"] = (_as3x3(M) @ np.asarray(sample["K"], np.float64) @ np.diag([-1.0, 1, 1])
                    ).astype(np.float32)
    if "bbox" in sample:
        out["bbox"] = _warp_boxes(M, sample["bbox"], width)
    out["side"] = {"left": "right", "right": "left"}.get(sample.get("side"), sample.get("side"))
    out["meta"] = {**sample.get("meta", {}), "mirrored": not sample.get("meta", {}).get(
        "mirrored", False)}
    return out


def image_width(sample: dict) -> int:
    """Width in pixels of the sample's image (or depth map, or part mask)."""
    for key in ("image", "depth", "mask"):
        if key in sample:
            return sample[key].shape[1]
    raise ValueError("the sample has no image, depth or mask to take its width from")


def sample_augmentation(rng: np.random.Generator, augment: dict | None) -> dict:
    """Random rotation (deg), scale and shift from ``augment`` = {rotation: max |deg|,
    scale: [low, high], shift: max |fraction of the crop|}; identity when ``augment`` is None."""
    augment = augment or {}
    unknown = set(augment) - {"rotation", "scale", "shift", "colour"}
    if unknown:
        raise ValueError(f"unknown augmentation option(s) {sorted(unknown)}; valid: rotation, "
                         "scale, shift, colour")
    low, high = augment.get("scale", (1.0, 1.0))
    max_shift = float(augment.get("shift", 0.0))
    return {"rotation_deg": rng.uniform(-1, 1) * float(augment.get("rotation", 0.0)),
            "scale": rng.uniform(low, high),
            "shift": tuple(rng.uniform(-max_shift, max_shift, 2))}


def colour_jitter(image: np.ndarray, rng: np.random.Generator, strength: float) -> np.ndarray:
    """Random brightness, contrast and saturation, each by a factor in [1-strength, 1+strength]."""
    if strength <= 0:
        return image
    img = image.astype(np.float32)
    brightness, contrast, saturation = rng.uniform(1 - strength, 1 + strength, 3)
    img = img * brightness
    img = (img - img.mean()) * contrast + img.mean()
    grey = img.mean(axis=-1, keepdims=True)
    img = (img - grey) * saturation + grey
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def normalise_image(image: np.ndarray, mean=IMAGENET_MEAN, std=IMAGENET_STD) -> np.ndarray:
    """uint8 (H,W,3) -> float32 (3,H,W) standardised with the ImageNet statistics."""
    return ((image.astype(np.float32) / 255.0 - mean) / std).transpose(2, 0, 1).copy()


def denormalise_image(image, mean=IMAGENET_MEAN, std=IMAGENET_STD) -> np.ndarray:
    """Inverse of ``normalise_image`` for display: (3,H,W) array or tensor -> (H,W,3) in [0, 1]."""
    image = np.asarray(image, dtype=np.float32).transpose(1, 2, 0)
    return np.clip(image * std + mean, 0.0, 1.0)


def normalise_depth(depth: np.ndarray, centre_z_mm: float, cube_mm: float) -> np.ndarray:
    """Depth (mm, 0 = no reading) -> [-1, 1] within ``cube_mm`` around ``centre_z_mm``."""
    normalised = (depth.astype(np.float32) - centre_z_mm) / (cube_mm / 2)
    normalised[depth <= 0] = 1.0
    return np.clip(normalised, -1.0, 1.0)


def normalise_kp3d(kp3d: np.ndarray, centre_mm: np.ndarray, cube_mm: float) -> np.ndarray:
    """3D joints (mm) -> coordinates relative to ``centre_mm`` divided by ``cube_mm / 2``."""
    return ((np.asarray(kp3d, np.float32) - centre_mm) / (cube_mm / 2)).astype(np.float32)
