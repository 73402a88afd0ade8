"""Chapter 11, MS-FF (Zhan & Luo 2023): what ``notebooks/11_msff.ipynb`` computes from its runs.

The runs, their test predictions, the runs table, the bench cache and the claim machinery are
the shared ``handlib.study``; the runs and the map from Table 1 to them are data in
``profiles.yaml``. What is MS-FF's own lives here.

**Scoring, the GT S / GT H protocols, the constant-mean-pose floor and the joint and frame
sets** are the InterNet family's, shared with InterNet+ (``handlib.study3d``). Table 1's PoseNet
(Zimmermann & Brox) predicts a scale-free pose and takes the hand side as an input: its codec
multiplies by the true bone length and its hand slots are the hand sides, so it is scored only as
GT S = Y, GT H = Y, as its Table 1 row says; its other cells are empty. Whether each run learned
(its MPJPE below the constant mean pose's by more than the interval) is the family's
``study3d.learning_table``. Tables show the mean over seeds where a profile has several. The
constant mean pose also shows which orders need no model at all: its fingertips are farther from
the wrist than its palm joints, so its fingertip error is the larger too
(:func:`contrast_floors`).

**Figure selections** by rule: Fig. 6 shows the interacting test frames with the most joints
occluded by the other hand (ties: the earlier frame).

**What the data was**: every table's caption and figure's title names it from the run's own data
spec (``Study.tested_on``: the real dataset and split, or the stand-in). A paper dataset absent
from ``data_root`` (``Study.absent``) is not run: its tables show as not run with the reason, and
the claims scored on it are "not run", their data column naming the missing dataset.

**Claims** are tested as ``paper.yaml`` declares (``handlib.claims``): the InterNet family's
joint-set and protocol errors are shared scorers; MS-FF registers only its own measurement, the
claims "lower at every joint" judged over all joints at once (:func:`every_joint`).
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from handlib import claims, learning, metrics, papers, report, study3d, viz
from handlib.floors import box_centre_record
from handlib.skeleton import JOINT_FINGER, JOINT_NAMES, NUM_JOINTS, WRIST
from handlib.study import Record, Study, run_labels, sample_images, seed_mean
from handlib.study3d import (
    GT_SCALE_TEXT,
    HANDS,
    JOINT_SETS,
    PROTOCOLS,
    TWO_HAND_BONES,
    epe_under,
    most_occluded_by_other_hand,
    mpjpe,
    protocol_epe,
    scored_count,
    scorer,
    seed_mean_score,
)

# ----------------------------------------------------------------------------- tables


def _models(study: Study) -> dict[str, str]:
    """Label -> run of every model the chapter trains (main comparison, then the ablations)."""
    groups = study.cfg["study"]["groups"]
    return {**groups["main"]["runs"], **groups["modules"]["runs"]}


def _captioned(frame: pd.DataFrame, what: str) -> pd.DataFrame:
    """``frame`` with the caption ``report.styled`` shows: ``what``, then the data it was scored
    on (its ``tested_on``)."""
    frame.attrs["caption"] = f"{what}; {frame.attrs['tested_on']}"
    return frame


def table_interhand(study: Study, dataset: str | None) -> pd.DataFrame:
    """Beyond the paper (MS-FF prints no InterHand2.6M number): InterNet's InterHand2.6M metrics
    for every model (PoseNet predicts neither relative root nor hand type: empty)."""
    return _captioned(study3d.table_interhand(study, dataset, _models(study)),
                      "InterNet's InterHand2.6M metrics of every model")


def reproduced_table_1(study: Study) -> pd.DataFrame:
    """Table 1's reproduced rows: EPE (mm) of each model of the main comparison under the
    protocol its paper row prints (GT S, GT H), with what that protocol uses of the ground truth
    here (``GT S``: GT S = N back-projects with the true root depth, ``study3d``)."""
    paper = papers.table("msff", "1")
    dataset = study.dataset_for(study.table("1")["datasets"][0])
    rows = {}
    for label, name in study.group("1").items():
        gt_scale, gt_hand = (paper.loc[label, column] == "Y" for column in ("GT S", "GT H"))
        rows[label] = {"GT S": GT_SCALE_TEXT[gt_scale],
                       "EPE": seed_mean_score(study, dataset, name,
                                              epe_under(study, name, gt_scale, gt_hand))}
    frame = pd.DataFrame.from_dict(rows, orient="index")
    frame.index.name = paper.index.name
    frame.attrs = {"tested_on": study.tested_on(dataset), "profile": study.profile}
    return frame


def table_1(study: Study) -> pd.DataFrame:
    """Table 1 as *paper | reproduced | run* (``report.paper_vs_reproduced``), its caption
    naming the scale the rows were reproduced at (``learning.scale_text``); when its dataset is
    absent from ``data_root``, the run column of the reproduced rows says why they were not
    run."""
    frame = report.paper_vs_reproduced(papers.table("msff", "1"), reproduced_table_1(study),
                                       run_labels(study, "1"), profile=study.profile)
    frame.attrs["caption"] = (f"{frame.attrs['caption']} Reproduced on the "
                              f"{learning.scale_text(study)}.")
    reason = study.absent(study.table("1")["datasets"][0])
    if reason is not None:
        frame.loc[list(study.group("1")), ("run", "")] = reason
    return frame


def table_ground_truth(study: Study, dataset: str, floor: Record | None = None) -> pd.DataFrame:
    """Beyond the paper: what ground truth at test time is worth: EPE (mm) of every model under
    each protocol (:data:`PROTOCOLS`), and of the constant mean pose."""
    rows = {label: {column: seed_mean_score(study, dataset, name, epe_under(study, name, *protocol))
                    for column, protocol in PROTOCOLS.items()}
            for label, name in _models(study).items()}
    if floor is not None:
        rows["constant mean pose (floor)"] = {
            column: protocol_epe(study, floor, *protocol) for column, protocol in PROTOCOLS.items()}
    frame = pd.DataFrame.from_dict(rows, orient="index")
    frame.index.name = "Model"
    frame.attrs = {"tested_on": study.tested_on(dataset), "profile": study.profile}
    return _captioned(frame, "EPE (mm) of every model under each ground-truth protocol")


def table_joint_sets(study: Study, dataset: str, frames: str = "all",
                     floor: Record | None = None) -> pd.DataFrame:
    """Beyond the paper: MPJPE (mm) of every model on each joint set (:data:`JOINT_SETS`) of
    ``frames``, with the number of (frame, joint) pairs behind each column and the constant mean
    pose."""
    rows = {label: {js: seed_mean_score(study, dataset, name, scorer(study, js, frames))
                    for js in JOINT_SETS}
            for label, name in _models(study).items()}
    if floor is not None:
        rows["constant mean pose (floor)"] = {js: mpjpe(study, floor, js, frames)
                                              for js in JOINT_SETS}
    reference = floor if floor is not None else next(
        (study.first(dataset, n) for n in _models(study).values() if study.of(dataset, n)), None)
    if reference is not None:
        rows["joints scored"] = {js: scored_count(study, reference, js, frames)
                                 for js in JOINT_SETS}
    frame = pd.DataFrame.from_dict(rows, orient="index")
    frame.index.name = "Model"
    frame.attrs = {"tested_on": f"{study.tested_on(dataset)}, {frames} frames",
                   "profile": study.profile}
    return _captioned(frame, "MPJPE (mm) of every model on each joint set")


def per_joint_pooled(study: Study, dataset: str, frames: str = "interacting") -> pd.DataFrame:
    """Fig. 5's values: joint x model, the MPJPE (mm) of each of the 21 joints with its left and
    right instances pooled, on ``frames``, mean over seeds."""
    spec = study.cfg["eval"]
    columns = {label: seed_mean([metrics.mpjpe_per_joint_pooled_hands(p, spec, frames)
                                 for p in study.of(dataset, name)])
               for label, name in _models(study).items() if study.of(dataset, name)}
    frame = pd.DataFrame(columns, index=pd.Index(JOINT_NAMES, name="joint"))
    frame.attrs = {"tested_on": f"{study.tested_on(dataset)}, {frames} frames",
                   "profile": study.profile}
    return frame


# ----------------------------------------------------------------------------- figures


def figure_per_joint(study: Study, dataset: str, floor: Record | None = None) -> Figure:
    """Fig. 5: per-joint MPJPE bars on interacting frames, left and right averaged, for every
    trained model (and the constant mean pose as a grey line)."""
    values = per_joint_pooled(study, dataset)
    fig, ax = plt.subplots(figsize=(11, 4.2))
    viz.plot_per_joint_errors({label: values[label].to_numpy() for label in values},
                              list(JOINT_NAMES), ax=ax, highlight=["MS-FF"],
                              title=values.attrs["tested_on"])
    if floor is not None:
        constant = metrics.mpjpe_per_joint_pooled_hands(floor, study.cfg["eval"], "interacting")
        ax.plot(np.arange(NUM_JOINTS), constant, color="0.5", linestyle=":", marker="_",
                label="constant mean pose (floor)")
        ax.legend(fontsize="x-small", ncol=2)
    fig.tight_layout()
    return fig


def figure_qualitative(study: Study, dataset: str) -> Figure:
    """Fig. 6: input with ground truth, then PoseNet, InterNet and MS-FF (first seeds), on the
    interacting test frames chosen by :func:`most_occluded_by_other_hand`."""
    main = study.cfg["study"]["groups"]["main"]["runs"]
    reference = study.first(dataset, main["MS-FF"])
    positions = most_occluded_by_other_hand(reference,
                                            study.cfg["study"]["qualitative_samples"])
    run = next(r for r in study.runs if r.dataset == dataset and r.name == main["MS-FF"])
    indices = reference["index"][positions]
    predictions = {label: study.first(dataset, name)["kp2d_pred"][positions]
                   for label, name in main.items() if study.of(dataset, name)}
    fig = viz.comparison_grid(
        sample_images(run, indices), predictions, ground_truth=reference["kp2d"][positions],
        visible=reference["visible"][positions].astype(bool), bones=TWO_HAND_BONES,
        joint_finger=tuple(JOINT_FINGER) * HANDS,
        row_titles=[f"test frame {int(i)}" for i in indices])
    fig.suptitle(study.tested_on(dataset), fontsize="small")
    return fig


# ----------------------------------------------------------------------------- claims


def joint_gaps(study: Study, subject: Record, reference: Record) -> np.ndarray:
    """(21,) ``subject``'s interacting-frame MPJPE minus ``reference``'s at each joint (L/R
    pooled, as Fig. 5); NaN at the wrist, the root of the alignment, exact for every model."""
    spec = study.cfg["eval"]
    gaps = (metrics.mpjpe_per_joint_pooled_hands(subject, spec)
            - metrics.mpjpe_per_joint_pooled_hands(reference, spec))
    gaps[WRIST] = np.nan
    return gaps


def every_joint(target: claims.Target, samples: int = report.BOOTSTRAP_SAMPLES,
                level: float = 0.95) -> dict | None:
    """MS-FF's claims "lower at every joint" (``measure: {name: every_joint}``): the 20
    per-joint gaps ``g_j`` (subject minus reference, :func:`joint_gaps`, mean over the shared
    seeds), each with its interval, from a paired bootstrap over the test frames of the first
    shared seed (``samples`` resamples; the standard error ``se_j``) and the seed spread of
    the gap:

    - *holds* when every joint is lower by more than twice its standard error (each of the 20
      comparisons must hold on its own, which needs no correction for their number);
    - *does not hold* when some joint is higher by more than ``c · se_j``, where ``c`` is the
      ``level`` quantile of the bootstrap's largest studentised deviation over the 20 joints: a
      band that covers every joint at once, so that the worst of 20 joints of two equal models
      does not count as a loss;
    - *inconclusive* otherwise.

    The earlier rule picked the worst joint on the test predictions and then tested that joint
    alone as if it had been chosen beforehand; for two equal models it said "does not hold"
    about one time in three. The verdict shows the deciding joint (the least-better one, or the
    worst beyond the band) with its errors per seed; each model's error there is judged against
    the constant mean pose's (``target.inputs["floor_records"]``) as every claim's floor."""
    study, claim, dataset = target.study, target.claim, target.dataset
    names = {label: target.runs[label] for label in (claim["subject"], claim["reference"])}
    shared = sorted(set.intersection(*(set(study.seeds(dataset, n)) for n in names.values())))
    if not shared:
        return None
    spec = study.cfg["eval"]
    records = {label: study.of(dataset, name, shared) for label, name in names.items()}
    subject, reference = records[claim["subject"]], records[claim["reference"]]
    per_seed = np.stack([joint_gaps(study, s, r) for s, r in zip(subject, reference)])
    gaps = per_seed.mean(axis=0)
    spread = per_seed.std(axis=0, ddof=1) if len(shared) > 1 else np.zeros_like(gaps)
    rng = np.random.default_rng(0)
    count = len(subject[0]["index"])
    resampled = []
    for _ in range(samples):
        rows = rng.integers(0, count, count)
        resampled.append(joint_gaps(study, metrics.record_rows(subject[0], rows),
                                    metrics.record_rows(reference[0], rows)))
    resampled = np.stack(resampled)
    scored = ~np.isnan(gaps)  # every joint but the wrist
    se = np.full_like(gaps, np.nan)
    se[scored] = np.nanstd(resampled[:, scored], axis=0, ddof=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        studentised = np.abs(resampled - per_seed[0]) / se
    studentised[:, se == 0] = 0.0
    band = float(np.nanquantile(np.nanmax(studentised, axis=1), level))
    each = np.maximum(2 * se, spread)        # one joint on its own
    together = np.maximum(band * se, spread)  # every joint at once
    with np.errstate(invalid="ignore"):
        beyond = np.where(gaps > together, gaps - together, np.nan)
    if not np.all(np.isnan(beyond)):
        joint, margin, verdict = int(np.nanargmax(beyond)), together, "higher beyond the band"
    else:
        joint, margin = int(np.nanargmax((gaps + each) / np.where(each > 0, each, 1.0))), each
        verdict = "lower at every joint" if np.nanmax(gaps + each) < 0 else None
    values = {label: [float(metrics.mpjpe_per_joint_pooled_hands(p, spec)[joint]) for p in ps]
              for label, ps in records.items()}
    floor_record = target.inputs.get("floor_records", {}).get(dataset)
    floor = floor_margins = None
    if floor_record is not None:
        at_joint = lambda p: float(metrics.mpjpe_per_joint_pooled_hands(p, spec)[joint])
        floor = dict.fromkeys(values, at_joint(floor_record))
        floor_margins = {label: report.paired_bootstrap_margin(at_joint, ps[0], floor_record,
                                                               samples=samples)
                         for label, ps in records.items()}
    undecided = None if verdict else (
        f"no joint is higher beyond the band that covers all {int(np.sum(~np.isnan(gaps)))} "
        f"joints at once ({band:.2f} standard errors), but not every joint is lower by more "
        f"than its own interval: the {JOINT_NAMES[joint]} differs by {gaps[joint]:+.3g} mm "
        f"(interval {each[joint]:.3g} mm)")
    return {"reproduced": values, "margin": float(margin[joint]),
            "seeds_std": None, "needs_seeds": True,
            "floor": floor, "floor_margins": floor_margins, "floor_better": "lower",
            "unusable": undecided,
            "tested_on": study.tested_on(dataset) + f", interacting frames, at the "
                         f"{JOINT_NAMES[joint]} ({verdict or 'undecided'}; joints judged "
                         f"together by a paired bootstrap)"
                         + (f", seeds {shared}" if len(shared) > 1 else ""),
            "run": f"{study.experiment}/{study.profile}"}


#: MS-FF's own measurement, named by the ``test`` blocks of its claims (``handlib.claims``);
#: its scores, the joint-set and protocol errors, are the InterNet family's, shared
#: (``handlib.claims.SCORERS``).
MEASUREMENTS = {"every_joint": every_joint}


def claim_results(study: Study, floor_records: dict[str, Record] | None = None,
                  measure: str = "3d") -> dict[str, dict]:
    """``handlib.report.verdict_table`` inputs for every claim testable on this profile, from
    the ``test`` blocks of ``paper.yaml`` (``handlib.claims.evaluate``).

    Table 1's claims compare EPE on RHD under the protocol of the subject's row (GT S = N, GT H =
    N for MS-FF and InterNet; the constant is scored on the true hand's slot); the others score
    joint sets and frame sets on InterHand2.6M (or its stand-in), model against model or two
    scores of one model. ``floor_records`` (``study3d.floors``) sets each model claim's floor,
    the constant mean pose's score; claims marked ``not_here`` declare no test and get no
    entry; a claim on a dataset absent from ``data_root`` is not run, its data column saying
    which.

    ``measure="2d"`` re-tests the claims by the normalised 2D error (``study3d.error_2d``, the
    ground truth's hand slot) with the box-centre floor (``handlib.floors.box_centre_record``), beyond
    the paper: short runs whose 3D errors sit at the constant's can still be ordered in 2D. The
    claims "at every joint" are then left out (they are measured in 3D)."""
    floor_records = floor_records or {}
    if measure == "2d":
        floor_records = {d: box_centre_record(p) for d, p in floor_records.items()}
    return claims.evaluate(study, papers.claims("msff"), floor_records=floor_records,
                           overrides={"measure": measure} if measure != "3d" else None,
                           measurements=MEASUREMENTS,
                           inputs={"floor_records": floor_records})


def contrast_floors(study: Study, floor_records: dict[str, Record]) -> pd.DataFrame:
    """For each claim comparing two scores of one model (``compare: contrast``): the same two
    scores of the constant mean pose, i.e. the order that needs no model at all."""
    evaluator = claims.Evaluator()
    rows = {}
    for claim in papers.claims("msff"):
        test = claim.get("test", {})
        if test.get("compare") != "contrast":
            continue
        dataset = study.dataset_for(test["dataset"])
        if dataset not in floor_records:
            continue
        target = claims.Target(study, claim, dataset, claims.compared_runs(study, test["runs"]))
        (first, a), (second, b) = (
            (label, float(evaluator.score(target, spec)[0](floor_records[dataset])))
            for label, spec in test["scores"].items())
        rows[claim["id"]] = {"subject": first, "constant mean pose, subject (mm)": a,
                             "reference": second, "constant mean pose, reference (mm)": b,
                             "same order without a model": bool(a > b)}
    frame = pd.DataFrame.from_dict(rows, orient="index")
    frame.index.name = "claim"
    return frame


# ----------------------------------------------------------------------------- speed and size


def table_speed(bench: dict) -> pd.DataFrame:
    """Every trained model at the bench input size: parameters, size, GMACs and batch-1 eager
    latency (the paper prints none of these)."""
    rows = {}
    for result in bench["models"]:
        single = [s for s in result.get("speed", []) if s["mode"] == "eager" and s["batch"] == 1]
        rows[result["label"]] = {
            "parameters (M)": result["params_m"], "size (MB)": result["size_mb"],
            "GMACs": result["gmacs"],
            "latency, batch 1 (ms)": 1000.0 / single[0]["infer_img_s"] if single else np.nan,
        }
    frame = pd.DataFrame.from_dict(rows, orient="index")
    frame.index.name = "Model"
    size = bench["settings"]["input_size"]
    frame.attrs = {"device": bench["device_name"], "input_size": size,
                   "caption": f"every model at {size}² (random input, no dataset), measured on "
                              f"{bench['device_name']}"}
    return frame
