"""Evaluate published depth-benchmark predictions (ICVL, NYU, MSRA) the way the field does.

The folder read here is laid out like the public ``evaluation/`` folder of
awesome-hand-pose-estimation (github.com/xinghaochen/awesome-hand-pose-estimation)::

    evaluation/
      groundtruth/<dataset>/<dataset>_test_groundtruth_label.txt   one frame per line: u v d × J
      groundtruth/<dataset>/<dataset>_test_list.txt                frame names, same order
      groundtruth/<dataset>/<subset>.txt                           optional parts of the test set:
                                                                   frame name, then u v d × J
      results/<dataset>/<method file>.txt                          one frame per line: u v d × J

Every file holds pixel coordinates ``u, v`` and depth ``d`` (mm). The evaluation follows that
repository's ``get_errors``/``pixel2world`` exactly: each joint goes to camera space with the
dataset's intrinsics, ``x = (u − c_x) d / f_x``, ``y = (v − c_y) d / f_y``, ``z = d``; a joint's
error is the Euclidean distance to the ground truth (mm); the "mean error" is the mean over all
joints and frames (CrossInfoNet Sec. 4.1, "average 3D distance error"); the success-frame rate
counts frames whose *maximum* joint error is ≤ the threshold (its ``max-frame`` curve, Taylor et
al. 2012, CrossInfoNet Fig. 7).

A prediction file must have one line per test frame. A file whose frame count equals that of a
known subset (e.g. ICVL's ``test_seq_1.txt``, 702 of the 1596 frames) is evaluated on that
subset and the result says so; any other count, a wrong number of columns or a non-finite value
is an error naming the file and line.

Which file stands for which cell of CrossInfoNet's Table 2 is data (``published_predictions`` in
``handlib/configs/metrics.yaml``), with the agreement expected with the paper's number and a
note wherever the mapping or the agreement is not obvious.
``table2_comparison`` recomputes every mapped cell; ``handlib eval-depth`` is the command line.
"""
from __future__ import annotations

import argparse
import json
import math
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from handlib import metrics, papers
from handlib.data.formats.depth import uvd_to_xyz

SOURCE_URL = "https://github.com/xinghaochen/awesome-hand-pose-estimation/tree/master/evaluation"

#: Success-frame thresholds the CLI reports (mm).
SUCCESS_THRESHOLDS_MM: tuple[int, ...] = (10, 20, 30, 40, 50, 80)


@dataclass(frozen=True)
class Benchmark:
    """A depth benchmark's camera and joint layout, in the order of its published files."""

    name: str
    title: str
    intrinsics: tuple[float, float, float, float]  # f_x, f_y, c_x, c_y, as the code's get_param
    joint_names: tuple[str, ...]  # file order; names as in its compute_error.py
    bones: tuple[tuple[int, int], ...]  # (parent, child) in file indices, for drawing
    joint_finger: tuple[str, ...]  # finger of each joint (handlib.skeleton.FINGERS or "palm")
    display_order: tuple[int, ...]  # joint order of per-joint plots (that of compute_error.py)

    @property
    def num_joints(self) -> int:
        return len(self.joint_names)


def _chains(root: int, fingers: list[tuple[str, list[int]]]) -> tuple[tuple[int, int], ...]:
    """Bones along each finger's joints (base first), each finger hanging from ``root``."""
    bones = []
    for _, joints in fingers:
        chain = [root] + joints
        bones += list(zip(chain[:-1], chain[1:]))
    return tuple(bones)


_ICVL_FINGERS = [("thumb", [1, 2, 3]), ("index", [4, 5, 6]), ("middle", [7, 8, 9]),
                 ("ring", [10, 11, 12]), ("little", [13, 14, 15])]
_NYU_FINGERS = [("little", [1, 0]), ("ring", [3, 2]), ("middle", [5, 4]), ("index", [7, 6]),
                ("thumb", [10, 9, 8])]
_MSRA_FINGERS = [("index", [1, 2, 3, 4]), ("middle", [5, 6, 7, 8]), ("ring", [9, 10, 11, 12]),
                 ("little", [13, 14, 15, 16]), ("thumb", [17, 18, 19, 20])]


def _finger_of(num_joints: int, fingers: list[tuple[str, list[int]]]) -> tuple[str, ...]:
    finger = ["palm"] * num_joints
    for name, joints in fingers:
        for j in joints:
            finger[j] = name
    return tuple(finger)


BENCHMARKS: dict[str, Benchmark] = {
    "icvl": Benchmark(
        name="icvl", title="ICVL", intrinsics=(240.99, 240.96, 160.0, 120.0),
        joint_names=("Palm", "Thumb.R", "Thumb.M", "Thumb.T", "Index.R", "Index.M", "Index.T",
                     "Mid.R", "Mid.M", "Mid.T", "Ring.R", "Ring.M", "Ring.T", "Pinky.R",
                     "Pinky.M", "Pinky.T"),
        bones=_chains(0, _ICVL_FINGERS), joint_finger=_finger_of(16, _ICVL_FINGERS),
        display_order=tuple(range(16)),
    ),
    # NYU: 14 of the 36 annotated joints (ids 0 3 6 9 12 15 18 21 24 25 27 30 31 32), tips first.
    "nyu": Benchmark(
        name="nyu", title="NYU", intrinsics=(588.03, -587.07, 320.0, 240.0),
        joint_names=("Pinky.T", "Pinky.R", "Ring.T", "Ring.R", "Mid.T", "Mid.R", "Index.T",
                     "Index.R", "Thumb.T", "Thumb.R2", "Thumb.R1", "Wrist2", "Wrist1", "Palm"),
        bones=_chains(13, _NYU_FINGERS) + ((13, 11), (13, 12)),
        joint_finger=_finger_of(14, _NYU_FINGERS), display_order=tuple(range(13, -1, -1)),
    ),
    "msra": Benchmark(
        name="msra", title="MSRA", intrinsics=(241.42, 241.42, 160.0, 120.0),
        joint_names=("Wrist", "Index.M", "Index.P", "Index.D", "Index.T", "Mid.M", "Mid.P",
                     "Mid.D", "Mid.T", "Ring.M", "Ring.P", "Ring.D", "Ring.T", "Pinky.M",
                     "Pinky.P", "Pinky.D", "Pinky.T", "Thumb.M", "Thumb.P", "Thumb.D", "Thumb.T"),
        bones=_chains(0, _MSRA_FINGERS), joint_finger=_finger_of(21, _MSRA_FINGERS),
        display_order=tuple(range(21)),
    ),
}


def benchmark(dataset: str) -> Benchmark:
    if dataset not in BENCHMARKS:
        raise ValueError(
            f"unknown depth benchmark {dataset!r}; choose one of {', '.join(BENCHMARKS)}"
        )
    return BENCHMARKS[dataset]


# ----------------------------------------------------------------------------- reading files


def read_joint_file(
    path: str | Path, num_joints: int, named: bool = False
) -> tuple[list[str] | None, np.ndarray]:
    """Read a one-frame-per-line ``u v d`` file into ``(N, num_joints, 3)``.

    With ``named`` each line starts with the frame's name (subset files such as ICVL's
    ``test_seq_1.txt``), returned as the first value. Raises ``ValueError`` naming the file and
    line for a wrong number of columns or a non-finite value.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    expected = 3 * num_joints
    names: list[str] = []
    rows: list[list[str]] = []
    # read bytes: text mode would turn the "\r\r\n" line ends of some files into blank lines
    lines = path.read_bytes().decode().split("\n")
    while lines and not lines[-1].strip():
        lines.pop()
    for number, line in enumerate(lines, start=1):
        tokens = line.split()
        if named and tokens:
            names.append(tokens[0])
            tokens = tokens[1:]
        if len(tokens) != expected:
            raise ValueError(
                f"{path}, line {number}: expected {expected} numbers ({num_joints} joints × "
                f"u, v, d){' after the frame name' if named else ''}, found {len(tokens)}"
            )
        rows.append(tokens)
    if not rows:
        raise ValueError(f"{path}: the file is empty")
    try:
        values = np.array(rows, dtype=np.float64)
    except ValueError:
        for number, tokens in enumerate(rows, start=1):
            try:
                np.array(tokens, dtype=np.float64)
            except ValueError as error:
                raise ValueError(f"{path}, line {number}: not a number ({error})") from None
        raise
    finite = np.isfinite(values).all(axis=1)
    if not finite.all():
        number = int(np.argmin(finite)) + 1
        raise ValueError(
            f"{path}, line {number}: holds NaN or inf; every joint needs finite u, v, d"
        )
    return (names if named else None), values.reshape(len(values), num_joints, 3)


@dataclass(frozen=True)
class GroundTruth:
    dataset: str
    uvd: np.ndarray  # (N, J, 3)
    frame_names: tuple[str, ...] | None  # from <dataset>_test_list.txt when present
    subsets: dict[str, np.ndarray] = field(default_factory=dict)  # subset name -> frame indices


def _layout_error(root: Path, dataset: str, what: str) -> FileNotFoundError:
    return FileNotFoundError(
        f"{what}. Expected an evaluation folder laid out like {SOURCE_URL}: "
        f"{root}/groundtruth/{dataset}/{dataset}_test_groundtruth_label.txt (and "
        f"{dataset}_test_list.txt, plus optional subset files such as test_seq_1.txt) and "
        f"{root}/results/{dataset}/*.txt; download that folder and pass it as --eval-root"
    )


@lru_cache(maxsize=8)
def _load_ground_truth(root: Path, dataset: str, _version: tuple) -> GroundTruth:
    spec = benchmark(dataset)
    folder = root / "groundtruth" / dataset
    label_file = folder / f"{dataset}_test_groundtruth_label.txt"
    if not label_file.is_file():
        raise _layout_error(root, dataset, f"no ground truth for {dataset}: {label_file} missing")
    _, uvd = read_joint_file(label_file, spec.num_joints)
    list_file = folder / f"{dataset}_test_list.txt"
    frame_names = None
    if list_file.is_file():
        frame_names = tuple(n.strip() for n in list_file.read_text().splitlines() if n.strip())
        if len(frame_names) != len(uvd):
            raise ValueError(
                f"{list_file}: {len(frame_names)} names for {len(uvd)} ground-truth frames"
            )
    subsets = {}
    for subset_file in sorted(folder.glob("*.txt")):
        if subset_file in (label_file, list_file):
            continue
        if frame_names is None:
            raise _layout_error(root, dataset, f"{subset_file} needs {list_file} to place it")
        names, subset_uvd = read_joint_file(subset_file, spec.num_joints, named=True)
        position = {name: i for i, name in enumerate(frame_names)}
        missing = [n for n in names if n not in position]
        if missing:
            raise ValueError(f"{subset_file}: frame {missing[0]!r} is not in {list_file.name}")
        indices = np.array([position[n] for n in names])
        if not np.allclose(subset_uvd, uvd[indices], atol=1e-3):
            raise ValueError(
                f"{subset_file}: its labels differ from {label_file.name} for the same frames"
            )
        subsets[subset_file.stem] = indices
    return GroundTruth(dataset, uvd, frame_names, subsets)


def load_ground_truth(eval_root: str | Path, dataset: str) -> GroundTruth:
    """The test-set ground truth of ``dataset`` under ``eval_root``, with its known subsets.

    Parsed once per version of the folder's files (cached on their modification times).
    """
    root = Path(eval_root).resolve()
    folder = root / "groundtruth" / dataset
    version = tuple((p.name, p.stat().st_mtime_ns) for p in sorted(folder.glob("*.txt")))
    return _load_ground_truth(root, dataset, version)


def prediction_files(eval_root: str | Path, dataset: str) -> list[Path]:
    """Every prediction file in ``results/<dataset>/``, sorted by name."""
    folder = Path(eval_root) / "results" / dataset
    if not folder.is_dir():
        raise _layout_error(Path(eval_root), dataset, f"no prediction folder {folder}")
    return sorted(folder.glob("*.txt"))


# ----------------------------------------------------------------------------- evaluation


@dataclass(frozen=True)
class DepthEvaluation:
    """One prediction file evaluated against the ground truth (all distances in mm)."""

    dataset: str
    prediction: Path
    subset: str | None  # None: the full test set
    ground_truth_frames: int
    errors: np.ndarray  # (N, J) per-joint distances, mm

    @property
    def frames(self) -> int:
        return len(self.errors)

    @property
    def mean_error(self) -> float:
        return float(self.errors.mean())

    def per_joint(self) -> dict[str, float]:
        names = benchmark(self.dataset).joint_names
        return {name: float(e) for name, e in zip(names, self.errors.mean(axis=0))}

    def exact_fraction(self, tolerance_mm: float = 0.01) -> dict[str, float]:
        """Per joint, the fraction of frames whose prediction equals the ground truth.

        "Equal" means within ``tolerance_mm``; a joint at 1.0 was copied from the labels (e.g. a
        method anchored at the labelled palm), not estimated.
        """
        names = benchmark(self.dataset).joint_names
        return {n: float(f) for n, f in zip(names, (self.errors <= tolerance_mm).mean(axis=0))}

    def success_frames(self, thresholds=SUCCESS_THRESHOLDS_MM, mode: str = "max") -> np.ndarray:
        """Fractions of frames with max (or mean) joint error ≤ each threshold (mm)."""
        return metrics.success_frames(self.errors, thresholds, mode=mode)

    def coverage(self) -> str:
        if self.subset is None:
            return f"{self.frames} frames (the full test set)"
        return (f"{self.frames} of {self.ground_truth_frames} frames: only subset {self.subset!r} "
                "of the test set (the file covers only that part)")

    def to_dict(self) -> dict:
        success = self.success_frames()
        return {
            "dataset": self.dataset,
            "prediction": str(self.prediction),
            "frames": self.frames,
            "ground_truth_frames": self.ground_truth_frames,
            "subset": self.subset,
            "mean_error_mm": self.mean_error,
            "success_frames_pct": {f"{t:g}": 100.0 * float(s)
                                   for t, s in zip(SUCCESS_THRESHOLDS_MM, success)},
            "per_joint_error_mm": self.per_joint(),
        }


def _match_frames(gt: GroundTruth, path: Path, frames: int) -> tuple[str | None, np.ndarray]:
    """Which ground-truth frames a file of ``frames`` lines covers: all of them or one subset."""
    if frames == len(gt.uvd):
        return None, np.arange(frames)
    matches = [name for name, idx in gt.subsets.items() if len(idx) == frames]
    if len(matches) == 1:
        return matches[0], gt.subsets[matches[0]]
    known = ", ".join(f"{name}: {len(idx)}" for name, idx in gt.subsets.items()) or "none"
    why = "several subsets have that size" if matches else "that matches no known subset"
    raise ValueError(
        f"{path}: {frames} frames, but the {gt.dataset} ground truth has {len(gt.uvd)} "
        f"(known subsets: {known}); {why}. A prediction file needs one line per test frame in "
        f"the order of groundtruth/{gt.dataset}/{gt.dataset}_test_list.txt"
    )


def evaluate_predictions(
    eval_root: str | Path, dataset: str, prediction: str | Path
) -> DepthEvaluation:
    """Per-joint 3D errors of one published prediction file (mm), as the public code computes."""
    spec = benchmark(dataset)
    gt = load_ground_truth(eval_root, dataset)
    path = Path(prediction)
    _, pred_uvd = read_joint_file(path, spec.num_joints)
    subset, indices = _match_frames(gt, path, len(pred_uvd))
    pred_xyz = uvd_to_xyz(pred_uvd, *spec.intrinsics)
    gt_xyz = uvd_to_xyz(gt.uvd[indices], *spec.intrinsics)
    errors, _ = metrics.joint_errors(pred_xyz, gt_xyz)
    return DepthEvaluation(dataset, path, subset, len(gt.uvd), errors)


# ----------------------------------------------------------------------------- CrossInfoNet Table 2

#: Agreement of a recomputed mean error with the paper's printed value (d = its decimals):
#: "rounds": it rounds to the printed value; "within": it is within one unit of the last printed
#: digit (10^-d, the tolerance of the issue) without rounding to it; "differs": beyond that.
AGREEMENTS: tuple[str, ...] = ("rounds", "within", "differs")



def published_predictions() -> list[dict]:
    """Which published file stands for which cell of CrossInfoNet Table 2 (data, with notes).

    Read from ``published_predictions`` in ``handlib/configs/metrics.yaml``: one entry per file
    with ``dataset``, ``file``, ``row`` and ``column`` of the paper's table (``row: null`` for a
    file no cell uses), the ``agreement`` expected, and a ``note`` where the mapping or the
    agreement needs explaining.
    """
    text = (resources.files("handlib") / "configs" / "metrics.yaml").read_text(encoding="utf-8")
    entries = yaml.safe_load(text)["published_predictions"]
    for entry in entries:
        if entry["row"] is not None and entry["agreement"] not in AGREEMENTS:
            raise ValueError(f"metrics.yaml: {entry['file']}: agreement not in {AGREEMENTS}")
        if entry["agreement"] in ("within", "differs") and not entry.get("note"):
            raise ValueError(f"metrics.yaml: {entry['file']}: '{entry['agreement']}' needs a note")
    return entries


def printed_decimals(value: float) -> int:
    """Decimals the paper printed for ``value`` (Table 2 prints no trailing zeros)."""
    for decimals in range(4):
        if abs(round(value, decimals) - value) < 1e-9:
            return decimals
    return 4


def agreement(recomputed: float, printed: float) -> str:
    """``"rounds"``, ``"within"`` (one unit of the last printed digit) or ``"differs"``."""
    unit = 10.0 ** -printed_decimals(printed)
    difference = abs(recomputed - printed)
    if difference <= unit / 2 + 1e-9:
        return "rounds"
    return "within" if difference <= unit + 1e-9 else "differs"


def table2_evaluations(eval_root: str | Path) -> list[tuple[dict, DepthEvaluation]]:
    """Every :func:`published_predictions` entry whose file exists, with its evaluation."""
    evaluations = []
    for entry in published_predictions():
        path = Path(eval_root) / "results" / entry["dataset"] / entry["file"]
        if path.is_file():
            evaluations.append((entry, evaluate_predictions(eval_root, entry["dataset"], path)))
    return evaluations


def fig7_series(evaluations: list[tuple[dict, DepthEvaluation]], dataset: str,
               thresholds) -> tuple[dict, dict, list[str]]:
    """CrossInfoNet Fig. 7 from the published predictions of ``dataset``: method -> its
    success-frame fractions at ``thresholds`` (worst joint per frame), method -> its per-joint
    mean errors, both in the benchmark's display order, and the joint names in that order. A
    file covering one subset of the test set is labelled so ("DeepPrior (test_seq_1 only)")."""
    spec = BENCHMARKS[dataset]
    order = list(spec.display_order)
    runs = [(e, r) for e, r in evaluations if e["dataset"] == dataset and e["row"]]
    label = {e["row"]: e["row"] + (f" ({r.subset} only)" if r.subset else "") for e, r in runs}
    curves = {label[e["row"]]: r.success_frames(thresholds) for e, r in runs}
    per_joint = {label[e["row"]]: r.errors.mean(axis=0)[order] for e, r in runs}
    return curves, per_joint, [spec.joint_names[j] for j in order]


def table2_comparison(
    eval_root: str | Path, evaluations: list[tuple[dict, DepthEvaluation]] | None = None
) -> pd.DataFrame:
    """CrossInfoNet Table 2, recomputed from every mapped prediction file under ``eval_root``.

    One row per entry of :func:`published_predictions` whose file exists: paper cell, paper value,
    recomputed value, difference, frames evaluated (and subset), observed and expected agreement,
    and the note. Paper values come from ``handlib.papers.table("crossinfonet", "2")``. Pass
    ``evaluations`` (from :func:`table2_evaluations`) to reuse them.
    """
    paper = papers.table("crossinfonet", "2")
    rows = []
    for entry, result in evaluations if evaluations is not None else table2_evaluations(eval_root):
        printed = float(paper.loc[entry["row"], entry["column"]]) if entry["row"] else math.nan
        rows.append({
            "dataset": BENCHMARKS[entry["dataset"]].title,
            "file": entry["file"],
            "paper row": entry["row"],
            "paper column": entry["column"] if entry["row"] else None,
            "paper (mm)": printed,
            "recomputed (mm)": result.mean_error,
            "difference (mm)": result.mean_error - printed,
            "frames": result.frames,
            "subset": result.subset,
            "agreement": agreement(result.mean_error, printed) if entry["row"] else None,
            "expected": entry["agreement"],
            "note": entry.get("note", ""),
        })
    return pd.DataFrame(rows)


def table2_reproduced(comparison: pd.DataFrame) -> pd.DataFrame:
    """The recomputed values laid out like Table 2: paper rows × the dataset each file is on.

    A value sits in the column of the dataset its file belongs to, even where the paper printed
    it elsewhere (Feedback and Lie-X), for ``handlib.report.paper_vs_reproduced``.
    """
    mapped = comparison[comparison["paper row"].notna()]
    table = mapped.pivot(index="paper row", columns="dataset", values="recomputed (mm)")
    table.index.name, table.columns.name = "Method", None
    table.attrs = {"tested_on": "published predictions (awesome-hand-pose-estimation evaluation/)"}
    return table


# ----------------------------------------------------------------------------- command line


def _format_text(result: DepthEvaluation) -> str:
    spec = benchmark(result.dataset)
    lines = [
        f"{spec.title}: {result.prediction.name}",
        f"frames: {result.coverage()}",
        f"mean 3D error: {result.mean_error:.3f} mm",
        "success frames (max joint error <= threshold): " + ", ".join(
            f"{t:g} mm {100 * s:.1f}%"
            for t, s in zip(SUCCESS_THRESHOLDS_MM, result.success_frames())),
        "per-joint mean error (mm):",
    ]
    per_joint = result.per_joint()
    width = max(map(len, per_joint))
    lines += [f"  {name:<{width}}  {error:7.3f}" for name, error in per_joint.items()]
    return "\n".join(lines)


def _run_eval_depth(args: argparse.Namespace) -> int:
    result = evaluate_predictions(args.eval_root, args.dataset, args.pred)
    print(json.dumps(result.to_dict(), indent=1) if args.json else _format_text(result))
    return 0


def register_cli(subparsers: argparse._SubParsersAction) -> None:
    """``handlib eval-depth --dataset {icvl,nyu,msra} --eval-root PATH --pred FILE [--json]``."""
    parser = subparsers.add_parser(
        "eval-depth", help="mean 3D error and success frames of published depth predictions",
        description="Evaluate one prediction file (u, v, d per joint, one frame per line) against "
                    "the ground truth of an awesome-hand-pose-estimation style evaluation/ folder: "
                    "mean 3D error (mm), success-frame percentages and per-joint errors.",
    )
    parser.add_argument("--dataset", required=True, choices=sorted(BENCHMARKS))
    parser.add_argument("--eval-root", required=True, type=Path, metavar="PATH",
                        help="the evaluation/ folder (holding groundtruth/ and results/)")
    parser.add_argument("--pred", required=True, type=Path, metavar="FILE",
                        help="prediction file, e.g. PATH/results/nyu/CVPR19_NYU_CrossInfoNet.txt")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(func=_run_eval_depth)
