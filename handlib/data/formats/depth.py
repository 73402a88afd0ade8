"""What the four depth loaders (NYU, ICVL, MSRA, HANDS2017) share: camera geometry, label-file
parsing with errors that name the file, 16-bit depth PNGs, and the lazy sequence of canonical
samples they all return.

How a depth sample is represented (the depth datasets do not annotate the canonical 21 joints):

- ``kp2d_native`` (J,2) px, ``kp3d_native`` (J,3) mm and ``joint_names_native`` hold the joints the
  dataset's standard protocol trains and evaluates on, in the dataset's own order (ICVL 16, NYU the
  14 evaluation joints, MSRA 21, HANDS2017 21). Published predictions and errors refer to these.
- ``kp2d`` (21,2) and ``kp3d`` (21,3) are in the canonical order of :mod:`handlib.skeleton`, filled
  where the dataset has a joint that is the same anatomical point (each module's table says which
  and names its source); ``joint_valid`` (21 bool) marks them and the other rows are NaN, so that
  any use of an unannotated joint is loud. MSRA, HANDS2017 and NYU (from its 36 joints) fill all
  21; ICVL fills the five fingertips.
- ``kp3d``/``kp3d_native`` are in the OpenCV camera frame: x right, y down, z forward, mm. Datasets
  published in another frame (NYU: y up; MSRA: y up, z backward) are converted once, in their
  module. ``K`` is the matching 3x3 intrinsic matrix with positive focal lengths, so
  ``kp2d = project(kp3d, K)``.
- ``refined_centre_mm`` (3,) mm, OpenCV camera frame, where the user put the published refined
  hand centres beside the dataset (:data:`REFINED_CENTRES`: ICVL and NYU; NaN for a frame the
  file marks ``invalid``); ``meta["refined_centre_file"]`` names the file looked for (the
  ``depth_crop`` codec's ``centre: file`` reads both).
- ``depth`` (H,W) float32 mm, 0 where the sensor has no reading; ``visible`` = ``joint_valid`` and
  inside the frame (the depth datasets do not annotate occlusion: ``meta["occlusion"]`` is None
  and ``meta["visibility_labelled"]`` False, the conventions of ``common``); ``bbox`` (x, y, w, h)
  px; ``side`` as the dataset documents it.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import pandas as pd

from handlib.data.formats import CorruptFileError, DatasetInfo
from handlib.data.formats.common import (
    SampleSequence,
    bbox_from_keypoints,
    cached_arrays,
    in_frame,
    intrinsics,
    layout_error,
    project,
    read_raw_image,
)
from handlib.skeleton import NUM_JOINTS

#: DeepPrior++ (Oberweger & Lepetit 2017, src/data/importers.py, ``getDepthMapNV``) marks pixels
#: without a reading with 32001 in ICVL, NYU and MSRA; handlib stores those as 0 (no reading).
NO_READING_FROM = 32001.0


@dataclass(frozen=True)
class Intrinsics:
    """Pinhole intrinsics in px; with positive ``fy`` they describe the OpenCV camera frame."""

    fx: float
    fy: float
    cx: float
    cy: float

    @property
    def K(self) -> np.ndarray:
        return intrinsics(self.fx, self.fy, self.cx, self.cy)


def uvd_to_xyz(uvd: np.ndarray, fx: float, fy: float, cx: float, cy: float) -> np.ndarray:
    """(..., 3) pixel u, v and depth d (mm) → camera x, y, z (mm).

    Same formula as ``pixel2world`` of the public evaluation code (awesome-hand-pose-estimation,
    evaluation/util.py): x = (u − cx)·d/fx, y = (v − cy)·d/fy, z = d. A negative ``fy`` (NYU's
    evaluation setting) yields a y-up frame.
    """
    uvd = np.asarray(uvd, dtype=np.float64)
    xyz = np.empty_like(uvd)
    xyz[..., 0] = (uvd[..., 0] - cx) * uvd[..., 2] / fx
    xyz[..., 1] = (uvd[..., 1] - cy) * uvd[..., 2] / fy
    xyz[..., 2] = uvd[..., 2]
    return xyz


# ----------------------------------------------------------------------------- files
def read_label_table(
    dataset: str, path: Path, columns: int, first_numeric: int
) -> tuple[list[str], np.ndarray]:
    """A whitespace-separated label file, parsed once per file version (``cached_arrays``).

    Each line holds ``first_numeric`` (0 or 1) name fields and then numbers, ``columns`` fields in
    all. Returns (the names, or [] when ``first_numeric`` is 0; float32 values of shape
    (N, columns − first_numeric)). A line with the wrong number of fields or a non-number raises
    :class:`CorruptFileError` naming the file and the line.
    """
    arrays = cached_arrays(
        f"{dataset}-labels",
        [Path(path)],
        lambda: _parse_label_table(Path(path), columns, first_numeric),
        extra=f"{columns},{first_numeric}",
    )
    return [str(n) for n in arrays["names"]], arrays["values"]


def _parse_label_table(path: Path, columns: int, first_numeric: int) -> dict[str, np.ndarray]:
    try:
        table = pd.read_csv(
            path, sep=r"\s+", header=None, names=range(columns), index_col=False,
            dtype={i: (str if i < first_numeric else np.float32) for i in range(columns)},
            skip_blank_lines=True,
        )
        values = table.iloc[:, first_numeric:].to_numpy(dtype=np.float32)
    except (pd.errors.ParserError, ValueError, UnicodeDecodeError) as error:
        raise CorruptFileError(
            f"{path}: not {columns} whitespace-separated fields per line "
            f"({first_numeric} name(s), then numbers): {str(error).strip()}"
        ) from None
    short = np.isnan(values).any(axis=1)
    if short.any():
        line = int(np.flatnonzero(short)[0]) + 1
        raise CorruptFileError(f"{path}: line {line} has fewer than {columns} fields (truncated?)")
    names = table.iloc[:, 0].astype(str).to_numpy(dtype=str) if first_numeric else np.array([], str)
    return {"names": names, "values": values}


def read_depth_png16(path: Path) -> np.ndarray:
    """A single-channel 16-bit PNG holding depth in mm → float32 (H, W), 0 = no reading."""
    depth = read_raw_image(path)
    if depth.ndim != 2 or depth.dtype != np.uint16:
        raise CorruptFileError(
            f"{path}: expected a single-channel 16-bit depth PNG, "
            f"got shape {depth.shape} {depth.dtype}"
        )
    return no_reading_to_zero(depth.astype(np.float32))


def no_reading_to_zero(depth: np.ndarray) -> np.ndarray:
    """Pixels at or beyond the datasets' no-reading value become 0 (in place; returned)."""
    depth[depth >= NO_READING_FROM] = 0.0
    return depth


# ----------------------------------------------------------------------------- refined centres
#: Where the published refined hand centres come from: CrossInfoNet's code (github.com/dumyy/
#: handpose, cache/NYU/readme.md) reads V2V-PoseNet's for NYU and ICVL.
REFINED_CENTRES_SOURCE = (
    "published by V2V-PoseNet (Moon et al. 2018; github.com/mks0601/V2V-PoseNet_RELEASE, README "
    "'Results': https://cv.snu.ac.kr/research/V2V-PoseNet/<ICVL|NYU>/center/"
    "center_<train|test>_refined.txt), the centres CrossInfoNet's code (github.com/dumyy/handpose) "
    "reads")
#: The refined-centre file of each split, in the dataset's folder: one line per frame of the
#: split's label order, "x y z" (mm, V2V-PoseNet's world frame of the dataset) or "invalid".
REFINED_CENTRES: dict[str, str] = {"train": "center_train_refined.txt",
                                   "test": "center_test_refined.txt"}


def read_refined_centres(path: Path, frames: int, camera: Intrinsics,
                         published: Intrinsics, y_up: bool) -> np.ndarray:
    """(``frames``, 3) mm in the OpenCV frame of ``camera``: V2V-PoseNet's refined centres in
    ``path`` (:data:`REFINED_CENTRES`), NaN where a line says ``invalid``. The file's points are
    in V2V-PoseNet's world frame of the dataset (``published`` intrinsics, y up when ``y_up``):
    each is projected with them to (u, v, d) and back-projected with ``camera`` (the same pixel
    and depth). A file whose line count is not ``frames``, or a line that is neither three
    numbers nor ``invalid``, raises :class:`CorruptFileError` naming the file and the line."""
    lines = [line.split() for line in Path(path).read_text().splitlines() if line.strip()]
    if len(lines) != frames:
        raise CorruptFileError(f"{path}: {len(lines)} refined centres for the split's {frames} "
                               f"frames (one line per frame, in the label file's order)")
    xyz = np.full((frames, 3), np.nan)
    for number, fields in enumerate(lines):
        if fields == ["invalid"]:
            continue
        try:
            if len(fields) != 3:
                raise ValueError
            xyz[number] = [float(f) for f in fields]
        except ValueError:
            raise CorruptFileError(f"{path}: line {number + 1} is neither 'x y z' (mm) nor "
                                   f"'invalid': {' '.join(fields)!r}") from None
    if y_up:
        xyz[:, 1] = -xyz[:, 1]
    u = published.cx + published.fx * xyz[:, 0] / xyz[:, 2]
    v = published.cy + published.fy * xyz[:, 1] / xyz[:, 2]
    uvd = np.stack([u, v, xyz[:, 2]], axis=1)
    return uvd_to_xyz(uvd, camera.fx, camera.fy, camera.cx, camera.cy).astype(np.float32)


# ----------------------------------------------------------------------------- the lazy sequence
@dataclass(frozen=True)
class JointMap:
    """Which of a dataset's labelled joints (its "all" set) are native and which are canonical.

    ``native``: indices (into the all-joint arrays) of the joints the standard protocol uses.
    ``canonical``: for each of the 21 canonical joints, the index of the same joint in the
    all-joint arrays, or ``None`` where the dataset has no such joint.
    """

    all_names: tuple[str, ...]
    native: tuple[int, ...]
    canonical: tuple[int | None, ...]

    def __post_init__(self):
        if len(self.canonical) != NUM_JOINTS:
            raise ValueError(f"a canonical table needs {NUM_JOINTS} entries")

    @property
    def native_names(self) -> tuple[str, ...]:
        return tuple(self.all_names[i] for i in self.native)

    @property
    def valid(self) -> np.ndarray:
        return np.array([i is not None for i in self.canonical])

    def to_canonical(self, joints: np.ndarray) -> np.ndarray:
        """(J_all, D) → (21, D), NaN rows where the dataset has no such joint."""
        out = np.full((NUM_JOINTS, joints.shape[-1]), np.nan, dtype=np.float32)
        for canonical, source in enumerate(self.canonical):
            if source is not None:
                out[canonical] = joints[source]
        return out


class DepthFrames(SampleSequence):
    """A lazy sequence of canonical depth samples: labels in memory, depth decoded on access.

    ``kp3d_all`` (N, J_all, 3) mm in the OpenCV camera frame holds every labelled joint;
    ``kp2d_all`` (N, J_all, 2) px where the dataset publishes 2D labels, else ``None`` (then they
    are projected from ``kp3d_all`` with ``camera``). ``read_frame(path) -> (depth, bbox or None)``
    decodes one depth file; the bbox is given where the file itself records the hand region, else
    it is the box around the native 2D joints. ``centres`` (N, 3) mm: the published refined hand
    centres (:func:`read_refined_centres`) when the user supplied them, and ``centre_file`` the
    file looked for (both go into each sample, see the module doc).
    """

    def __init__(
        self,
        info: DatasetInfo,
        split: str,
        root: Path,
        files: Sequence[str],
        kp3d_all: np.ndarray,
        kp2d_all: np.ndarray | None,
        joints: JointMap,
        camera: Intrinsics,
        side: str,
        read_frame: Callable[[Path], tuple[np.ndarray, np.ndarray | None]],
        subjects: Sequence[str] | None = None,
        centres: np.ndarray | None = None,
        centre_file: Path | None = None,
    ):
        if len(files) != len(kp3d_all) or (kp2d_all is not None and len(kp2d_all) != len(files)):
            raise ValueError("files and labels differ in length")
        self.info, self.split, self.root = info, split, Path(root)
        self.files = list(files)
        self.kp3d_all = np.asarray(kp3d_all, dtype=np.float32)
        self.kp2d_all = None if kp2d_all is None else np.asarray(kp2d_all, dtype=np.float32)
        self.joints, self.camera, self.side = joints, camera, side
        self.read_frame = read_frame
        self.subjects = subjects
        self.centres, self.centre_file = centres, centre_file

    def __len__(self) -> int:
        return len(self.files)

    def _sample(self, index: int) -> dict:
        path = self.root / self.files[index]
        if not path.is_file():
            raise layout_error(self.info, self.root, f"depth file {self.files[index]} is missing")
        depth, bbox = self.read_frame(path)
        height, width = depth.shape
        kp3d_all = self.kp3d_all[index]
        if self.kp2d_all is not None:
            kp2d_all = self.kp2d_all[index]
        else:
            kp2d_all = project(kp3d_all, self.camera.K).astype(np.float32)
        native = list(self.joints.native)
        kp2d = self.joints.to_canonical(kp2d_all)
        valid = self.joints.valid
        meta = {
            "dataset": self.info.name,
            "split": self.split,
            "id": self.files[index],
            "index": index,
            "occlusion": None,  # the depth datasets do not annotate occlusion
            "visibility_labelled": False,
        }
        if self.subjects is not None:
            meta["subject"] = self.subjects[index]
        if self.centre_file is not None:
            meta["refined_centre_file"] = str(self.centre_file)
        refined = {} if self.centres is None else {"refined_centre_mm": self.centres[index]}
        return {
            **refined,
            "depth": depth,
            "kp2d": kp2d,
            "kp3d": self.joints.to_canonical(kp3d_all),
            "joint_valid": valid,
            "visible": valid & in_frame(np.nan_to_num(kp2d, nan=-1.0), width, height),
            "kp2d_native": kp2d_all[native].copy(),
            "kp3d_native": kp3d_all[native].copy(),
            "joint_names_native": self.joints.native_names,
            "K": self.camera.K,
            "side": self.side,
            "bbox": bbox if bbox is not None else bbox_from_keypoints(kp2d_all[native]),
            "meta": meta,
        }
