"""Real-dataset loaders, one module per dataset, each reading the layout its authors publish.

Every module in ``DATASET_MODULES`` defines

- ``INFO``: a :class:`DatasetInfo` (modality, resolution, joints and their source order, units,
  splits and their sizes with the source of each split, licence, download page, papers using it);
- ``open_split(root, split) -> Sequence[dict]``: a lazy, indexable sequence of canonical samples
  (see ``book/design.md``), joints already in the canonical order of ``handlib.skeleton``;
- ``check_layout(root, split=None) -> None``: raises :class:`DatasetLayoutError` listing the files
  expected, the download page and how to arrange them, when ``root`` is not a valid copy. With a
  ``split`` it asks only for the files that split reads (an RHD copy holding only
  ``evaluation/`` opens "test" and "rcsf_test") and names that split in the message; ``None``
  checks the whole copy. ``open_split`` checks its own split.

``open_dataset`` and ``dataset_info`` are the entry points the rest of handlib uses.
"""
from __future__ import annotations

import importlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

#: Dataset name -> module implementing it.
DATASET_MODULES: dict[str, str] = {
    "rhd": "handlib.data.formats.rhd",
    "stb": "handlib.data.formats.stb",
    "interhand26m": "handlib.data.formats.interhand",
    "freihand": "handlib.data.formats.freihand",
    "ganerated": "handlib.data.formats.ganerated",
    "synthhands": "handlib.data.formats.synthhands",
    "mmpose_coco": "handlib.data.formats.mmpose_coco",
    "nyu": "handlib.data.formats.nyu",
    "icvl": "handlib.data.formats.icvl",
    "msra": "handlib.data.formats.msra",
    "hands2017": "handlib.data.formats.hands2017",
}


class DatasetLayoutError(FileNotFoundError):
    """A dataset folder is missing or not arranged as its authors publish it."""


class CorruptFileError(ValueError):
    """A dataset file exists but cannot be decoded; the message names the file."""


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    title: str
    modality: str  # "rgb", "depth" or "rgb+depth"
    resolution: tuple[int, int]  # (width, height) of the published frames
    num_joints: int  # joints annotated in the published files
    joint_order_source: str  # where the published joint order is documented
    units: str
    splits: dict[str, int]  # split name -> number of samples (as published or as a paper uses it)
    split_source: str  # which paper/documentation defines the splits
    licence: str
    url: str  # official download page
    layout: str  # how to arrange the files under data_root
    papers: tuple[str, ...] = field(default_factory=tuple)
    hands: str = "single"  # "single", "two" or "single+two"


def _module(name: str):
    if name not in DATASET_MODULES:
        raise ValueError(
            f"unknown dataset {name!r}; supported datasets: {', '.join(DATASET_MODULES)}"
        )
    return importlib.import_module(DATASET_MODULES[name])


def dataset_info(name: str) -> DatasetInfo:
    return _module(name).INFO


def all_dataset_info() -> list[DatasetInfo]:
    return [dataset_info(name) for name in DATASET_MODULES]


def _check_split_name(name: str, module, split: str | None) -> None:
    if split is not None and split not in module.INFO.splits:
        raise ValueError(
            f"dataset {name!r} has no split {split!r}; its splits are {', '.join(module.INFO.splits)}"
        )


def check_layout(name: str, root: str | Path, split: str | None = None) -> None:
    """Raise ``DatasetLayoutError`` naming what is missing under ``root``: for ``split`` only what
    that split reads, for ``None`` the whole copy; an unknown split is a ValueError."""
    module = _module(name)
    _check_split_name(name, module, split)
    module.check_layout(Path(root), split)


def open_dataset(name: str, root: str | Path, split: str, **options) -> Sequence[dict]:
    """A lazy sequence of canonical samples of ``split`` of dataset ``name`` under ``root``; only
    the files of ``split`` need to be there.

    ``options`` go to the module's ``open_split`` (e.g. RHD ``hands="both"``, STB ``camera="BB_left"``).
    ``"<split>:val"`` and ``"<split>:fit"`` are a seeded held-out part of ``split`` and the rest
    (:func:`held_out_rows`), for datasets without a validation split.
    """
    module = _module(name)
    root = Path(root)
    base, part = held_out_part(split)
    _check_split_name(name, module, base)
    module.check_layout(root, base)
    samples = module.open_split(root, base, **options)
    return samples if part is None else HeldOut(samples, held_out_rows(len(samples), part))


#: ``<split>:val`` is a seeded ``HOLDOUT_FRACTION`` of ``<split>``'s samples and ``<split>:fit``
#: the rest: a validation split for datasets that publish none (ICVL, NYU, MSRA), so that no
#: epoch or model is ever chosen on the test split.
HOLDOUT_FRACTION = 0.05
HOLDOUT_SEED = 0
HOLDOUT_PARTS = ("fit", "val")


def held_out_part(split: str) -> tuple[str, str | None]:
    """``"train:val"`` -> ``("train", "val")``; a plain split -> ``(split, None)``."""
    base, sep, part = split.partition(":")
    if sep and part not in HOLDOUT_PARTS:
        raise ValueError(f"split {split!r}: after ':' comes 'fit' (the training part) or 'val' "
                         f"(the seeded {HOLDOUT_FRACTION:.0%} held out for validation)")
    return base, (part if sep else None)


def held_out_rows(n: int, part: str) -> np.ndarray:
    """The sorted sample indices of ``part`` (``fit`` or ``val``) of a split of ``n`` samples."""
    n_val = max(1, int(round(n * HOLDOUT_FRACTION))) if n > 1 else 0
    val = np.sort(np.random.default_rng(HOLDOUT_SEED).permutation(n)[:n_val])
    return val if part == "val" else np.setdiff1d(np.arange(n), val)


class HeldOut(Sequence):
    """The samples of a split at ``rows`` (see :func:`held_out_rows`)."""

    def __init__(self, samples: Sequence[dict], rows: np.ndarray):
        self.samples, self.rows = samples, rows

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index: int) -> dict:
        return self.samples[int(self.rows[index])]
