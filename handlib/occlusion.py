"""One occlusion benchmark for the five papers: every chapter's main model and baselines on the
same synthetic frames, scored by one yardstick and split by what hides each joint.

Every paper of the book claims to cope with occluded joints; none measures it, and no two measure
anything on the same data. The synthetic engine renders a frame as RGB and as depth with each
joint's visibility kind (visible, self-occluded, hidden by an object, by the other hand, out of
frame), which no public benchmark offers. This module puts the chapters' trained runs on it.

**Evaluation only.** The models are the runs each chapter trains under the same profile
(each paper's ``paper.yaml`` ``book: occlusion``: a stand-in dataset and a group of runs, first
seed, gathered by :func:`load_config`), found through ``handlib.study`` and reused through
``handlib.engine.load_or_train`` (their checkpoints). Nothing is trained here that the chapter
would not train.

**The frames** (:func:`render_test_set`): three test sets rendered once by the synthetic engine at
one size, with the engine's own scene (no dataset's preset): the ordinary ``test`` split, the
``hard`` split (objects in every frame) and ``interacting`` frames (two hands touching). Each
model reads them through its own pipeline (``handlib.data.pipeline.PoseDataset`` with the run's
data spec: its crop, input size, modality and codec), so RGB models see the RGB rendering and
CrossInfoNet the depth rendering of the same frames. A one-hand model sees each hand of an
interacting frame in its own crop (:class:`OneHandViews`), the other hand in view.

**The join** (:func:`hand_rows`, :func:`align`): the ground truth is one row per labelled hand of
a test set, taken from the rendered frames themselves; each model's prediction record is mapped
onto those rows (a one-hand record by its dataset index, a two-slot record, InterNet's layout, by
frame and the hand's side) and its labels are checked against the rows', so a wrong join fails
loudly instead of scoring the wrong hand.

**The yardstick** (:func:`errors_of`): 2D error as a fraction of the hand's box (the longer side
of the tight box of its joints, in the frame's own pixels), summarised as PCK against that
fraction and its AUC (``metrics.pck_curve``'s reduction: pooled over the joints of a group); 3D
error root-relative, each hand to its own wrist, in mm, for every model that predicts 3D (the
wrist, exact by construction, is left out). Every value comes with the number of joints behind it
and a bootstrap interval over hands (:func:`breakdown`).

**Without the notebook** (:func:`benchmarked`, :func:`predict_run`, ``handlib occlusion``): a
run queue writes a benchmarked run's records right after the run's own test predictions, while
its checkpoint exists (the benchmark never retrains a finished run whose checkpoint is gone);
the command makes every missing record and prints :func:`summary`.

**The floor** (:func:`floor_errors`): a prediction that ignores the image: every joint at the
centre of the hand's box in 2D, the mean wrist-relative pose of the engine's ``val`` frames in
3D (``handlib.floors``, left hands mirrored). A model at the floor has learnt nothing that
carries over to these frames.

Length: one module, for now: the benchmark's frames, its per-model predictions, its splits
by visibility kind, finger and viewpoint, its bootstrap intervals, its claims and its figures
read as one experiment from top to bottom; the figures are the part to split out next.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from handlib import engine, floors, metrics, papers, report, results, study, viz
from handlib.bench import benchmark_config
from handlib.data import presets
from handlib.data.hand_model import palm_to_camera
from handlib.data.pipeline import PoseDataset, build_codec, kind_codes
from handlib.data.synthetic import GENERATOR_VERSION, SyntheticHands
from handlib.profiles import load_profile
from handlib.skeleton import FINGERS, JOINT_FINGER, NUM_JOINTS, WRIST

EXPERIMENT = "occlusion"
#: The visibility kinds of the breakdown, in the order the tables show them (codes of
#: ``handlib.data.pipeline.VISIBILITY_KINDS``; the engine never writes ``occluded``).
KIND_LABELS = {"visible": 0, "self-occluded": 1, "object-occluded": 2, "other hand": 3,
               "out of frame": 4}
#: Viewpoint bins: the cosine between the palm normal and the direction to the camera.
VIEW_BINS = (-1.0, -0.5, 0.0, 0.5, 1.0)
VIEW_LABELS = ("back to the camera", "back, sideways", "palm, sideways", "palm to the camera")
#: The measures a claim or table names: key -> (label, better).
MEASURES = {"2d": ("2D AUC", "higher"), "3d": ("3D MPJPE (mm)", "lower")}
FLOOR = "floor"
#: The name of the three test sets pooled.
ALL_SETS = "all test sets"

Record = dict[str, np.ndarray]


# ----------------------------------------------------------------------------- the models


@dataclass(frozen=True)
class Model:
    """One benchmarked run: the chapter, the row label its paper prints, the run."""

    chapter: str
    name: str          # the chapter's short name (RCSF, MS-FF, ...)
    label: str         # the run's row label in the paper's table
    run: study.Run
    main: bool = field(default=False)

    @property
    def key(self) -> str:
        return f"{self.name}: {self.label}"

    @property
    def modality(self) -> str:
        return self.run.config["data"].get("modality", "rgb")

    @property
    def trained_on(self) -> str:
        """The run's training data: its stand-in's preset, or the real dataset's split."""
        data = self.run.config["data"]
        if data.get("source", "synthetic") == "synthetic":
            preset = (data.get("synthetic") or {}).get("preset")
            return (f"{presets.get(preset).label} synthetic stand-in" if preset
                    else "synthetic hands")
        return f"{self.run.dataset} {self.run.config['train'].get('split', 'train')} split"


def load_config(profile: str, **overrides) -> dict:
    """The benchmark's settings under ``profile`` (``configs/occlusion.yaml``) and the papers
    it benchmarks, each from its own folder (paper.yaml ``book: occlusion``, for every paper
    that has one): ``chapters`` (paper -> ``name``, ``dataset``, ``group``, ``main``) and
    ``claims`` (each paper's occlusion claim, its ``paper`` added)."""
    cfg = load_profile(EXPERIMENT, profile, **overrides)
    cfg["chapters"], cfg["claims"] = {}, []
    for paper in papers.PAPERS:
        place = papers.book(paper)
        if "occlusion" in place:
            entry = place["occlusion"]
            cfg["chapters"][paper] = {"name": place["name"], "dataset": entry["dataset"],
                                      "group": entry["group"], "main": entry["main"]}
            cfg["claims"].append({"paper": paper, **entry["claim"]})
            papers.check_tolerance(cfg["claims"][-1])
    return cfg


def benchmarked_dataset(chapter_cfg: dict, group: str, wanted: str) -> str:
    """The stand-in whose runs of study group ``group`` are benchmarked: the chapter's choice
    (``wanted``, its most varied stand-in) when the profile trains the group there, else the
    first dataset it does (a cheap profile spends its budget on the headline comparison's one
    stand-in); the models table says which."""
    trained = study.trained_datasets(chapter_cfg, group)
    if not trained:
        raise ValueError(f"occlusion benchmark: profile {chapter_cfg.get('profile')!r} of chapter "
                         f"{chapter_cfg.get('chapter')!r} trains its group {group!r} on no "
                         "dataset: give the group a dataset on this profile")
    return wanted if wanted in trained else trained[0]


def models(cfg: dict, *, data_root=None, seed: int = 0, device: str = "auto") -> list[Model]:
    """The runs the benchmark evaluates: for each chapter of ``cfg["chapters"]``, every run of
    its group on its dataset (:func:`benchmarked_dataset`), first seed, as the chapter's notebook
    configures them under the same profile (``handlib.study.apply_parameters`` with
    ``data_root``, ``seed`` and ``device``)."""
    found = []
    for chapter, spec in cfg["chapters"].items():
        chapter_cfg = study.apply_parameters(load_profile(chapter, cfg["profile"]),
                                             data_root=data_root, seed=seed, device=device)
        groups = chapter_cfg["study"]["groups"]
        if spec["group"] not in groups:
            raise ValueError(f"occlusion benchmark: chapter {chapter!r} has no study group "
                             f"{spec['group']!r}; its groups are {', '.join(groups)}")
        runs = groups[spec["group"]]["runs"]
        if spec["main"] not in runs:
            raise ValueError(f"occlusion benchmark: the main model {spec['main']!r} of chapter "
                             f"{chapter!r} is not in its group {spec['group']!r} "
                             f"({', '.join(runs)})")
        dataset = benchmarked_dataset(chapter_cfg, spec["group"], spec["dataset"])
        for label, name in runs.items():
            if name is None:
                continue
            run = study.find_runs(chapter_cfg, dataset, name, None)[0]
            found.append(Model(chapter, spec["name"], str(label), run, label == spec["main"]))
    return found


# ----------------------------------------------------------------------------- the frames


def render_test_set(cfg: dict, test_set: str, frames: int | None = None, split: str | None = None):
    """The rendered frames of ``test_set`` (``cfg["test_sets"]``), RGB and depth, cached by the
    engine; ``split`` overrides the set's split (the floor's ``val`` frames)."""
    if test_set not in cfg["test_sets"]:
        raise ValueError(f"occlusion benchmark: no test set {test_set!r}; the test sets are "
                         f"{', '.join(cfg['test_sets'])}")
    spec, scene = cfg["test_sets"][test_set], cfg["scene"]
    source = SyntheticHands(split or spec["split"], frames or cfg["frames"], scene["image_size"],
                            seed=scene["seed"], two_hands=spec["two_hands"],
                            modality="rgb+depth", framing=scene["framing"],
                            crop_padding=scene["crop_padding"], cache=True, **spec["options"])
    source.fill_cache()
    return source


@dataclass
class Hands:
    """The ground truth of a test set, one row per labelled hand: its frame, side, joints (frame
    pixels and camera mm), per-joint visibility codes, box size (px) and viewpoint cosine."""

    frame: np.ndarray
    side: np.ndarray
    kp2d: np.ndarray
    kp3d: np.ndarray
    kind: np.ndarray
    box: np.ndarray
    view: np.ndarray

    def __len__(self) -> int:
        return len(self.frame)


def _hands_of(sample: dict) -> list[tuple[int, dict]]:
    """(slot, one-hand sample) for every valid hand of a canonical sample; slot 0 right and 1
    left for two-hand samples, the hand's side's slot for one-hand samples."""
    if np.ndim(sample["kp2d"]) == 2:
        return [(0 if sample["side"] == "right" else 1, sample)]
    hands = []
    for slot in range(2):
        if not bool(sample["hand_valid"][slot]):
            continue
        meta = {**sample.get("meta", {}), "occlusion": sample["meta"]["occlusion"][slot]}
        hand = {key: value for key, value in sample.items()
                if key not in ("kp2d", "kp3d", "visible", "bbox", "side", "hand_valid",
                               "labelled", "meta")}
        hand.update(kp2d=sample["kp2d"][slot], kp3d=sample["kp3d"][slot],
                    visible=sample["visible"][slot], bbox=sample["bbox"][slot],
                    side=str(sample["side"][slot]), meta=meta)
        hands.append((slot, hand))
    return hands


def hand_rows(source) -> Hands:
    """The hand rows of a rendered test set (:class:`Hands`), in frame order, right before
    left."""
    rows: dict[str, list] = {key: [] for key in ("frame", "side", "kp2d", "kp3d", "kind",
                                                 "box", "view")}
    for index in range(len(source)):
        for _, hand in _hands_of(source[index]):
            kp2d = np.asarray(hand["kp2d"], np.float64)
            kp3d = np.asarray(hand["kp3d"], np.float64)
            rows["frame"].append(index)
            rows["side"].append(hand["side"])
            rows["kp2d"].append(kp2d)
            rows["kp3d"].append(kp3d)
            rows["kind"].append(kind_codes(hand, (NUM_JOINTS,)))
            rows["box"].append(float(metrics.bbox_size(kp2d[None])[0]))
            rows["view"].append(palm_to_camera(kp3d, hand["side"]))
    return Hands(**{key: np.asarray(value) for key, value in rows.items()})


class OneHandViews:
    """A two-hand test set as one-hand samples, one per hand row (:func:`hand_rows`): the whole
    frame (the other hand stays in view) labelled with that hand alone, for one-hand models."""

    def __init__(self, source):
        self.source = source
        self.views = [(index, slot) for index in range(len(source))
                      for slot, _ in _hands_of(source[index])]

    def __len__(self) -> int:
        return len(self.views)

    def __getitem__(self, item: int) -> dict:
        index, slot = self.views[item]
        return dict(_hands_of(self.source[index]))[slot]


def model_dataset(model: Model, source) -> PoseDataset:
    """The test frames as ``model``'s pipeline feeds them to it: the run's data spec (crop, input
    size, modality, codec) over the rendered frames, a one-hand model's two-hand frames as
    :class:`OneHandViews`. Each run's dataset index is then a hand row (one-hand models) or a
    frame (two-slot models)."""
    spec = {**model.run.config["data"], "augment": None}
    two_hand_frames = np.ndim(source[0]["kp2d"]) == 3
    if build_codec(spec).two_slot:
        spec["two_hands"] = True
        return PoseDataset(source, spec, "test")
    spec["two_hands"] = False
    return PoseDataset(OneHandViews(source) if two_hand_frames else source, spec, "test")


# ----------------------------------------------------------------------------- predictions


def _digest(model: Model, cfg: dict, test_set: str) -> str:
    """What a saved benchmark record depends on: the run's configuration (its hash covers the
    code) and the frames (scene, test set, count, generator version)."""
    what = {"run": engine.config_hash(model.run.config), "scene": cfg["scene"],
            "test_set": cfg["test_sets"][test_set], "frames": cfg["frames"],
            "generator": GENERATOR_VERSION}
    return hashlib.sha256(json.dumps(what, sort_keys=True).encode()).hexdigest()[:16]


def _folder(cfg: dict, model: Model):
    return results.run_dir(EXPERIMENT, cfg["profile"], f"{model.chapter}-{model.run.run_id}")


def predict(model: Model, cfg: dict, test_set: str, source, *,
            batch_size: int = 64) -> Record | None:
    """``model``'s prediction record on ``test_set``: read from the benchmark's results folder
    when these frames and this run made it, else predicted with the chapter's trained run (reused,
    or trained as the chapter trains it when it has never run) and saved. ``None`` when the run's
    results exist without its checkpoint (e.g. committed gpu results on another machine): the
    benchmark never retrains a finished run."""
    folder, digest = _folder(cfg, model), _digest(model, cfg, test_set)
    stored = results.read_predictions(folder, digest, test_set)
    if stored is not None:
        return stored
    config = engine.resolve_config(model.run.config)
    finished = results.read_run(results.run_dir(model.chapter, cfg["profile"],
                                                model.run.run_id))
    if (finished is not None and finished["provenance"]["config_hash"] == engine.config_hash(config)
            and not engine.checkpoint_path(engine.config_hash(config)).is_file()):
        return None
    trained = engine.load_or_train(model.run.config, experiment=model.chapter,
                                   profile=cfg["profile"], run=model.run.run_id, progress=False)
    record = engine.predict(trained.model, model_dataset(model, source), batch_size=batch_size,
                            device=next(trained.model.parameters()).device)
    results.write_predictions(folder, record, digest, test_set)
    return record


def benchmarked(profile: str, *, data_root=None, seed: int = 0,
                device: str = "auto") -> list[tuple[str, str]]:
    """(chapter, run id) of every run the benchmark evaluates under ``profile``
    (:func:`models`), in benchmark order."""
    return [(m.chapter, m.run.run_id)
            for m in models(load_config(profile), data_root=data_root, seed=seed, device=device)]


def _benchmarked_model(cfg: dict, chapter: str, run_id: str, **parameters) -> Model:
    chosen = models(cfg, **parameters)
    for model in chosen:
        if (model.chapter, model.run.run_id) == (chapter, run_id):
            return model
    raise ValueError(f"occlusion benchmark: the {cfg['profile']} profile benchmarks no run "
                     f"{run_id!r} of chapter {chapter!r}; it benchmarks "
                     + ", ".join(f"{m.chapter}/{m.run.run_id}" for m in chosen))


def _missing(cfg: dict, model: Model) -> list[str]:
    return [test_set for test_set in cfg["test_sets"]
            if results.read_predictions(_folder(cfg, model), _digest(model, cfg, test_set),
                                        test_set) is None]


def missing_records(profile: str, chapter: str, run_id: str, *, data_root=None, seed: int = 0,
                    device: str = "auto") -> list[str]:
    """The test sets on which the benchmarked run ``chapter``/``run_id`` has no saved record
    made by its current configuration and these frames."""
    cfg = load_config(profile)
    return _missing(cfg, _benchmarked_model(cfg, chapter, run_id, data_root=data_root,
                                            seed=seed, device=device))


def predict_run(profile: str, chapter: str, run_id: str, *, data_root=None, seed: int = 0,
                device: str = "auto") -> int:
    """Make and save the benchmark records of run ``chapter``/``run_id`` on every test set that
    lacks one (rendering the frames if needed) with the run's checkpoint (training the run first
    if its chapter never has, as :func:`predict` does), so that the checkpoint can be deleted
    afterwards; the number of records written (0 when all were there). A run whose results are
    here without its checkpoint is an error: the benchmark never retrains a finished run."""
    cfg = load_config(profile)
    model = _benchmarked_model(cfg, chapter, run_id, data_root=data_root, seed=seed,
                               device=device)
    missing = _missing(cfg, model)
    for test_set in missing:
        if predict(model, cfg, test_set, render_test_set(cfg, test_set)) is None:
            raise ValueError(f"occlusion benchmark: {chapter}/{profile}/{run_id} has finished "
                             f"results but no checkpoint, so its {test_set} records cannot be "
                             f"made; delete {results.run_dir(chapter, profile, run_id)} to "
                             "retrain it")
    return len(missing)


# ----------------------------------------------------------------------------- the join


def align(record: Record, hands: Hands, *, two_hand_frames: bool) -> dict[str, np.ndarray]:
    """A model's predictions on the hand rows: ``kp2d`` (M, 21, 2) frame pixels and, for a 3D
    model, ``kp3d_rel`` (M, 21, 3) wrist-relative mm. A record with 21 joints per item has one
    item per hand row (a one-hand model; on one-hand frames rows and frames coincide); one with
    42 (the two-slot layout, right 0-20, left 21-41) has one item per frame, and each row reads
    the slot of its side. The record's own labels must equal the rows' (else ValueError)."""
    joints = np.shape(record["kp2d"])[1]
    index = np.asarray(record["index"])
    if joints == NUM_JOINTS:
        positions = np.arange(len(hands)) if two_hand_frames else hands.frame
        slots = np.zeros(len(hands), int)
    elif joints == 2 * NUM_JOINTS:
        positions, slots = hands.frame, np.where(hands.side == "right", 0, 1)
    else:
        raise ValueError(f"a prediction record with {joints} joints per item: expected "
                         f"{NUM_JOINTS} (one hand) or {2 * NUM_JOINTS} (two slots)")
    where = {int(i): k for k, i in enumerate(index)}
    missing = sorted(set(int(p) for p in positions) - set(where))
    if missing:
        raise ValueError(f"the prediction record lacks dataset items {missing[:5]}: it does not "
                         "cover the benchmark's test set")
    rows = np.array([where[int(p)] for p in positions])

    def take(values: np.ndarray) -> np.ndarray:
        values = np.asarray(values, np.float64)
        per_hand = values.reshape(len(values), -1, NUM_JOINTS, values.shape[-1])
        return per_hand[rows, slots]

    if not np.allclose(take(record["kp2d"]), hands.kp2d, atol=0.05):
        raise ValueError("the prediction record's 2D labels differ from the benchmark's hand "
                         "rows: the record is not on these frames, or the join is wrong")
    out = {"kp2d": take(record["kp2d_pred"])}
    key = "kp3d_rel_pred" if "kp3d_rel_pred" in record else "kp3d_pred"
    if key in record:
        predicted = take(record[key])
        out["kp3d_rel"] = predicted - predicted[:, WRIST:WRIST + 1]
    return out


def errors_of(predicted: dict[str, np.ndarray], hands: Hands) -> Record:
    """Per-joint errors of aligned predictions as a record over the hand rows: ``err2d`` (M, 21)
    as a fraction of the hand's box, ``err3d`` (M, 21) wrist-relative mm (NaN for a 2D model and
    at the wrist), with the rows' ``kind``, ``view`` and ``index`` (row number), so that
    ``metrics.record_rows`` and ``report.paired_bootstrap_margin`` resample hands."""
    err2d = np.linalg.norm(predicted["kp2d"] - hands.kp2d, axis=-1) / hands.box[:, None]
    err3d = np.full(err2d.shape, np.nan)
    if "kp3d_rel" in predicted:
        truth = hands.kp3d - hands.kp3d[:, WRIST:WRIST + 1]
        err3d = np.linalg.norm(predicted["kp3d_rel"] - truth, axis=-1)
        err3d[:, WRIST] = np.nan
    return {"index": np.arange(len(hands)), "err2d": err2d, "err3d": err3d,
            "kind": hands.kind.astype(int), "view": hands.view}


def _as_right_hands(points: np.ndarray, side: np.ndarray) -> np.ndarray:
    """(M, 21, 3) camera-frame points with x negated on the rows whose ``side`` is left: a left
    hand as the mirror-image right hand, and back."""
    return points * np.where(side == "left", -1.0, 1.0)[:, None, None] ** np.array([1, 0, 0])


def floor_errors(hands: Hands, mean_pose: np.ndarray) -> Record:
    """The floor's errors: every joint at the centre of its hand's box in 2D
    (``handlib.floors.box_centres``), ``mean_pose`` (21, 3), a right hand's wrist-relative mean
    pose, in 3D (mirrored for left hands)."""
    pose = _as_right_hands(np.repeat(mean_pose[None], len(hands), axis=0), hands.side)
    return errors_of({"kp2d": floors.box_centres(hands.kp2d), "kp3d_rel": pose}, hands)


def mean_pose(hands: Hands) -> np.ndarray:
    """(21, 3) the mean wrist-relative pose of ``hands`` as right hands (left hands mirrored
    first, ``handlib.floors.mean_pose``)."""
    return floors.mean_pose(_as_right_hands(hands.kp3d, hands.side))


# ----------------------------------------------------------------------------- the benchmark


@dataclass
class Benchmark:
    """Every model's errors on every test set: ``errors[test_set][model key]`` (the floor under
    :data:`FLOOR`), the hand rows of each test set, and the models (``skipped``: those without
    a record, with the reason)."""

    cfg: dict
    models: list[Model]
    hands: dict[str, Hands]
    errors: dict[str, dict[str, Record]]
    skipped: dict[str, str]

    @property
    def profile(self) -> str:
        return self.cfg["profile"]

    def model(self, key: str) -> Model:
        return next(m for m in self.models if m.key == key)

    def keys(self) -> list[str]:
        """The models that have errors, in benchmark order."""
        return [m.key for m in self.models if m.key not in self.skipped]


def run_benchmark(cfg: dict, chosen: list[Model]) -> Benchmark:
    """Render the test sets, predict with every model of ``chosen`` (:func:`models`), or read
    its saved records, and score them."""
    floor_pose = mean_pose(hand_rows(render_test_set(cfg, "test", cfg["floor_frames"], "val")))
    hands, errors, skipped = {}, {}, {}
    for test_set, spec in cfg["test_sets"].items():
        source = render_test_set(cfg, test_set)
        hands[test_set] = hand_rows(source)
        errors[test_set] = {}
        for model in chosen:
            record = predict(model, cfg, test_set, source)
            if record is None:
                skipped[model.key] = ("its results are here without its checkpoint: run the "
                                      f"{model.chapter} chapter's {cfg['profile']} profile here")
                continue
            errors[test_set][model.key] = errors_of(
                align(record, hands[test_set], two_hand_frames=spec["two_hands"]),
                hands[test_set])
        errors[test_set][FLOOR] = floor_errors(hands[test_set], floor_pose)
    return Benchmark(cfg, chosen, hands, errors, skipped)


# ----------------------------------------------------------------------------- measures


def thresholds(cfg: dict) -> np.ndarray:
    grid = cfg["pck_thresholds"]
    return np.linspace(grid["start"], grid["stop"], int(grid["num"]))


def _hits(errors: Record, keep: np.ndarray, grid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per hand: the joints kept within each threshold (M, T), and the joints kept (M,)."""
    kept = keep & np.isfinite(errors["err2d"])
    within = (errors["err2d"][..., None] <= grid) & kept[..., None]
    return within.sum(axis=1), kept.sum(axis=1)


def _sums(errors: Record, keep: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per hand: the sum of the kept 3D errors (M,), and their number (M,)."""
    kept = keep & np.isfinite(errors["err3d"])
    return np.where(kept, errors["err3d"], 0.0).sum(axis=1), kept.sum(axis=1)


def pck_curve(errors: Record, grid: np.ndarray, keep: np.ndarray | None = None) -> np.ndarray:
    """PCK at each threshold of ``grid`` over the kept joints (pooled), NaN with none."""
    keep = np.ones(errors["err2d"].shape, bool) if keep is None else keep
    hits, count = _hits(errors, keep, grid)
    return hits.sum(axis=0) / count.sum() if count.sum() else np.full(len(grid), np.nan)


def measure(errors: Record, which: str, grid: np.ndarray,
            keep: np.ndarray | None = None) -> float:
    """``"2d"``: the AUC of the PCK curve over ``grid``; ``"3d"``: the mean 3D error (mm); over
    the kept joints (all by default), NaN when none has a value."""
    keep = np.ones(errors["err2d"].shape, bool) if keep is None else keep
    return float(_resampled(errors, which, grid, keep, np.arange(len(keep))[None])[0])


def joints_behind(errors: Record, which: str, keep: np.ndarray) -> int:
    """The number of joints a :func:`measure` averages over."""
    values = errors["err2d"] if which == "2d" else errors["err3d"]
    return int((keep & np.isfinite(values)).sum())


def _resampled(errors: Record, which: str, grid: np.ndarray, keep: np.ndarray,
               rows: np.ndarray) -> np.ndarray:
    """:func:`measure` on each resample of hands (``rows``: (B, M) row numbers)."""
    if which not in MEASURES:
        raise ValueError(f"occlusion benchmark: unknown measure {which!r}; the measures are "
                         f"{', '.join(MEASURES)}")
    if which == "2d":
        hits, count = _hits(errors, keep, grid)
        with np.errstate(invalid="ignore", divide="ignore"):
            curves = hits[rows].sum(axis=1) / count[rows].sum(axis=1)[:, None]
        return np.array([metrics.auc(grid, curve) for curve in curves])
    total, count = _sums(errors, keep)
    with np.errstate(invalid="ignore", divide="ignore"):
        return total[rows].sum(axis=1) / count[rows].sum(axis=1)


def interval(errors: Record, which: str, grid: np.ndarray, keep: np.ndarray, *,
             samples: int, seed: int = 0, reference: Record | None = None) -> tuple[float, float]:
    """The 95% bootstrap interval of :func:`measure` over the ``keep`` joints, resampling hands
    (the same resamples for every model: same ``seed``, same rows); with ``reference``, of the
    paired difference ``measure(errors) - measure(reference)`` on the same resampled hands."""
    rows = np.random.default_rng(seed).integers(0, len(keep), (samples, len(keep)))
    values = _resampled(errors, which, grid, keep, rows)
    if reference is not None:
        values = values - _resampled(reference, which, grid, keep, rows)
    values = values[np.isfinite(values)]
    if not values.size:
        return float("nan"), float("nan")
    low, high = np.percentile(values, [2.5, 97.5])
    return float(low), float(high)


def groups(errors: Record, by: str, cfg: dict) -> dict[str, np.ndarray]:
    """Group label -> (M, 21) joint mask of a breakdown: ``"kind"`` (visibility kind),
    ``"finger"`` (the wrist, then each finger's four joints, ``skeleton.JOINT_FINGER``),
    ``"view"`` (the hand's viewpoint bin) or ``"occluded fraction"`` (the fraction of the hand's
    joints that are not visible, binned by ``occluded_fraction_bins``); ``"all"`` first."""
    shape = errors["err2d"].shape
    found = {"all joints": np.ones(shape, bool)}
    if by == "kind":
        found.update({label: errors["kind"] == code for label, code in KIND_LABELS.items()})
    elif by == "finger":
        finger = np.array(JOINT_FINGER)
        found["wrist"] = np.broadcast_to(finger == JOINT_FINGER[WRIST], shape)
        found.update({name: np.broadcast_to(finger == name, shape) for name in FINGERS})
    elif by == "view":
        bins = np.digitize(errors["view"], VIEW_BINS[1:-1])
        found.update({label: np.broadcast_to((bins == b)[:, None], shape)
                      for b, label in enumerate(VIEW_LABELS)})
    elif by == "occluded fraction":
        edges = np.asarray(cfg["occluded_fraction_bins"], float)
        hidden = (errors["kind"] != KIND_LABELS["visible"]).mean(axis=1)
        bins = np.clip(np.digitize(hidden, edges[1:-1], right=True), 0, len(edges) - 2)
        found.update({f"{edges[b]:g}-{edges[b + 1]:g}": np.broadcast_to((bins == b)[:, None],
                                                                        shape)
                      for b in range(len(edges) - 1)})
    else:
        raise ValueError(f"unknown breakdown {by!r}: use kind, finger, view or occluded fraction")
    return found


def errors_on(bench: Benchmark, test_set: str, key: str) -> Record:
    """The errors of model ``key`` on ``test_set``, or on the hands of every test set pooled
    (:data:`ALL_SETS`)."""
    if test_set != ALL_SETS:
        return bench.errors[test_set][key]
    parts = [bench.errors[name][key] for name in bench.cfg["test_sets"]]
    pooled = {name: np.concatenate([part[name] for part in parts])
              for name in ("err2d", "err3d", "kind", "view")}
    return {"index": np.arange(len(pooled["view"])), **pooled}


def breakdown(bench: Benchmark, test_set: str, which: str, by: str) -> pd.DataFrame:
    """Model x group: the :func:`measure` ``which`` of every model (and the floor) on
    ``test_set`` (or :data:`ALL_SETS`), with its 95% interval and the joints behind it: columns
    ``(group, value)``, ``(group, low)``, ``(group, high)``, ``(group, joints)``. 2D models have
    no 3D rows."""
    grid, cfg = thresholds(bench.cfg), bench.cfg
    rows = {}
    for key in [*bench.keys(), FLOOR]:
        errors = errors_on(bench, test_set, key)
        if which == "3d" and not np.isfinite(errors["err3d"]).any():
            continue
        row = {}
        for label, keep in groups(errors, by, cfg).items():
            low, high = interval(errors, which, grid, keep, samples=cfg["bootstrap_samples"])
            row.update({(label, "value"): measure(errors, which, grid, keep),
                        (label, "low"): low, (label, "high"): high,
                        (label, "joints"): joints_behind(errors, which, keep)})
        rows[key] = row
    frame = pd.DataFrame.from_dict(rows, orient="index")
    frame.columns = pd.MultiIndex.from_tuples(frame.columns)
    frame.index.name = "model"
    return frame


def shown(frame: pd.DataFrame) -> pd.DataFrame:
    """A :func:`breakdown` as the book shows it: per group "value [low, high]" (three
    significant digits) with the joints behind it in the column name, or in each cell where
    the models' counts differ."""
    out = {}
    for label in dict.fromkeys(frame.columns.get_level_values(0)):
        joints = frame[(label, "joints")]
        counts = sorted(set(int(n) for n in joints.dropna()))
        name = f"{label} (n = {counts[0]})" if len(counts) == 1 else label
        out[name] = [
            "–" if not np.isfinite(v) else f"{v:.3g} [{lo:.3g}, {hi:.3g}]"
            + ("" if len(counts) == 1 else f" (n = {int(n)})")
            for v, lo, hi, n in zip(frame[(label, "value")], frame[(label, "low")],
                                    frame[(label, "high")], joints)]
    return pd.DataFrame(out, index=frame.index)


def against_floor(bench: Benchmark) -> pd.DataFrame:
    """Model x measure, over every test set's joints pooled: the model's 2D AUC and 3D MPJPE,
    the difference from the floor's (signed so that positive is better) with its 95% paired
    bootstrap interval, and whether the model beats the floor (the whole interval above zero)."""
    grid, cfg = thresholds(bench.cfg), bench.cfg
    floor = errors_on(bench, ALL_SETS, FLOOR)
    rows = {}
    for key in bench.keys():
        errors, row = errors_on(bench, ALL_SETS, key), {}
        for which, (label, better) in MEASURES.items():
            keep = np.ones(errors["err2d"].shape, bool)
            value = measure(errors, which, grid)
            if not np.isfinite(value):
                continue
            sign = 1.0 if better == "higher" else -1.0
            low, high = sorted(sign * np.array(interval(
                errors, which, grid, keep, samples=cfg["bootstrap_samples"], reference=floor)))
            row.update({(label, "value"): value,
                        (label, "better than the floor by"): sign * (
                            value - measure(floor, which, grid)),
                        (label, "95% interval"): f"[{low:.3g}, {high:.3g}]",
                        (label, "beats the floor"): bool(low > 0)})
        rows[key] = row
    frame = pd.DataFrame.from_dict(rows, orient="index")
    frame.columns = pd.MultiIndex.from_tuples(frame.columns)
    frame.index.name = "model"
    return frame


def floor_sentence(table: pd.DataFrame) -> str:
    """What :func:`against_floor` says, in words: which models beat the floor in 2D and 3D."""
    parts = []
    for label, _ in MEASURES.values():
        column = table[(label, "beats the floor")].dropna()
        winners = [key for key, beats in column.items() if beats]
        parts.append(f"in {label.split(' ')[0]}, **{len(winners)} of {len(column)}** models beat "
                     f"the floor beyond the noise" + (f" ({', '.join(winners)})" if winners
                                                       else ""))
    return "Over the three test sets pooled, " + "; ".join(parts) + "."


def summary(bench: Benchmark) -> pd.DataFrame:
    """Model x (test set, measure): 2D AUC and 3D MPJPE of every model over all joints and over
    the occluded ones (every joint not visible), on each test set."""
    grid = thresholds(bench.cfg)
    rows = {}
    for key in [*bench.keys(), FLOOR]:
        row = {}
        for test_set in bench.cfg["test_sets"]:
            errors = bench.errors[test_set][key]
            hidden = errors["kind"] != KIND_LABELS["visible"]
            for which, (label, _) in MEASURES.items():
                row[(test_set, label)] = measure(errors, which, grid)
                row[(test_set, f"{label}, occluded")] = measure(errors, which, grid, hidden)
        rows[key] = row
    frame = pd.DataFrame.from_dict(rows, orient="index")
    frame.columns = pd.MultiIndex.from_tuples(frame.columns, names=["test set", "measure"])
    frame.index.name = "model"
    return frame


#: The rate the gpu estimate assumes: items a model's data pipeline prepares per second in
#: ``engine.predict`` (one process, crops and targets on the CPU), which bounds the benchmark on
#: a GPU; the cpu profile reached about 200 items/s on 2 cores with the small models.
ASSUMED_GPU_ITEMS_PER_S = 300.0


def prediction_estimate(cfg: dict, chosen: list[Model]) -> dict:
    """What a profile's benchmark predicts: the items (one per hand for a one-hand model, one per
    frame for a two-slot one, on every test set) over every model, and the minutes that takes
    at :data:`ASSUMED_GPU_ITEMS_PER_S` (an assumption, not a measurement)."""
    items = 0
    for model in chosen:
        two_slot = build_codec(model.run.config["data"]).two_slot
        for spec in cfg["test_sets"].values():
            items += cfg["frames"] * (2 if spec["two_hands"] and not two_slot else 1)
    return {"models": len(chosen), "items": items,
            "minutes at the assumed rate": items / ASSUMED_GPU_ITEMS_PER_S / 60}


# ----------------------------------------------------------------------------- claims


def claims(cfg: dict) -> list[dict]:
    """The papers' occlusion claims as the benchmark restates them (``cfg["claims"]``), each
    checked: its paper a benchmarked chapter, its measure's quantity, kinds and test set known."""
    found = []
    for claim in cfg["claims"]:
        spec, where = claim.get("measure") or {}, f"occlusion claim {claim.get('id')!r}"
        problems = []
        if claim.get("paper") not in cfg["chapters"]:
            problems.append(f"paper {claim.get('paper')!r} is not one of the benchmarked "
                            f"chapters ({', '.join(cfg['chapters'])})")
        if spec.get("quantity") not in MEASURES:
            problems.append(f"measure.quantity {spec.get('quantity')!r} is not one of "
                            f"{', '.join(MEASURES)}")
        unknown = [k for k in spec.get("kinds") or [None] if k not in KIND_LABELS]
        if unknown:
            problems.append(f"measure.kinds {unknown} are not among {', '.join(KIND_LABELS)}")
        if spec.get("test_set") not in cfg["test_sets"]:
            problems.append(f"measure.test_set {spec.get('test_set')!r} is not one of "
                            f"{', '.join(cfg['test_sets'])}")
        if problems:
            raise ValueError(f"{where}: " + "; ".join(problems))
        found.append(dict(claim))
    return found


def claim_score(claim: dict, cfg: dict):
    """The score of a claim's ``measure``: a function of a model's error record."""
    spec, grid = claim["measure"], thresholds(cfg)
    codes = [KIND_LABELS[kind] for kind in spec["kinds"]]

    def score(errors: Record) -> float:
        return measure(errors, spec["quantity"], grid, np.isin(errors["kind"], codes))

    return score


def claim_results(bench: Benchmark) -> dict[str, dict]:
    """``report.verdict_table`` inputs of the benchmark's claims: each compared model's score on
    the claim's test set and joints, the margin from a paired bootstrap over hands against the
    strongest reference, and the floor's score (a claim whose values all sit at or beyond it is
    inconclusive). A claim naming a row the profile drops (its chapter's label mapped to null)
    is not run; a label that is no row of the chapter's group is an error."""
    found = {}
    for claim in claims(bench.cfg):
        spec = claim["measure"]
        test_set, score = spec["test_set"], claim_score(claim, bench.cfg)
        name = bench.cfg["chapters"][claim["paper"]]["name"]
        keys = {label: f"{name}: {label}"
                for label in [claim["subject"], *papers.claim_references(claim)]}
        unknown = [label for label, key in keys.items()
                   if key not in {m.key for m in bench.models}]
        group = bench.cfg["chapters"][claim["paper"]]["group"]
        rows = load_profile(claim["paper"], bench.profile)["study"]["groups"][group]["runs"]
        if [label for label in unknown if label not in rows]:
            raise ValueError(f"occlusion claim {claim['id']!r} names {unknown}, which are not "
                             f"benchmarked models of {name} "
                             f"({', '.join(m.label for m in bench.models if m.chapter == claim['paper'])})")
        if unknown:  # rows of the chapter's table that this profile drops (mapped to null)
            found[claim["id"]] = {
                "reproduced": {label: [] for label in keys}, "margin": None, "floor": None,
                "tested_on": (f"not run: {', '.join(unknown)} not trained on the "
                              f"{bench.profile} profile"),
                "profile": bench.profile, "run": f"{EXPERIMENT}/{bench.profile}"}
            continue
        have = {label: bench.errors[test_set].get(key) for label, key in keys.items()}
        reproduced = {label: (score(e) if e is not None else float("nan"))
                      for label, e in have.items()}
        margin = None
        if all(e is not None for e in have.values()):
            references = [r for r in papers.claim_references(claim)]
            sign = -1.0 if claim["better"] == "lower" else 1.0
            strongest = max(references, key=lambda r: sign * reproduced[r])
            margin = report.paired_bootstrap_margin(
                score, have[claim["subject"]], have[strongest],
                samples=bench.cfg["bootstrap_samples"])
        found[claim["id"]] = {
            "reproduced": reproduced, "margin": margin,
            "floor": score(bench.errors[test_set][FLOOR]),
            "tested_on": (f"occlusion benchmark, {test_set} frames "
                          f"({len(bench.hands[test_set])} hands, {bench.profile} profile runs), "
                          f"each model's crop cut as its chapter cuts it (RGB: "
                          f"{study.RGB_CROP_ORACLE})"),
            "profile": bench.profile, "run": f"{EXPERIMENT}/{bench.profile}",
        }
    return found


# ----------------------------------------------------------------------------- cost


def cost(bench: Benchmark, *, measure_speed: bool = True) -> pd.DataFrame:
    """Parameters, GMACs and batch-1 latency of every benchmarked model as its chapter's profile
    builds it, measured with ``handlib.bench`` on this machine; saved as ``cost.json`` in the
    benchmark's profile folder and reused when it holds the same settings and models measured
    on a device of the same name."""
    settings = bench.cfg["cost"]
    device = str(engine.resolve_device(
        engine.resolve_config(bench.models[0].run.config)["train"]["device"]))
    path = results.results_root() / EXPERIMENT / bench.profile / "cost.json"
    wanted = {m.key: engine.config_hash(m.run.config) for m in bench.models}
    saved = results.read_json(path) if path.is_file() else None
    if not (saved and saved["settings"] == settings and saved["models"] == wanted
            and saved["device_name"] == results.device_name(device)):
        rows = []
        for model in bench.models:
            measured = benchmark_config(model.run.config, [settings["batch_size"]], device,
                                        counts_only=not measure_speed, fast=False,
                                        warmup=settings["warmup"], repeats=settings["repeats"],
                                        train_batch_sizes=[])
            speed = measured["speed"][0]["latency_ms"] if measured["speed"] else float("nan")
            rows.append({"model": model.key, "parameters (M)": measured["params_m"],
                         "GMACs": measured["gmacs"], "input": f"{measured['input_size']}² "
                         f"{model.modality}", f"latency at batch {settings['batch_size']} (ms)":
                         speed})
        saved = {"settings": settings, "models": wanted,
                 "device_name": results.device_name(device), "rows": rows}
        results.write_json_atomic(path, saved)
    frame = pd.DataFrame(saved["rows"]).set_index("model")
    frame.attrs["device_name"] = saved["device_name"]
    return frame


# ----------------------------------------------------------------------------- tables and figures


def models_table(bench: Benchmark) -> pd.DataFrame:
    """One row per benchmarked model: its chapter's run, what it was trained on, its input and
    what it predicts."""
    rows, first = [], next(iter(bench.cfg["test_sets"]))
    for model in bench.models:
        data = model.run.config["data"]
        rows.append({
            "model": model.key, "role": "main model" if model.main else "baseline",
            "run": f"{model.chapter}/{bench.profile}/{model.run.run_id}",
            "trained on": model.trained_on,
            "input": f"{data['input_size']}² {model.modality}",
            "predicts": ("2D and 3D" if model.key in bench.keys() and np.isfinite(
                bench.errors[first][model.key]["err3d"]).any() else "2D"),
            "benchmarked": bench.skipped.get(model.key, "yes"),
        })
    return pd.DataFrame(rows).set_index("model")


def _style(bench: Benchmark, key: str) -> dict:
    """A model's line in the figures: colour per chapter, its main model solid and thick."""
    chapters = list(bench.cfg["chapters"])
    if key == FLOOR:
        return {"color": "0.5", "linestyle": ":", "linewidth": 1.5}
    model = bench.model(key)
    colours = viz.method_palette(chapters)
    return {"color": colours[model.chapter], "linewidth": 2.6 if model.main else 1.1,
            "linestyle": "-" if model.main else "--"}


def figure_frames(bench: Benchmark, count: int = 3):
    """The same frames as RGB and as depth: the first ``count`` frames of each test set (frame
    order, no choice), ground-truth skeletons with hidden joints hollow."""
    sets = list(bench.cfg["test_sets"])
    fig, axes = plt.subplots(2 * len(sets), count, figsize=(2.2 * count, 4.4 * len(sets)),
                             squeeze=False)
    for row, test_set in enumerate(sets):
        source = render_test_set(bench.cfg, test_set)
        hands = bench.hands[test_set]
        for column in range(count):
            sample = source[column]
            for k, key in enumerate(("image", "depth")):
                ax = axes[2 * row + k, column]
                viz.show_image(ax, sample[key])
                for hand in np.flatnonzero(hands.frame == column):
                    viz.draw_skeleton(ax, hands.kp2d[hand],
                                      hands.kind[hand] == KIND_LABELS["visible"],
                                      linewidth=1.0, markersize=2.5)
                if column == 0:
                    ax.set_title(f"{test_set}: {'RGB' if key == 'image' else 'depth'}",
                                 loc="left", fontsize="small")
    fig.tight_layout()
    return fig


def figure_pck(bench: Benchmark):
    """PCK against the threshold (fraction of the hand's box) of every model and the floor,
    one panel per test set, over all joints."""
    grid, sets = thresholds(bench.cfg), list(bench.cfg["test_sets"])
    fig, axes = plt.subplots(1, len(sets), figsize=(5.0 * len(sets), 4.2), sharey=True)
    for ax, test_set in zip(np.atleast_1d(axes), sets):
        for key in [*bench.keys(), FLOOR]:
            ax.plot(grid, pck_curve(bench.errors[test_set][key], grid), label=key,
                    **_style(bench, key))
        ax.set(title=test_set, xlabel="threshold (fraction of the hand's box)", ylim=(0, 1.01),
               xlim=(grid[0], grid[-1]))
    np.atleast_1d(axes)[0].set_ylabel("PCK")
    fig.legend(*np.atleast_1d(axes)[0].get_legend_handles_labels(), loc="lower center",
               ncol=4, fontsize="x-small", bbox_to_anchor=(0.5, -0.02 - 0.035 * (
                   len(bench.keys()) // 4)))
    fig.tight_layout()
    return fig


def occluded_fraction_curves(bench: Benchmark, which: str) -> pd.DataFrame:
    """Bin of the occluded fraction x model: the :func:`measure` ``which`` over every test set's
    hands pooled (NaN in a bin with no hand)."""
    frame = breakdown(bench, ALL_SETS, which, "occluded fraction")
    values = frame.xs("value", axis=1, level=1).drop(columns="all joints")
    return values.T


def figure_occluded_fraction(bench: Benchmark):
    """2D AUC and 3D MPJPE against the fraction of the hand's joints that are hidden (binned),
    one curve per model and the floor, over the three test sets pooled."""
    fig, axes = plt.subplots(1, 2, figsize=(11.0, 4.2))
    for ax, which in zip(axes, MEASURES):
        curves = occluded_fraction_curves(bench, which)
        for key in curves.columns:
            ax.plot(range(len(curves)), curves[key], marker="o", markersize=3, label=key,
                    **_style(bench, key))
        ax.set_xticks(range(len(curves)), curves.index)
        ax.set(xlabel="fraction of the hand's joints hidden", ylabel=MEASURES[which][0])
    axes[0].legend(fontsize="x-small", ncol=2)
    fig.tight_layout()
    return fig


def figure_cost(bench: Benchmark, costs: pd.DataFrame):
    """Accuracy against cost: each model's 2D AUC over every test set's joints pooled against
    its GMACs (log scale), main models filled, baselines hollow."""
    grid = thresholds(bench.cfg)
    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    for key in bench.keys():
        model, style = bench.model(key), _style(bench, key)
        value = measure(errors_on(bench, ALL_SETS, key), "2d", grid)
        ax.scatter(costs.loc[key, "GMACs"], value, s=60 if model.main else 36,
                   facecolors=style["color"] if model.main else "none",
                   edgecolors=style["color"], linewidths=1.5, zorder=3)
        ax.annotate(key, (costs.loc[key, "GMACs"], value), fontsize="x-small",
                    xytext=(4, 3), textcoords="offset points")
    floor = measure(errors_on(bench, ALL_SETS, FLOOR), "2d", grid)
    ax.axhline(floor, **_style(bench, FLOOR), label="floor (box centre)")
    ax.set(xscale="log", xlabel="GMACs per image (as the profile builds the model)",
           ylabel="2D AUC, all test sets")
    ax.legend(fontsize="small", loc="lower right")
    fig.tight_layout()
    return fig


# ----------------------------------------------------------------------------- the command


def register_cli(subparsers) -> None:
    """``handlib occlusion --profile P``: the benchmark without the notebook."""
    command = subparsers.add_parser(
        "occlusion", help="run the occlusion benchmark and print its summary table",
        description="Make every missing prediction record of the occlusion benchmark under a "
                    "profile (training a benchmarked run the chapter has never trained) and "
                    "print the benchmark's summary: 2D AUC and 3D MPJPE of every model on each "
                    "test set, over all joints and over the occluded ones.")
    command.add_argument("--profile", required=True, help="smoke, cpu, gpu or paper")
    command.add_argument("--data-root", default=None,
                         help="the folder of the real datasets (the paper profile's runs)")
    command.add_argument("--seed", type=int, default=0, help="the chapters' data seed")
    command.set_defaults(func=_command)


def _command(args) -> int:
    cfg = load_config(args.profile)
    bench = run_benchmark(cfg, models(cfg, data_root=args.data_root, seed=args.seed))
    print(f"occlusion benchmark, {args.profile} profile: {len(bench.keys())} of "
          f"{len(bench.models)} models, {cfg['frames']} frames per test set")
    for key, reason in bench.skipped.items():
        print(f"skipped {key}: {reason}")
    print(summary(bench).to_string(float_format=lambda value: f"{value:.3g}"))
    return 0
