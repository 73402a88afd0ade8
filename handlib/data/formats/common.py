"""Helpers every dataset loader in ``handlib.data.formats`` shares.

- reading files with errors that name the file: :func:`read_image` (RGB uint8),
  :func:`read_raw_image` (the stored array: 8/16-bit, any channels, for depth and masks),
  :func:`read_text_array`;
- layout checks that say what is expected and where to get it: :func:`layout_error`,
  :func:`require_files`, :func:`check_split`;
- geometry: :func:`intrinsics`, :func:`project`, :func:`bbox_from_keypoints`;
- parse-once caching of annotation files: :func:`cached_arrays` (in memory per process and as an
  ``.npz`` under ``handlib.paths.cache_dir()``, keyed by the source files' path, size and mtime);
- :class:`SampleSequence`, the lazy indexable sequence every ``open_split`` returns.

Conventions shared by all loaders:

- ``visible`` is True where the joint is annotated and, when the dataset labels visibility
  (RHD), also visible; ``meta["visibility_labelled"]`` says which of the two it means;
- ``meta["occlusion"]`` is a (21,) array of strings from ``OCCLUSION_KINDS`` where the dataset
  says something about occlusion, else ``None``;
- two-hand samples put the hands on a leading axis of length 2 in ``TWO_HAND_ORDER`` (right then
  left, as InterHand2.6M stores its 42 joints and InterNet orders its handedness output) with
  ``hand_valid`` (2,) bool.
"""
from __future__ import annotations

import hashlib
import json
import threading
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np
from PIL import Image, UnidentifiedImageError

from handlib.data.formats import CorruptFileError, DatasetInfo, DatasetLayoutError
from handlib.paths import cache_dir
from handlib.results import write_npz_atomic

#: Order of the hands on the leading axis of two-hand samples.
TWO_HAND_ORDER: tuple[str, str] = ("right", "left")

#: Per-joint occlusion labels used in ``meta["occlusion"]``.
OCCLUSION_KINDS: tuple[str, ...] = ("none", "occluded", "out_of_frame", "unannotated")

#: Bump when the layout of cached arrays changes, so stale caches are rebuilt.
CACHE_VERSION = 1


# --------------------------------------------------------------------------- reading files
def _open_image(path: Path) -> Image.Image:
    path = Path(path)
    if not path.is_file():
        raise DatasetLayoutError(f"missing file {path}")
    try:
        image = Image.open(path)
        image.load()  # decode fully now, so truncation is detected here
    except (OSError, UnidentifiedImageError, SyntaxError, ValueError) as error:
        raise CorruptFileError(f"cannot decode image {path}: {error}") from error
    return image


def read_image(path: str | Path) -> np.ndarray:
    """An image file as (H, W, 3) uint8 RGB; missing → DatasetLayoutError, corrupt → CorruptFileError."""
    image = _open_image(Path(path))
    if image.mode != "RGB":
        image = image.convert("RGB")
    return np.asarray(image, dtype=np.uint8)


def read_raw_image(path: str | Path) -> np.ndarray:
    """An image file's stored values: (H, W) or (H, W, C), uint8 or uint16 (16-bit PNGs), no conversion."""
    image = _open_image(Path(path))
    array = np.asarray(image)
    if image.mode.startswith("I;16"):
        array = array.astype(np.uint16)
    return array


def read_text_array(path: str | Path, shape: tuple[int, ...], delimiter: str = ",") -> np.ndarray:
    """Numbers from a small text file reshaped to ``shape`` (float64); errors name the file."""
    path = Path(path)
    if not path.is_file():
        raise DatasetLayoutError(f"missing file {path}")
    try:
        text = path.read_text().replace("\n", delimiter)
        values = np.array([float(v) for v in text.split(delimiter) if v.strip()], dtype=np.float64)
    except (OSError, UnicodeDecodeError, ValueError) as error:
        raise CorruptFileError(f"cannot parse numbers in {path}: {error}") from error
    if values.size != int(np.prod(shape)):
        raise CorruptFileError(
            f"{path} holds {values.size} numbers, expected {int(np.prod(shape))} (shape {shape})"
        )
    return values.reshape(shape)


def read_json(path: str | Path):
    """A JSON file; missing → DatasetLayoutError, truncated/invalid → CorruptFileError naming it."""
    path = Path(path)
    if not path.is_file():
        raise DatasetLayoutError(f"missing file {path}")
    try:
        with open(path, "rb") as handle:
            return json.load(handle)
    except (ValueError, UnicodeDecodeError) as error:
        raise CorruptFileError(f"cannot parse JSON file {path}: {error}") from error


# --------------------------------------------------------------------------- layout errors
def layout_error(info: DatasetInfo, root: str | Path, problem: str) -> DatasetLayoutError:
    """A DatasetLayoutError stating the problem, the expected layout and the download page."""
    return DatasetLayoutError(
        f"{info.title} at {root}: {problem}\n"
        f"Expected layout under data_root:\n{info.layout.rstrip()}\n"
        f"Download it from {info.url} (licence: {info.licence})."
    )


def split_note(split: str | None) -> str:
    """`` (needed by split 'x')`` for a layout problem of one split; empty for the whole copy."""
    return "" if split is None else f" (needed by split {split!r})"


def require_files(
    root: str | Path, expected: Iterable[str], info: DatasetInfo, split: str | None = None
) -> None:
    """Raise :func:`layout_error` listing every path in ``expected`` (relative to root) that is
    missing; ``split`` (the split those paths are for, if only one) is named in the message."""
    root = Path(root)
    if not root.is_dir():
        raise layout_error(info, root, "the folder does not exist")
    missing = [rel for rel in expected if not (root / rel).exists()]
    if missing:
        raise layout_error(info, root, "missing " + ", ".join(missing) + split_note(split))


def check_split(info: DatasetInfo, split: str | None) -> None:
    """ValueError unless ``split`` is None (the whole copy) or one of ``info.splits``."""
    if split is not None and split not in info.splits:
        raise ValueError(
            f"{info.title} has no split {split!r}; its splits are {', '.join(info.splits)}"
        )


# --------------------------------------------------------------------------- geometry
def intrinsics(fx: float, fy: float, cx: float, cy: float) -> np.ndarray:
    """The (3, 3) pinhole camera matrix."""
    return np.array([[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]], dtype=np.float64)


def project(kp3d: np.ndarray, K: np.ndarray) -> np.ndarray:
    """Pinhole projection of camera-frame points (..., J, 3) to pixels (..., J, 2).

    ``K`` is (3, 3) or batched (..., 3, 3) matching the leading axes of ``kp3d``."""
    kp3d = np.asarray(kp3d, dtype=np.float64)
    uvw = kp3d @ np.swapaxes(np.asarray(K, dtype=np.float64), -1, -2)
    return uvw[..., :2] / uvw[..., 2:3]


def bbox_from_keypoints(kp2d: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """Tight (x, y, w, h) box of the 2D keypoints (those where ``mask`` is True); NaNs if none."""
    kp2d = np.asarray(kp2d, dtype=np.float64).reshape(-1, 2)
    if mask is not None:
        kp2d = kp2d[np.asarray(mask, dtype=bool).reshape(-1)]
    kp2d = kp2d[np.isfinite(kp2d).all(axis=1)]
    if len(kp2d) == 0:
        return np.full(4, np.nan, dtype=np.float32)
    lo, hi = kp2d.min(axis=0), kp2d.max(axis=0)
    return np.array([lo[0], lo[1], hi[0] - lo[0], hi[1] - lo[1]], dtype=np.float32)


def in_frame(kp2d: np.ndarray, width: int, height: int) -> np.ndarray:
    """Which keypoints lie inside a ``width`` x ``height`` image (pixel centres at integers)."""
    kp2d = np.asarray(kp2d)
    return (
        (kp2d[..., 0] >= -0.5) & (kp2d[..., 0] < width - 0.5)
        & (kp2d[..., 1] >= -0.5) & (kp2d[..., 1] < height - 0.5)
    )


# --------------------------------------------------------------------------- caching
_MEMORY: dict[str, dict[str, np.ndarray]] = {}
_LOCK = threading.Lock()


def _fingerprint(name: str, sources: Sequence[Path], extra: str) -> str:
    parts = [name, str(CACHE_VERSION), extra]
    for source in sources:
        stat = Path(source).stat()
        parts += [str(Path(source).resolve()), str(stat.st_size), str(stat.st_mtime_ns)]
    return hashlib.sha1("\n".join(parts).encode()).hexdigest()[:16]


def cached_arrays(
    name: str,
    sources: Sequence[Path],
    build: Callable[[], dict[str, np.ndarray]],
    extra: str = "",
) -> dict[str, np.ndarray]:
    """Parse annotation files once: ``build()`` runs only when no cache matches the sources.

    The result (a dict of numpy arrays, no pickled objects) is kept in memory for the process and
    written atomically to ``cache_dir()/formats/<name>-<fingerprint>.npz``; the fingerprint covers
    each source file's resolved path, size and modification time, plus ``extra`` (e.g. options).
    """
    key = f"{name}-{_fingerprint(name, sources, extra)}"
    with _LOCK:
        if key in _MEMORY:
            return _MEMORY[key]
    path = cache_dir() / "formats" / f"{key}.npz"
    arrays = None
    if path.is_file():
        try:
            with np.load(path, allow_pickle=False) as data:
                arrays = {k: data[k] for k in data.files}
        except (OSError, ValueError):
            arrays = None  # an unreadable cache file is rebuilt below
    if arrays is None:
        arrays = {k: np.asarray(v) for k, v in build().items()}
        write_npz_atomic(path, arrays)
    with _LOCK:
        _MEMORY[key] = arrays
    return arrays


# --------------------------------------------------------------------------- lazy sequences
class SampleSequence(Sequence):
    """A lazy, indexable sequence of canonical samples: subclasses implement ``__len__`` and
    ``_sample(index)``; nothing is decoded until an item is asked for."""

    def __getitem__(self, index):
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        index = int(index)
        n = len(self)
        if index < 0:
            index += n
        if not 0 <= index < n:
            raise IndexError(f"index {index} out of range for {n} samples")
        return self._sample(index)

    def _sample(self, index: int) -> dict:  # pragma: no cover - abstract
        raise NotImplementedError


#: The split of a unit (a sequence folder) with no official split, by :func:`hash_split`: the
#: first split whose bound exceeds the unit's hash fraction (80 / 10 / 10 %).
HASH_SPLIT_BOUNDS: dict[str, float] = {"train": 0.8, "val": 0.9, "test": 1.0}


def hash_fraction(key: str) -> float:
    """``key``'s SHA-256 read as a number in [0, 1): stable across runs, machines and Python
    versions (unlike the salted built-in ``hash``)."""
    return int.from_bytes(hashlib.sha256(key.encode("utf-8")).digest()[:8], "big") / 2.0**64


def hash_split(key: str) -> str:
    """The split of the unit named ``key`` under :data:`HASH_SPLIT_BOUNDS`: the same whatever
    other units a copy of the dataset holds, and needing no file list."""
    fraction = hash_fraction(key)
    return next(split for split, bound in HASH_SPLIT_BOUNDS.items() if fraction < bound)
