"""Chapter 10, RCSF (Guan et al. 2023): what ``notebooks/10_rcsf.ipynb`` computes from its runs.

The runs, their test predictions, the runs table, the bench cache and the claim machinery are
the shared ``handlib.study``; the runs themselves and the map from the paper's tables to them
are data in ``profiles.yaml``. What is RCSF's own lives here:

- **Scoring**: PCK (RCSF eq. 4) with the threshold a fraction of the hand's bounding-box size
  (``norm_size``, ``handlib.metrics``), over the joints ``eval.joints`` selects (``in_frame``:
  every labelled joint inside the image, the rule validation uses too). Where a profile has
  several seeds, tables show the mean over seeds.
- **Tables** in the paper's layout (rows and columns named as in ``handlib.papers.table("rcsf",
  N)``), shown beside the paper's by :func:`paper_vs_reproduced`: per-joint PCK (Tables 1-2),
  PCK@0.01-0.05 (Table 3), the design choices and the m sweep at PCK@0.02 (Tables 4-5), the
  comparison with other methods (Table 6, our reproduced rows added), speed and size (Table 7),
  plus what the paper does not measure: PCK of visible versus occluded joints, the spread over
  seeds, and whether the paper's own per-joint tables agree with its Table 3.
- **Does it learn?** The mean 2D joint error in pixels (:func:`mean_error_px`, the ``epe_px``
  of validation) against the box centre's (:func:`box_centre_floors`), through the shared
  ``handlib.learning``: :func:`learning_table`, :func:`figure_learning`.
- **Figure selections** by rule, never by hand: Figures 4-5 show the test images with the most
  occluded joints (the paper's subject); Figure 6 the images where "Ours" has the largest mean
  normalised error.
- **Claims**: each claim of ``handlib.papers.claims("rcsf")`` declares in ``paper.yaml`` the runs,
  dataset, PCK threshold and floor it is tested by; ``handlib.claims`` evaluates them with the
  scorer, its resolution check and the floor RCSF registers here (:data:`SCORERS`,
  :data:`RESOLUTIONS`, :data:`FLOORS`). A claim whose threshold is finer than half a heat-map
  cell (:func:`pck_resolution`) is inconclusive, "below resolution".

Choices that change results, written down here because the paper leaves them open:

- *Tables 1-2's threshold.* The paper does not say at which threshold its per-joint tables are
  measured; their means match Table 3's PCK@0.05 for Ours, Ours * and CPN101 but not for the
  other three baselines (:func:`per_joint_consistency` computes it), so we score them at
  PCK@0.05 and say that the match is partial.
- *Evaluation crop.* Every model sees the square of 1.3 times the ground-truth hand box
  (``data.crop_padding``), as is usual for top-down hand pose; the paper does not say how its
  test crops were made. A detector's boxes would lower every model's numbers.
- *GlobalNet only (Table 4, row 1)* is trained on its own (``rcsf_global_only``), our reading of
  "models in (1)"; reading GlobalNet's intermediate heat map of the full model is the other
  reading, not run here.
- *Capacity of the design variants.* Variant (2) (high resolution first) is built from the same
  blocks as ours and ends up larger (:func:`table_capacity` measures both), so Table 4 compares
  designs of unequal capacity, as the paper's own table presumably does; the chapter prints the
  sizes beside the accuracies.
- *CPN's loss* follows RCSF's equations rather than the CPN reference code
  (``handlib.papers.rcsf.losses``).
- *Resolution of a threshold.* A PCK threshold is resolvable when, in input pixels, it is at
  least half a heat-map cell (``data.input_size / data.codec.heatmap_size``, the grid step of
  every model's output): the arg-max cell alone is up to half a cell from the joint even when it
  is the joint's own cell. The decoder's sub-pixel refinement (``handlib.codecs.heatmap2d``) is
  not counted: it narrows that only as well as the heat map's shape around its peak allows,
  which we do not count on for a model trained briefly. At the paper's scale (64² maps from a
  256² input, the crop 1.3 times the hand's box) PCK@0.02 asks for about 3.9 px, above half a
  4-px cell; at 64² input with 16² maps it asks for under a pixel, below it.

Length: one module, because it is the chapter's notebook in code: every table, figure and claim
of ``notebooks/10_rcsf.ipynb`` is one function here, in the chapter's order, all scored by the
one PCK above (the learning check by the pixel error of the same joints); split by concern, a
reader would follow each table across files.
"""
from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from handlib import claims, learning, metrics, papers, report, viz
from handlib.codecs import geometry
from handlib.floors import box_centre_record
from handlib.skeleton import FINGERS, JOINT_NAMES, NUM_JOINTS
from handlib.study import (Record, Study, bench_row, first_records_floors, sample_images,
                           seed_mean)

PAPER_DATASETS: tuple[str, ...] = ("STB", "RHD")
#: Thresholds of Table 3, and the one of Tables 4-6 and of most claims.
TABLE3_THRESHOLDS: tuple[float, ...] = (0.01, 0.02, 0.03, 0.04, 0.05)
MAIN_THRESHOLD = 0.02
#: Below this PCK every compared model misses nearly every joint, so their order is an accident of
#: which few joints happen to land within the threshold, not a property of the architectures
#: (short CPU runs at 64² input sit there for PCK@0.01-0.05).
PCK_FLOOR = 0.05
#: How close a per-joint table's mean must be to Table 3's PCK@0.05 to count as the same
#: evaluation (the paper prints three decimals; 0.005 allows for rounding of 21 values).
CONSISTENCY_TOLERANCE = 0.005


def pck_column(threshold: float) -> str:
    return f"PCK@{threshold:g}"


# ----------------------------------------------------------------------------- scores


def scored(study: Study, p: Record) -> np.ndarray:
    """The joints that count (``eval.joints``, as in validation)."""
    return metrics.joint_mask(p, study.cfg["eval"]["joints"])


def pck_curve(study: Study, p: Record, thresholds) -> np.ndarray:
    """Mean PCK of one run's predictions at each threshold (fractions of the box size)."""
    return metrics.pck_curve(p["kp2d_pred"], p["kp2d"], thresholds, norm=p["norm_size"],
                             mask=scored(study, p))


def pck_at(study: Study, threshold: float):
    """``record -> PCK@threshold``, the score a claim compares."""
    return lambda p: float(pck_curve(study, p, [threshold])[0])


def per_joint_pck(study: Study, p: Record, threshold: float) -> np.ndarray:
    return metrics.pck_per_joint(p["kp2d_pred"], p["kp2d"], threshold, norm=p["norm_size"],
                                 mask=scored(study, p))


def sample_errors(study: Study, p: Record) -> np.ndarray:
    """(N,) mean normalised joint error of each test image over its scored joints."""
    errors, _ = metrics.joint_errors(p["kp2d_pred"], p["kp2d"], mask=scored(study, p),
                                     norm=p["norm_size"])
    with np.errstate(invalid="ignore"):
        return np.nanmean(errors, axis=1)


def mean_error_px(study: Study) -> learning.Score:
    """``record -> its mean 2D joint error in pixels`` over the scored joints: the ``epe_px``
    that validation reports each epoch (``handlib.metrics``' ``pck2d``), so that the learning
    curves and the learning table measure the same thing. Unlike PCK it has no threshold, so it
    tells a model that moved its joints towards the truth from one that did not even where both
    miss every joint at the paper's fine thresholds."""
    return lambda p: float(metrics.epe(p["kp2d_pred"], p["kp2d"], mask=scored(study, p)))


def box_centre_floors(study: Study) -> dict[str, Record]:
    """Dataset -> its floor: the test record of its first run with every joint predicted at the
    centre of the hand's true box (``handlib.floors.box_centre_record``). The crop every model
    sees is centred on that box, so this is what a model gets without looking at the hand."""
    return first_records_floors(study, lambda p, dataset: box_centre_record(p))


def learning_table(study: Study) -> pd.DataFrame:
    """Does each run learn? ``handlib.learning.learning_table`` with :func:`mean_error_px` as
    the score and :func:`box_centre_floors` as the floor: a run learned when its test error is
    below the box centre's by more than the paired-bootstrap interval. (The claims keep their
    own floor, :data:`PCK_FLOOR`.)"""
    return learning.learning_table(study, mean_error_px(study), box_centre_floors(study))


def _mean_pck(study: Study, dataset: str, name: str, threshold: float = MAIN_THRESHOLD) -> float:
    values = [pck_at(study, threshold)(p) for p in study.of(dataset, name)]
    return float(np.mean(values)) if values else np.nan


def _paper_index(table_id: str) -> pd.Index:
    return papers.table("rcsf", table_id).index


# ----------------------------------------------------------------------------- tables


def paper_vs_reproduced(study: Study, table_id: str, reproduced: pd.DataFrame,
                        run_label) -> pd.DataFrame:
    """The paper's Table ``table_id`` beside ``reproduced`` (``handlib.report.paper_vs_reproduced``
    with ``run_label``), its caption ending with the scale the reproduced values were measured
    at (``handlib.learning.scale_text``), so that the miniature is never read as the paper's
    setting."""
    both = report.paper_vs_reproduced(papers.table("rcsf", table_id), reproduced, run_label,
                                      profile=study.profile)
    scale = learning.scale_text(study)
    both.attrs["caption"] = f"{both.attrs['caption']} Reproduced on the {scale}."
    return both


def _per_joint_table(study: Study, table_id: str) -> pd.DataFrame:
    """Table 1 (STB) or 2 (RHD): per-joint PCK at ``study.per_joint_threshold`` per model."""
    dataset = study.dataset_for(study.table(table_id)["datasets"][0])
    threshold = study.cfg["study"]["per_joint_threshold"]
    columns = {label: seed_mean([per_joint_pck(study, p, threshold)
                                 for p in study.of(dataset, name)])
               for label, name in study.group(table_id).items()}
    frame = pd.DataFrame(
        {label: np.broadcast_to(v, (NUM_JOINTS,)) for label, v in columns.items()},
        index=_paper_index(table_id),
    )
    frame.attrs = {"tested_on": study.tested_on(dataset), "profile": study.profile,
                   "threshold": threshold}
    return frame


def table_1(study: Study) -> pd.DataFrame:
    """Table 1: per-joint PCK on STB (its stand-in on the cheap profiles), per model."""
    return _per_joint_table(study, "1")


def table_2(study: Study) -> pd.DataFrame:
    """Table 2: per-joint PCK on RHD (its stand-in on the cheap profiles), per model."""
    return _per_joint_table(study, "2")


def table_3(study: Study) -> pd.DataFrame:
    """Table 3: PCK@0.01-0.05 of the six models, one block per paper dataset."""
    rows = {}
    for paper_dataset in study.table("3")["datasets"]:
        dataset = study.dataset_for(paper_dataset)
        for label, name in study.group("3").items():
            curve = seed_mean([pck_curve(study, p, TABLE3_THRESHOLDS)
                               for p in study.of(dataset, name)])
            rows[(paper_dataset, label)] = np.broadcast_to(curve, (len(TABLE3_THRESHOLDS),))
    frame = pd.DataFrame.from_dict(
        rows, orient="index", columns=[pck_column(t) for t in TABLE3_THRESHOLDS]
    )
    frame.index = pd.MultiIndex.from_tuples(frame.index, names=_paper_index("3").names)
    frame.attrs = {"profile": study.profile}
    return frame


def _by_dataset_columns(study: Study, table_id: str) -> pd.DataFrame:
    """PCK@0.02 of a table's runs, one column per paper dataset (Tables 4 and 6)."""
    group = study.group(table_id)
    frame = pd.DataFrame(
        {paper_dataset: [_mean_pck(study, study.dataset_for(paper_dataset), name)
                         for name in group.values()]
         for paper_dataset in study.table(table_id)["datasets"]},
        index=pd.Index(list(group), name=_paper_index(table_id).name),
    )
    frame.attrs = {"profile": study.profile}
    return frame


def table_4(study: Study) -> pd.DataFrame:
    """Table 4: PCK@0.02 of GlobalNet only, the high-resolution-first variant and ours."""
    return _by_dataset_columns(study, "4")


def table_6(study: Study) -> pd.DataFrame:
    """Table 6 rows we reproduce: PCK@0.02 of our six models ("Ours" matches the paper's row;
    the baselines are added as extra rows)."""
    return _by_dataset_columns(study, "6")


def table_5(study: Study) -> pd.DataFrame:
    """Table 5: PCK@0.02 of RCSF trained with OHKM keeping m of the 21 joints."""
    dataset = study.dataset_for(study.table("5")["datasets"][0])
    sweep = study.group("5")
    frame = pd.DataFrame(
        {"PCK": [_mean_pck(study, dataset, name) for name in sweep.values()]},
        index=pd.Index(list(sweep), name=_paper_index("5").name),
    )
    frame.attrs = {"tested_on": study.tested_on(dataset), "profile": study.profile}
    return frame


def table_visibility(study: Study, dataset: str) -> pd.DataFrame:
    """Beyond the paper: PCK of visible and of occluded joints per model, with joint counts."""
    rows = {}
    for label, name in study.group("3").items():
        row: dict[Any, float] = {}
        splits = []
        for threshold in study.cfg["study"]["visibility_thresholds"]:
            splits = [
                metrics.split_by_visibility(
                    metrics.pck, p["kp2d_pred"], p["kp2d"], threshold, norm=p["norm_size"],
                    visible=p["visible"].astype(bool), mask=scored(study, p),
                )
                for p in study.of(dataset, name)
            ]
            for part in ("visible", "occluded"):
                row[(pck_column(threshold), part)] = seed_mean([s[part] for s in splits])
        if splits:
            row[("joints scored", "visible")] = splits[0]["n_visible"]
            row[("joints scored", "occluded")] = splits[0]["n_occluded"]
        rows[label] = row
    frame = pd.DataFrame.from_dict(rows, orient="index")
    frame.columns = pd.MultiIndex.from_tuples(frame.columns)
    frame.index.name = "Model"
    frame.attrs = {"tested_on": study.tested_on(dataset), "profile": study.profile}
    return frame


def table_seeds(study: Study, dataset: str) -> pd.DataFrame:
    """Beyond the paper: mean and standard deviation over seeds of PCK@0.01-0.05 per model."""
    rows: dict[str, dict] = {}
    for label, name in study.group("3").items():
        curves = np.array([pck_curve(study, p, TABLE3_THRESHOLDS)
                           for p in study.of(dataset, name)])
        for t_index, threshold in enumerate(TABLE3_THRESHOLDS):
            values = curves[:, t_index] if len(curves) else np.array([])
            rows.setdefault(label, {})[(pck_column(threshold), "mean")] = (
                values.mean() if values.size else np.nan)
            rows[label][(pck_column(threshold), "std")] = (
                values.std(ddof=1) if values.size > 1 else np.nan)
        rows[label][("seeds", "")] = len(curves)
    frame = pd.DataFrame.from_dict(rows, orient="index")
    frame.columns = pd.MultiIndex.from_tuples(frame.columns)
    frame.index.name = "Model"
    frame.attrs = {"tested_on": study.tested_on(dataset), "profile": study.profile}
    return frame


def per_joint_consistency() -> pd.DataFrame:
    """From the paper's own numbers: the mean of each model's per-joint accuracies (Tables 1-2)
    beside its Table 3 PCK@0.05, and whether they agree within
    :data:`CONSISTENCY_TOLERANCE` (i.e. could come from the same evaluation)."""
    table3 = papers.table("rcsf", "3")
    rows = {}
    for table_id, paper_dataset in (("1", "STB"), ("2", "RHD")):
        per_joint = papers.table("rcsf", table_id)
        for label in per_joint.columns:
            mean = float(per_joint[label].mean())
            reported = float(table3.loc[(paper_dataset, label), "PCK@0.05"])
            rows[(paper_dataset, label)] = {
                "per-joint mean (Tables 1-2)": mean, "Table 3 PCK@0.05": reported,
                "difference": mean - reported,
                "agree": bool(abs(mean - reported) <= CONSISTENCY_TOLERANCE),
            }
    frame = pd.DataFrame.from_dict(rows, orient="index")
    frame.index = pd.MultiIndex.from_tuples(frame.index, names=["Dataset", "Model"])
    return frame


# ----------------------------------------------------------------------------- claims


def pck_scorer(target: claims.Target, threshold: float) -> tuple[claims.Score, str]:
    """RCSF's claim score (``score: {name: pck, threshold: T}``): PCK@T of a record."""
    return pck_at(target.study, threshold), ""


def heatmap_cell_px(study: Study) -> float:
    """One heat-map cell in input pixels (``data.input_size / data.codec.heatmap_size``): the
    grid step of the models' output."""
    data = study.cfg["data"]
    return data["input_size"] / data["codec"]["heatmap_size"]


def median_box_input_px(records: list[Record]) -> float:
    """The median hand box (PCK's normaliser) over every image of ``records``, in input pixels.

    A record's ``norm_size`` is in original-image pixels (``handlib.evaluation.predict`` divides
    the crop's box by the crop's scale); times that scale (``handlib.codecs.geometry.crop_scale``
    of the record's ``crop``, input pixels per original pixel) it is the box the model saw."""
    if not records:
        raise ValueError("no prediction records to measure the hand box on")
    if any("crop" not in p for p in records):
        raise ValueError("a prediction record holds no 'crop' (handlib.evaluation.predict keeps "
                         "it): its hand box in input pixels cannot be measured")
    boxes = [p["norm_size"] * geometry.crop_scale(p["crop"]) for p in records]
    return float(np.median(np.concatenate(boxes)))


def pck_resolution(target: claims.Target, threshold: float) -> str | None:
    """Why PCK@``threshold`` is below the models' resolution on the claim's data, or ``None``.

    The threshold asks for ``threshold`` times the hand box, here the median box of the compared
    runs' test records on ``target.dataset`` in input pixels (:func:`median_box_input_px`); the
    models resolve half a heat-map cell (:func:`heatmap_cell_px`; why: the module doc's
    *Resolution of a threshold*). ``None`` also when the compared runs have no records (the
    claim is then not run)."""
    study = target.study
    records = [p for name in target.runs.values() for p in study.of(target.dataset, name)]
    if not records:
        return None
    box = median_box_input_px(records)
    asked, cell = threshold * box, heatmap_cell_px(study)
    if asked >= cell / 2:
        return None
    data = study.cfg["data"]
    return (f"below resolution: PCK@{threshold:g} asks for {asked:.1f} px of the "
            f"{data['input_size']}-px input ({threshold:g} of the median hand box, {box:.0f} px), "
            f"under half a heat-map cell ({cell / 2:g} of {cell:g} px, "
            f"{data['codec']['heatmap_size']}² maps)")


#: RCSF's own scorers, their resolution checks and floors, named by the ``test`` blocks of its
#: claims (``handlib.claims``).
SCORERS = {"pck": pck_scorer}
RESOLUTIONS = {"pck": pck_resolution}
FLOORS = {"pck": PCK_FLOOR}


def claim_results(study: Study, threshold: float | None = None) -> dict[str, dict]:
    """``handlib.report.verdict_table`` inputs for every claim testable on this profile's data,
    from the ``test`` blocks of ``paper.yaml`` (``handlib.claims.evaluate``): each compares the
    runs behind a table's rows on one paper dataset at a PCK threshold, per seed over the seeds
    the runs share; a claim whose threshold is finer than half a heat-map cell
    (:func:`pck_resolution`), or in which a compared PCK is not above :data:`PCK_FLOOR` by
    more than its interval, is inconclusive. Claims marked ``not_here`` declare no test and get no entry.

    ``threshold`` re-tests every claim at that PCK threshold instead of the paper's (beyond the
    paper: short runs that sit at the floor of PCK@0.01-0.05 can still be ordered at a coarser
    threshold); the paper's own values stay those of its threshold.
    """
    overrides = None if threshold is None else {"threshold": threshold}
    note = "" if threshold is None else f", at PCK@{threshold:g}"
    return claims.evaluate(study, papers.claims("rcsf"), SCORERS, floors=FLOORS,
                           resolutions=RESOLUTIONS, overrides=overrides, note=note)


# ----------------------------------------------------------------------------- figures


def figure_pck_curves(study: Study, dataset: str) -> Figure:
    """PCK curves of the six models (Table 3 as curves, over a wider threshold range)."""
    spec = study.cfg["study"]["curve_thresholds"]
    thresholds = np.linspace(spec["start"], spec["stop"], spec["num"])
    curves = {
        label: seed_mean([pck_curve(study, p, thresholds) for p in study.of(dataset, name)])
        for label, name in study.group("3").items() if study.of(dataset, name)
    }
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    viz.plot_pck_curves(thresholds, curves, ax=ax, title=study.tested_on(dataset))
    for threshold in TABLE3_THRESHOLDS:
        ax.axvline(threshold, color="0.85", linewidth=0.8, zorder=0)
    fig.tight_layout()
    return fig


def figure_learning(study: Study) -> Figure:
    """Does it learn? The validation ``epe_px`` of the six models of Table 3 (first seed)
    against the optimiser steps, one panel per dataset, with the box centre's test error
    (:func:`box_centre_floors`) dashed across it (``handlib.learning.figure_learning``)."""
    score = mean_error_px(study)
    floors = {dataset: score(floor) for dataset, floor in box_centre_floors(study).items()}
    return learning.figure_learning(study, "val_epe_px", study.group("3"), floors,
                                    "validation mean joint error (px)")


def threshold_pixels(study: Study, dataset: str) -> dict[str, float]:
    """What the paper's thresholds ask for in input pixels on ``dataset``'s test images (the
    pixels the models see, in which their heat maps are laid out): the median hand box (PCK's
    normaliser, :func:`median_box_input_px` of Ours' first seed), PCK@0.02 and @0.05 in those
    pixels, and one heat-map cell (:func:`heatmap_cell_px`), the resolution
    :func:`pck_resolution` compares them with."""
    box = median_box_input_px([study.first(dataset, study.group("3")["Ours"])])
    return {"box_px": box, "pck002_px": 0.02 * box, "pck005_px": 0.05 * box,
            "heatmap_px": heatmap_cell_px(study)}


def figure_ohkm_sweep(study: Study) -> Figure:
    """Table 5 as a plot: PCK@0.02 against m, ours beside the paper's (STB)."""
    ours = table_5(study)["PCK"]
    paper = papers.table("rcsf", "5")["PCK"]
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    ax.plot(paper.index, paper.values, "o--", color="0.5", label="paper (STB)")
    ax.plot(ours.index, ours.values, "o-", label=f"reproduced ({study.profile} profile)")
    ax.set(xlabel="m, hard keypoints kept by OHKM (of 21)", ylabel="PCK@0.02",
           xticks=list(ours.index))
    ax.legend(fontsize="small")
    fig.tight_layout()
    return fig


def most_occluded(study: Study, p: Record, count: int) -> np.ndarray:
    """Positions of the ``count`` test images with the most occluded (scored) joints; ties go
    to the earlier image."""
    occluded = (scored(study, p) & ~p["visible"].astype(bool)).sum(axis=1)
    return np.argsort(-occluded, kind="stable")[:count]


def largest_errors(study: Study, p: Record, count: int) -> np.ndarray:
    """Positions of the ``count`` test images with the largest mean normalised error."""
    errors = np.nan_to_num(sample_errors(study, p), nan=-np.inf)
    return np.argsort(-errors, kind="stable")[:count]


def _ours(study: Study, dataset: str) -> Record:
    return study.first(dataset, study.group("3")["Ours"])


def _ours_run(study: Study, dataset: str):
    name = study.group("3")["Ours"]
    return next(r for r in study.runs if r.dataset == dataset and r.name == name)


def figure_comparison(study: Study, dataset: str, positions: np.ndarray) -> Figure:
    """Figures 4-6 layout: ground truth, then each of the six models, one row per image, drawn
    on the test images in their own frames."""
    reference = _ours(study, dataset)
    predictions = {
        label: study.first(dataset, name)["kp2d_pred"][positions]
        for label, name in study.group("3").items() if study.of(dataset, name)
    }
    indices = reference["index"][positions]
    return viz.comparison_grid(
        sample_images(_ours_run(study, dataset), indices), predictions,
        ground_truth=reference["kp2d"][positions],
        visible=reference["visible"][positions].astype(bool),
        row_titles=[f"test image {int(i)}" for i in indices],
    )


def figure_qualitative(study: Study, dataset: str) -> Figure:
    """Figures 4-5: the test images with the most occluded joints."""
    positions = most_occluded(study, _ours(study, dataset),
                              study.cfg["study"]["qualitative_samples"])
    return figure_comparison(study, dataset, positions)


def figure_failures(study: Study, dataset: str) -> Figure:
    """Figure 6: the test images where "Ours" (first seed) has the largest error."""
    positions = largest_errors(study, _ours(study, dataset),
                               study.cfg["study"]["failure_samples"])
    return figure_comparison(study, dataset, positions)


def figure_joint_schematic(study: Study, dataset: str) -> Figure:
    """Figure 3: the 21 joints and their names, on the test hand with the most visible joints
    (ties: the largest hand)."""
    reference = _ours(study, dataset)
    visible = (scored(study, reference) & reference["visible"].astype(bool)).sum(axis=1)
    position = int(np.lexsort((-reference["norm_size"], -visible))[0])
    kp2d = reference["kp2d"][position]
    image = sample_images(_ours_run(study, dataset), [reference["index"][position]])[0]
    fig, ax = plt.subplots(figsize=(5.5, 5.5))
    viz.show_image(ax, image)
    viz.draw_skeleton(ax, kp2d, linewidth=2.5, markersize=7)
    centre = kp2d.mean(axis=0)
    for joint, (x, y) in enumerate(kp2d):
        direction = np.array([x, y]) - centre
        offset = 8 * direction / (np.linalg.norm(direction) + 1e-6)
        ax.annotate(f"{joint} {JOINT_NAMES[joint]}", (x, y), xytext=tuple(offset),
                    textcoords="offset points", fontsize=7, color="black",
                    ha="left" if offset[0] >= 0 else "right", va="center",
                    bbox={"boxstyle": "round,pad=0.1", "fc": "white", "alpha": 0.6, "lw": 0})
    viz.zoom_to(ax, kp2d, margin=0.5)
    ax.set_axis_off()
    ax.set_title("wrist, then " + ", ".join(FINGERS) + ": MCP, PIP, DIP, TIP", fontsize="small")
    fig.tight_layout()
    return fig


# ----------------------------------------------------------------------------- Table 7


def table_7(bench: dict, study: Study) -> pd.DataFrame:
    """Table 7 rows for our models of the main comparison: FPS (single-image eager inference),
    size (MB) and the paper's "GFlops" column, which we fill with GMACs (see
    ``handlib.bench``)."""
    main = set(study.group("3").values())
    rows = {}
    for result in bench["models"]:
        if result["run"] not in main:
            continue
        label = result["label"]
        single = [s for s in result["speed"] if s["mode"] == "eager" and s["batch"] == 1]
        rows[label] = {
            "FPS": single[0]["infer_img_s"] if single else np.nan,
            "Size (MB)": result["size_mb"],
            "Calculations (GFlops)": result["gmacs"],
        }
    frame = pd.DataFrame.from_dict(rows, orient="index")
    frame.index.name = papers.table("rcsf", "7").index.name
    frame.attrs = {"device": bench["device_name"]}
    return frame


def table_capacity(bench: dict, study: Study) -> pd.DataFrame:
    """Table 4's models measured: parameters and GMACs at the bench input size, so that the
    design comparison can be read with the capacity of each variant in view."""
    measured = {result["run"]: result for result in bench["models"]}
    rows = {}
    for label, name in study.group("4").items():
        if name not in measured:
            continue
        result = measured[name]
        rows[label] = {"run": name, "parameters (M)": result["params_m"],
                       "GMACs": result["gmacs"]}
    frame = pd.DataFrame.from_dict(rows, orient="index")
    frame.index.name = papers.table("rcsf", "4").index.name
    return frame


def fidelity_numbers(bench: dict) -> dict[str, float]:
    """RCSF at the paper's input size: our parameters (M), size (MB), GMACs and GFLOPs, the
    paper's Table 7 size and "GFlops" (read as GMACs), and our ratios to them."""
    ours = bench_row(bench, "Ours")
    paper = papers.table("rcsf", "7").loc["Ours"]
    return {
        "params_m": ours["params_m"],
        "size_mb": ours["size_mb"],
        "gmacs": ours["gmacs"],
        "gflops": ours["gflops"],
        "paper_size_mb": float(paper["Size (MB)"]),
        "paper_gmacs": float(paper["Calculations (GFlops)"]),
        "size_ratio": float(ours["size_mb"] / paper["Size (MB)"]),
        "gmacs_ratio": float(ours["gmacs"] / paper["Calculations (GFlops)"]),
    }


#: Within this relative difference we call a size or cost "the same as the paper's".
FIDELITY_TOLERANCE = 0.05


def fidelity_verdicts(bench: dict) -> dict[str, str]:
    """Plain words for the fidelity paragraph, computed from :func:`fidelity_numbers`: how our
    size and our cost compare with the paper's (within :data:`FIDELITY_TOLERANCE` is "matches")."""
    found = fidelity_numbers(bench)

    def words(ratio: float) -> str:
        if abs(ratio - 1) <= FIDELITY_TOLERANCE:
            return "matches the paper's"
        return "is lower than the paper's" if ratio < 1 else "is higher than the paper's"

    return {"size_words": words(found["size_ratio"]), "cost_words": words(found["gmacs_ratio"])}


def fidelity_table(bench: dict) -> pd.DataFrame:
    """RCSF at the paper's input size: our parameters, size, GMACs and GFLOPs beside Table 7."""
    found = fidelity_numbers(bench)
    paper = papers.table("rcsf", "7").loc["Ours"]
    rows = {
        "parameters (M)": (np.nan, found["params_m"], np.nan),
        "size (MB, float32)": (paper["Size (MB)"], found["size_mb"], found["size_ratio"]),
        "GMACs (the paper's \"GFlops\", read as multiply-accumulates)": (
            paper["Calculations (GFlops)"], found["gmacs"], found["gmacs_ratio"]),
        "GFLOPs (2 per multiply-accumulate)": (np.nan, found["gflops"], np.nan),
    }
    frame = pd.DataFrame.from_dict(rows, orient="index",
                                   columns=["paper (Table 7)", "ours", "ours / paper"])
    frame.index.name = f"RCSF at {bench['settings']['input_size']}²"
    return frame
