"""``handlib datasets``: which real datasets handlib reads, whether a copy is arranged right, and
what one sample's labels are.

- ``handlib datasets [list] [--json]``: every dataset in ``DATASET_MODULES`` with its modality,
  joints, splits, licence and download page, read from each module's ``INFO``;
- ``handlib datasets check NAME --root PATH [--split S]``: validates the layout, counts the samples
  of each split and decodes the first and last sample of each;
- ``handlib datasets show NAME --root PATH [--split S] --index I [--json]``: one canonical
  sample's labels (kp2d, kp3d, visible, K, side, bbox, and the native joints where the dataset
  has its own joint set).

Dataset errors (missing files, corrupt files) exit with status 2: the problem on the first line,
then, for a missing or misarranged copy, the expected layout as it is laid out and the download
page.
"""
from __future__ import annotations

import argparse
import dataclasses
import json

import numpy as np

from handlib.cli import UserError
from handlib.data.formats import (
    CorruptFileError,
    DatasetLayoutError,
    all_dataset_info,
    check_layout,
    dataset_info,
    open_dataset,
)
from handlib.skeleton import JOINT_NAMES

#: Sample fields ``show`` prints, in this order, when the sample has them.
LABEL_FIELDS: tuple[str, ...] = (
    "kp2d", "kp3d", "visible", "joint_valid", "hand_valid", "K", "side", "bbox",
    "joint_names_native", "kp2d_native", "kp3d_native",
)


def _user_error(error: Exception) -> UserError:
    """A dataset error as a user error, its text as it is: a layout message keeps the expected
    layout on its own lines (``handlib.cli`` prints the first line after the command's name)."""
    return UserError(str(error).rstrip())


def _jsonable(value):
    """numpy values → JSON values; NaN (an unannotated joint) → null."""
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (float, np.floating)):
        return None if not np.isfinite(value) else float(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    return value


def sample_labels(sample: dict) -> dict:
    """The label fields of a canonical sample as JSON-ready values (joint names included)."""
    labels = {"joint_names": list(JOINT_NAMES)}
    labels.update({key: _jsonable(sample[key]) for key in LABEL_FIELDS if key in sample})
    labels["meta"] = {
        key: _jsonable(value)
        for key, value in sample.get("meta", {}).items()
        if isinstance(value, (str, int, float, bool, np.generic, type(None)))
    }
    return labels


def _split_of(name: str, split: str | None) -> str:
    return split if split is not None else next(iter(dataset_info(name).splits))


def list_datasets(args: argparse.Namespace) -> int:
    infos = all_dataset_info()
    if getattr(args, "json", False):
        print(json.dumps([dataclasses.asdict(info) for info in infos], indent=2))
        return 0
    for info in infos:
        width, height = info.resolution
        splits = ", ".join(f"{split} {size:,}" for split, size in info.splits.items())
        print(f"{info.name} — {info.title}")
        print(
            f"  {info.modality}, {width}x{height}, {info.num_joints} joints, {info.hands} hand(s); "
            f"papers: {', '.join(info.papers) or 'none of the five'}"
        )
        print(f"  splits: {splits}")
        print(f"  licence: {info.licence}")
        print(f"  get it: {info.url}")
    return 0


def check_dataset(args: argparse.Namespace) -> int:
    info = dataset_info(args.name)
    splits = [args.split] if args.split else list(info.splits)
    try:
        check_layout(args.name, args.root, args.split)
        print(f"{info.name} at {args.root}: layout ok")
        for split in splits:
            samples = open_dataset(args.name, args.root, split)
            for index in sorted({0, len(samples) - 1}) if len(samples) else []:
                samples[index]
            print(
                f"  {split}: {len(samples):,} samples (published/used: {info.splits[split]:,}); "
                "first and last decode"
            )
    except (DatasetLayoutError, CorruptFileError) as error:
        raise _user_error(error) from None
    return 0


def show_sample(args: argparse.Namespace) -> int:
    split = _split_of(args.name, args.split)
    try:
        samples = open_dataset(args.name, args.root, split)
        if not -len(samples) <= args.index < len(samples):
            raise UserError(f"index {args.index} out of range: {split} has {len(samples)} samples")
        labels = sample_labels(samples[args.index])
    except (DatasetLayoutError, CorruptFileError) as error:
        raise _user_error(error) from None
    labels = {"dataset": args.name, "split": split, "index": args.index, **labels}
    if args.json:
        print(json.dumps(labels))
    else:
        for key, value in labels.items():
            print(f"{key}: {value}")
    return 0


def register_cli(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "datasets", help="list the supported real datasets, check a copy, show a sample",
        description=__doc__.split("\n\n")[0],
    )
    parser.set_defaults(func=list_datasets)
    actions = parser.add_subparsers(dest="action", metavar="ACTION")

    listing = actions.add_parser("list", help="the supported datasets (the default action)")
    listing.add_argument("--json", action="store_true", help="print every DatasetInfo as JSON")
    listing.set_defaults(func=list_datasets)

    check = actions.add_parser("check", help="validate a copy's layout and count its samples")
    check.add_argument("name", help="dataset name, as listed by `handlib datasets`")
    check.add_argument("--root", required=True, help="the copy's data_root")
    check.add_argument("--split", help="check only this split (default: all)")
    check.set_defaults(func=check_dataset)

    show = actions.add_parser("show", help="one canonical sample's labels")
    show.add_argument("name", help="dataset name, as listed by `handlib datasets`")
    show.add_argument("--root", required=True, help="the copy's data_root")
    show.add_argument("--split", help="split (default: the dataset's first)")
    show.add_argument("--index", type=int, required=True, help="sample index within the split")
    show.add_argument("--json", action="store_true", help="print the labels as one JSON object")
    show.set_defaults(func=show_sample)
