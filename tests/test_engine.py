"""The training engine: the loop, schedules, checkpoints and exact resume, NaN detection,
seeding, prediction and metrics, configuration hashing, load_or_train reuse and the train CLI."""
from __future__ import annotations

import math
import os
import random

import numpy as np
import pytest
import torch
from tiny_training import TinyHeatmapSet, TinyNet, config, two_term_loss

from handlib import engine, training
from handlib.profiles import deep_merge

TIME_COLUMNS = ["train_s", "epoch_s", "samples_per_s"]


def tiny_model(dropout: float = 0.0) -> TinyNet:
    torch.manual_seed(0)
    return TinyNet(dropout)


def test_fit_lowers_the_loss_and_logs_each_term():
    history = engine.fit(
        tiny_model(), config(epochs=4), TinyHeatmapSet(32), loss_fn=two_term_loss, progress=False
    )
    assert list(history["epoch"]) == [1, 2, 3, 4]
    for column in ["lr", "loss", "heatmap", "activity", "samples", *TIME_COLUMNS]:
        assert column in history
    assert np.allclose(history["loss"], history["heatmap"] + history["activity"], rtol=1e-5)
    assert history["loss"].iloc[-1] < 0.7 * history["loss"].iloc[0]
    assert (history["samples"] == 32).all()


def test_validation_metrics_are_those_of_the_validation_set():
    model, train_set, val_set = tiny_model(), TinyHeatmapSet(16), TinyHeatmapSet(8, seed=1)
    cfg = config(amp=False)  # fp32, as the evaluation it is compared with
    history = engine.fit(model, cfg, train_set, val_set, loss_fn=two_term_loss, progress=False)
    on_val = engine.evaluate(model, val_set, cfg["eval"], device="cpu")
    assert set(on_val) == {"pck@0.05", "pck@0.1", "pck@0.2", "auc", "epe_px"}
    for name, value in on_val.items():
        assert history[f"val_{name}"].iloc[-1] == pytest.approx(value)


def test_validation_loss_is_the_losses_mean_over_the_validation_set():
    model, train_set, val_set = tiny_model(), TinyHeatmapSet(16), TinyHeatmapSet(12, seed=1)
    cfg = config(amp=False)  # fp32, as the loss it is compared with
    cfg["eval"]["loss"] = True
    history = engine.fit(model, cfg, train_set, val_set, loss_fn=two_term_loss, progress=False)
    with torch.no_grad():  # the whole validation set in one batch: the terms' own means
        batch = {k: torch.stack([val_set[i][k] for i in range(len(val_set))])
                 for k in ("image", "heatmaps")}
        expected = two_term_loss(model.eval()(batch["image"]), batch)
    for name, value in expected.items():
        assert history[f"val_{name}"].iloc[-1] == pytest.approx(float(value), rel=1e-5)
    assert history["val_loss"].iloc[-1] == pytest.approx(
        float(sum(expected.values())), rel=1e-5)
    assert "val_loss" not in engine.fit(tiny_model(), config(), train_set, val_set,
                                        loss_fn=two_term_loss, progress=False)


def test_a_run_tested_on_its_training_or_validation_split_is_refused():
    for leaked in ("train", "val"):
        with pytest.raises(ValueError, match=f"also_test_on names \\['{leaked}'\\]"):
            engine.check_splits({"eval": {"also_test_on": [leaked, "hard"]}})


class AugmentedSet(TinyHeatmapSet):
    """``TinyHeatmapSet`` with a per-epoch augmentation as ``handlib.data.pipeline``'s: noise
    drawn from (epoch, index) after ``set_epoch``; each item also says the epoch it was
    augmented for and the process that read it."""

    def __init__(self, n: int, seed: int = 0):
        super().__init__(n, seed)
        self.epoch: int | None = None

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        item = {**super().__getitem__(i), "epoch": torch.tensor(-1),
                "pid": torch.tensor(os.getpid())}
        if self.epoch is None:  # not a training set: not augmented
            return item
        noise = np.random.default_rng([self.epoch, i]).normal(0, 0.1, item["image"].shape)
        return {**item, "image": item["image"] + torch.from_numpy(noise.astype(np.float32)),
                "epoch": torch.tensor(self.epoch)}


@pytest.mark.parametrize("workers", [0, 2])
def test_resuming_an_interrupted_run_gives_the_uninterrupted_weights(tmp_path, workers):
    """6 steps per epoch, 3 epochs; the interrupted run dies at step 10 (epoch 2) and resumes
    from its step-8 checkpoint. Dropout, shuffling and per-epoch augmentation make RNG restoring
    matter; with workers, the resumed run's persistent workers start mid-epoch."""
    cfg = config(epochs=3, checkpoint_every=4, num_workers=workers)
    train_set = AugmentedSet(48)

    reference = tiny_model(dropout=0.3)
    expected = engine.fit(
        reference, cfg, train_set, loss_fn=two_term_loss, checkpoint=tmp_path / "a.pt",
        progress=False,
    )

    calls = 0

    def dies_at_step_10(outputs, batch):
        nonlocal calls
        calls += 1
        if calls == 10:
            raise KeyboardInterrupt
        return two_term_loss(outputs, batch)

    with pytest.raises(KeyboardInterrupt):
        engine.fit(
            tiny_model(dropout=0.3), cfg, train_set, loss_fn=dies_at_step_10,
            checkpoint=tmp_path / "b.pt", progress=False,
        )
    assert engine.load_checkpoint(tmp_path / "b.pt")["state"]["global_step"] == 8

    torch.manual_seed(123)  # a different initialisation: resuming must overwrite it
    resumed_model = TinyNet(0.3)
    resumed = engine.fit(
        resumed_model, cfg, train_set, loss_fn=two_term_loss, checkpoint=tmp_path / "b.pt",
        resume=True, progress=False,
    )
    for name, value in reference.state_dict().items():
        assert torch.equal(value, resumed_model.state_dict()[name]), name
    columns = [c for c in expected if c not in TIME_COLUMNS]
    assert np.allclose(expected[columns].to_numpy(), resumed[columns].to_numpy(), rtol=1e-6)


def test_loader_workers_start_once_per_fit_and_learn_each_epoch():
    """The training set's and the validation set's workers are each started once for the whole
    fit (the same processes read every epoch), and the epoch reaches them: every training item
    of epoch e was augmented for epoch e."""
    seen: list[tuple[bool, int, int]] = []  # (training?, epoch of the item, reading process)

    def recording_loss(outputs, batch):
        seen.extend((torch.is_grad_enabled(), int(e), int(p))
                    for e, p in zip(batch["epoch"], batch["pid"]))
        return two_term_loss(outputs, batch)

    cfg = config(epochs=3, num_workers=2)
    cfg["eval"]["loss"] = True  # the validation batches pass through the loss too
    history = engine.fit(tiny_model(), cfg, AugmentedSet(16), AugmentedSet(16, seed=1),
                         loss_fn=recording_loss, progress=False)
    workers = engine.usable_workers(2)
    train = [(epoch, pid) for grad, epoch, pid in seen if grad]
    val_pids = {pid for grad, _, pid in seen if not grad}
    assert len(history) == 3 and len(train) == 3 * 16 and len(val_pids) == workers
    assert len({pid for _, pid in train}) == workers and os.getpid() not in val_pids
    epochs = [epoch for epoch, _ in train]
    assert epochs == sorted(epochs) and set(epochs) == {0, 1, 2}


@pytest.mark.filterwarnings("ignore:for .*copying from a non-meta parameter")
def test_a_checkpoint_is_read_to_the_cpu_whatever_device_the_run_trains_on(tmp_path,
                                                                              monkeypatch):
    """Resuming on an accelerator: the checkpoint's RNG states reach ``torch.set_rng_state``
    as CPU byte tensors. The meta device stands in for a GPU (what lands on it is not on the
    CPU); reading the checkpoint onto the training device crashed there."""
    cfg = config()
    first = engine.fit(tiny_model(), cfg, TinyHeatmapSet(16), loss_fn=two_term_loss,
                       checkpoint=tmp_path / "m.pt", progress=False)
    restored = []
    set_rng_state = training._set_rng_state

    def recording(state):
        restored.append((state["torch"].device.type, state["torch"].dtype))
        set_rng_state(state)

    monkeypatch.setattr(training, "_set_rng_state", recording)
    on_meta = deep_merge(cfg, {"train": {"device": "meta"}})
    again = engine.fit(TinyNet(), on_meta, TinyHeatmapSet(16), loss_fn=two_term_loss,
                       checkpoint=tmp_path / "m.pt", resume=True, progress=False)
    assert restored == [("cpu", torch.uint8)] and again.equals(first)
    assert all(value.device.type == "cpu"
               for value in engine.load_checkpoint(tmp_path / "m.pt")["model"].values())


def test_resume_of_a_finished_run_trains_nothing(tmp_path):
    cfg, train_set = config(), TinyHeatmapSet(16)
    first = engine.fit(
        tiny_model(), cfg, train_set, loss_fn=two_term_loss, checkpoint=tmp_path / "c.pt",
        progress=False,
    )

    def must_not_be_called(outputs, batch):
        raise AssertionError("a finished run was trained again")

    again = engine.fit(
        tiny_model(), cfg, train_set, loss_fn=must_not_be_called, checkpoint=tmp_path / "c.pt",
        resume=True, progress=False,
    )
    assert again.equals(first)


def test_resume_refuses_a_checkpoint_of_other_settings(tmp_path):
    engine.fit(
        tiny_model(), config(), TinyHeatmapSet(16), loss_fn=two_term_loss,
        checkpoint=tmp_path / "d.pt", progress=False,
    )
    with pytest.raises(ValueError, match="other training settings"):
        engine.fit(
            tiny_model(), config(seed=1), TinyHeatmapSet(16), loss_fn=two_term_loss,
            checkpoint=tmp_path / "d.pt", resume=True, progress=False,
        )


def test_a_nan_loss_stops_training_naming_term_and_step():
    calls = 0

    def nan_at_step_5(outputs, batch):
        nonlocal calls
        calls += 1
        terms = two_term_loss(outputs, batch)
        if calls == 5:
            terms["activity"] = terms["activity"] * float("nan")
        return terms

    with pytest.raises(FloatingPointError, match=r"'activity' became nan at step 5 \(epoch 3"):
        engine.fit(
            tiny_model(), config(epochs=4), TinyHeatmapSet(16), loss_fn=nan_at_step_5,
            progress=False,
        )


def test_gradient_clipping_bounds_the_update():
    model = tiny_model()
    before = torch.cat([p.detach().flatten().clone() for p in model.parameters()])

    def huge(outputs, batch):
        return {"huge": 1e6 * outputs["heatmaps"].pow(2).mean()}

    cfg = config(epochs=1, grad_clip=0.5)
    cfg["optimizer"] = {"name": "sgd", "lr": 0.1}
    engine.fit(model, cfg, TinyHeatmapSet(8), loss_fn=huge, progress=False)
    after = torch.cat([p.detach().flatten() for p in model.parameters()])
    step = (after - before).norm().item()
    assert 0.04 < step <= 0.1 * 0.5 + 1e-6  # one SGD step of a gradient clipped to norm 0.5


def test_early_stopping_stops_when_the_validation_metric_stalls():
    cfg = config(epochs=6, early_stopping={"metric": "pck@0.2", "mode": "max", "patience": 2})
    cfg["optimizer"]["lr"] = 0.0  # nothing changes, so the metric never improves
    history = engine.fit(
        tiny_model(), cfg, TinyHeatmapSet(16), TinyHeatmapSet(8, seed=1), loss_fn=two_term_loss,
        progress=False,
    )
    assert list(history["epoch"]) == [1, 2, 3]


def test_early_stopping_on_an_unknown_metric_is_an_error():
    cfg = config(early_stopping={"metric": "pck@0.9", "patience": 1})
    with pytest.raises(ValueError, match="not a validation metric"):
        engine.fit(
            tiny_model(), cfg, TinyHeatmapSet(16), TinyHeatmapSet(8), loss_fn=two_term_loss,
            progress=False,
        )


def _lrs(spec: dict, epochs: int, lr: float = 1.0) -> list[float]:
    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=lr)
    scheduler = engine.build_scheduler(optimizer, spec)
    values = []
    for _ in range(epochs):
        values.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return values


def test_the_papers_schedules_per_epoch():
    assert _lrs({"name": "constant"}, 3) == [1.0, 1.0, 1.0]
    assert _lrs({"name": "step", "step_size": 2, "gamma": 0.1}, 5) == pytest.approx(
        [1, 1, 0.1, 0.1, 0.01]
    )
    assert _lrs({"name": "multistep", "milestones": [1, 3], "gamma": 0.1}, 4) == pytest.approx(
        [1, 0.1, 0.1, 0.01]
    )
    assert _lrs({"name": "halve_at", "epochs": [2]}, 4) == [1.0, 1.0, 0.5, 0.5]
    assert _lrs({"name": "exponential", "gamma": 0.96}, 4) == pytest.approx(
        [0.96**k for k in range(4)]
    )
    # InterNet+: cosine annealing with warm restarts, first period 2 epochs, then ×3 (2, 6, 18)
    cosine = _lrs({"name": "cosine_warm_restarts", "T_0": 2, "T_mult": 3}, 9)
    within = [0, 1, 0, 1, 2, 3, 4, 5, 0]
    period = [2, 2, 6, 6, 6, 6, 6, 6, 18]
    assert cosine == pytest.approx(
        [0.5 * (1 + math.cos(math.pi * t / p)) for t, p in zip(within, period)]
    )
    with pytest.raises(ValueError, match="unknown scheduler"):
        _lrs({"name": "linear"}, 1)
    with pytest.raises(ValueError, match="bad settings"):
        _lrs({"name": "step", "gama": 0.1}, 1)


def test_history_reports_the_learning_rate_of_each_epoch():
    cfg = config(epochs=3)
    cfg["scheduler"] = {"name": "exponential", "gamma": 0.5}
    history = engine.fit(
        tiny_model(), cfg, TinyHeatmapSet(8), loss_fn=two_term_loss, progress=False
    )
    assert list(history["lr"]) == pytest.approx([0.01, 0.005, 0.0025])


def test_optimizers_and_weight_decay():
    parameters = [torch.zeros(2, requires_grad=True)]
    adamw = engine.build_optimizer(parameters, {"name": "adamw", "lr": 0.1, "weight_decay": 0.05})
    sgd = engine.build_optimizer(parameters, {"name": "sgd", "lr": 0.1, "momentum": 0.9})
    assert isinstance(adamw, torch.optim.AdamW) and adamw.param_groups[0]["weight_decay"] == 0.05
    assert isinstance(sgd, torch.optim.SGD) and sgd.param_groups[0]["momentum"] == 0.9
    adam = engine.build_optimizer(parameters, {"name": "adam", "lr": 1})
    assert isinstance(adam, torch.optim.Adam)
    with pytest.raises(ValueError, match="unknown optimizer 'rmsprop'"):
        engine.build_optimizer(parameters, {"name": "rmsprop", "lr": 1})


def test_seed_everything_repeats_every_generator():
    def draw():
        return random.random(), np.random.rand(), torch.rand(1).item()

    engine.seed_everything(7)
    first = draw()
    engine.seed_everything(7)
    assert draw() == first
    engine.seed_everything(8)
    assert draw() != first


def test_epoch_indices_shard_global_batches_across_processes():
    single = engine.epoch_indices(20, seed=3, epoch=1, shuffle=True)
    assert sorted(single) == list(range(20))
    assert single == engine.epoch_indices(20, seed=3, epoch=1, shuffle=True)
    assert single != engine.epoch_indices(20, seed=3, epoch=2, shuffle=True)
    shards = [
        engine.epoch_indices(20, seed=3, epoch=1, shuffle=True, rank=r, world_size=2)
        for r in range(2)
    ]
    for k in range(2):  # global batch 8 = 4 per process
        union = set(shards[0][4 * k : 4 * k + 4]) | set(shards[1][4 * k : 4 * k + 4])
        assert union == set(single[8 * k : 8 * k + 8])
    padded = engine.epoch_indices(
        5, seed=0, epoch=0, shuffle=False, rank=1, world_size=2, drop_last=False
    )
    assert padded == [1, 3, 0]


class FixedHeatmaps(torch.nn.Module):
    """Returns the same heatmaps for every image (a peak at a known cell per joint)."""

    def __init__(self, heatmaps: torch.Tensor):
        super().__init__()
        self.register_buffer("heatmaps", heatmaps)

    def forward(self, image):
        return {"heatmaps": self.heatmaps.expand(len(image), -1, -1, -1)}


def test_predict_decodes_heatmaps_and_keeps_labels_in_order():
    from handlib.codecs.heatmap2d import decode_heatmaps

    heatmaps = torch.zeros(1, 4, 8, 8)
    for joint, (x, y) in enumerate([(1, 2), (3, 3), (6, 1), (7, 7)]):
        heatmaps[0, joint, y, x] = 1.0
    dataset = TinyHeatmapSet(7)
    out = engine.predict(FixedHeatmaps(heatmaps), dataset, batch_size=3, device="cpu")
    expected, _ = decode_heatmaps(heatmaps.numpy(), 32)
    assert out["kp2d_pred"].shape == (7, 4, 2)
    assert np.allclose(out["kp2d_pred"], np.asarray(expected)[0])
    assert np.array_equal(out["index"], np.arange(7))
    assert np.allclose(out["kp2d"], dataset.kp2d)
    assert out["visible"].dtype == bool and out["norm_size"].shape == (7,)
    assert "image" not in out and "heatmaps" not in out


def test_predict_brings_keypoints_back_into_the_samples_own_frame():
    """A crop that halves and shifts: predictions and labels come back in original pixels, and
    the PCK normaliser with them."""
    heatmaps = torch.zeros(1, 4, 8, 8)
    heatmaps[0, :, 2, 1] = 1.0  # every joint at heat-map cell (x 1, y 2): input px (6, 10)
    dataset = TinyHeatmapSet(3)
    crop = torch.tensor([[0.5, 0.0, 4.0], [0.0, 0.5, 2.0], [0.0, 0.0, 1.0]])
    items = [dict(dataset[i], crop=crop) for i in range(3)]

    class Cropped(torch.utils.data.Dataset):
        codec = dataset.codec

        def __len__(self):
            return 3

        def __getitem__(self, i):
            return items[i]

    out = engine.predict(FixedHeatmaps(heatmaps), Cropped(), batch_size=2, device="cpu")
    np.testing.assert_allclose(out["kp2d_pred"][0, 0], [(6 - 4) / 0.5, (10 - 2) / 0.5], atol=1e-4)
    np.testing.assert_allclose(out["kp2d"], (dataset.kp2d - [4.0, 2.0]) / 0.5, atol=1e-4)
    np.testing.assert_allclose(out["norm_size"], 32 / 0.5)


def test_evaluate_scores_the_prediction_record_with_the_named_metrics():
    from handlib import metrics

    model = TinyNet()
    dataset = TinyHeatmapSet(6)
    spec = {"metric": ["pck2d"], "thresholds": [0.1, 0.2], "joints": "visible",
            "batch_size": 4}
    found = engine.evaluate(model, dataset, spec, device="cpu")
    record = engine.predict(model, dataset, batch_size=4, device="cpu")
    assert found == metrics.evaluate_record(record, {**engine.DEFAULTS["eval"], **spec})
    assert set(found) == {"pck@0.1", "pck@0.2", "auc", "epe_px"}
    with pytest.raises(ValueError, match="unknown"):
        engine.evaluate(model, dataset, {"metric": "accuracy"}, device="cpu")
    with pytest.raises(ValueError, match="both report"):
        engine.evaluate(model, dataset, {"metric": ["pck2d", "epe2d"]}, device="cpu")


def test_config_hash_covers_what_changes_results_only():
    base = {
        "model": {"name": "simple_baseline_r50", "backbone": "resnet18"},
        "data": {"source": "rhd", "data_root": "/data/rhd", "input_size": 64},
        "loss": {"name": "heatmap_mse"},
        "train": {"seed": 0, "device": "cpu", "num_workers": 0},
    }
    digest = engine.config_hash(base)

    def changed(**sections):
        return engine.config_hash(deep_merge(base, sections))

    assert changed(train={"device": "cuda", "num_workers": 8, "log_every": 1}) == digest
    assert changed(data={"data_root": "/elsewhere"}, eval={"batch_size": 7}) == digest
    assert changed(profile="cpu", bench={"models": ["resnet18"]}) == digest
    assert changed(train={"seed": 1}) != digest
    assert changed(model={"backbone": "resnet34"}) != digest
    assert changed(optimizer={"lr": 0.5}) != digest
    assert changed(data={"input_size": 32}) != digest
    assert changed(eval={"thresholds": [0.2]}) != digest
    # defaults are part of the identity: spelling one out changes nothing
    assert changed(train={"epochs": engine.DEFAULTS["train"]["epochs"]}) == digest


def test_config_hash_covers_the_code_behind_the_run(monkeypatch):
    from handlib import code_version

    base = {"model": {"name": "rcsf"}, "loss": {"name": "rcsf"}}
    modules = engine.code_modules(engine.resolve_config(base))
    assert {"handlib.papers.rcsf.models", "handlib.papers.rcsf.losses", "handlib.runs",
            "handlib.data.pipeline", "handlib.codecs.heatmap2d"} <= set(modules)
    followed = code_version.closure(modules)
    # the run machinery: the loop, prediction, the configuration and the runtime
    assert {"handlib.training", "handlib.evaluation", "handlib.runconfig",
            "handlib.runtime"} <= set(followed)
    assert "handlib.papers.rcsf.cpn" in followed and "handlib.models.backbones" in followed
    assert "handlib.results" not in followed and "handlib.viz" not in followed
    digest = engine.config_hash(base)
    real = code_version._module_digest

    def edited(module):  # as if the model's code (not its docstring) had changed
        digest_, imports = real(module)
        return (digest_ + "x", imports) if module == "handlib.models.backbones" else (digest_, imports)

    monkeypatch.setattr(code_version, "_module_digest", edited)
    assert engine.config_hash(base) != digest
    assert engine.config_hash({"model": {"name": "simple_baseline_r50"}}) != digest


def test_resolve_run_selects_a_named_run():
    from handlib.profiles import resolve_run

    chapter = {
        "train": {"epochs": 2},
        "runs": {"a": {"model": {"name": "x"}}, "b": {"train": {"epochs": 5}}},
    }
    assert resolve_run(chapter, "a") == {"train": {"epochs": 2}, "model": {"name": "x"}}
    assert resolve_run(chapter, "b")["train"]["epochs"] == 5
    with pytest.raises(ValueError, match="this config defines a, b"):
        resolve_run(chapter, None)
    assert resolve_run({"model": {"name": "x"}}, None) == {"model": {"name": "x"}}


def small_run_config() -> dict:
    """The real pipeline, model registry and loss at toy size (32² synthetic hands)."""
    return {
        "model": {"name": "simple_baseline_r50", "backbone": "resnet18", "width": 4,
                  "deconv_channels": 8},
        "data": {"source": "synthetic", "n": {"train": 16, "val": 8}, "input_size": 32,
                 "codec": {"name": "heatmap2d", "heatmap_size": 8, "sigma": 1.0}},
        "loss": {"name": "heatmap_mse"},
        "optimizer": {"name": "adam", "lr": 1e-3},
        "train": {"epochs": 2, "batch_size": 8, "device": "cpu", "log_every": 1},
        "eval": {"thresholds": [0.1, 0.2]},
    }


@pytest.fixture
def isolated_dirs(tmp_path, monkeypatch):
    monkeypatch.setenv("HANDLIB_RESULTS", str(tmp_path / "results"))
    monkeypatch.setenv("HANDLIB_CACHE", str(tmp_path / "cache"))
    return tmp_path


def _same_weights(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    return all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))


def test_load_or_train_writes_results_and_reuses_a_finished_run(isolated_dirs):
    import json

    from handlib.data.synthetic import GENERATOR_VERSION

    cfg = small_run_config()
    first = engine.load_or_train(cfg, experiment="t", profile="smoke", run="sb", progress=False)
    assert not first.reused and len(first.history) == 2
    run_dir = isolated_dirs / "results" / "t" / "smoke" / "sb"
    assert first.run_dir == run_dir
    assert sorted(p.name for p in run_dir.iterdir()) == ["history.csv", "metrics.json", "run.json"]
    record = json.loads((run_dir / "run.json").read_text())
    assert record["config_hash"] == engine.config_hash(cfg)
    assert record["dataset"] == {
        "source": "synthetic",
        "sizes": {"train": 16, "val": 8},
        "generator_version": GENERATOR_VERSION,
    }
    assert record["train_samples_per_s"] > 0 and record["device"] == "cpu"
    assert first.metrics["split"] == "val" and first.metrics["n"] == 8
    assert first.metrics["pck@0.2"] == pytest.approx(first.history["val_pck@0.2"].iloc[-1])

    again = engine.load_or_train(cfg, experiment="t", profile="smoke", run="sb", progress=False)
    assert again.reused and again.metrics == first.metrics
    assert _same_weights(again.model, first.model)

    numbers_only = engine.load_or_train(
        cfg, experiment="t", profile="smoke", run="sb", need_model=False
    )
    assert numbers_only.reused and numbers_only.model is None
    assert numbers_only.metrics == first.metrics


def test_load_or_train_retrains_without_checkpoint_or_after_a_change(isolated_dirs):
    cfg = small_run_config()
    first = engine.load_or_train(cfg, experiment="t", profile="smoke", run="sb", progress=False)
    engine.checkpoint_path(engine.config_hash(cfg)).unlink()  # a fresh clone: results, no cache
    rebuilt = engine.load_or_train(cfg, experiment="t", profile="smoke", run="sb", progress=False)
    assert not rebuilt.reused and _same_weights(rebuilt.model, first.model)  # deterministic

    changed = deep_merge(cfg, {"train": {"seed": 1}})
    other = engine.load_or_train(changed, experiment="t", profile="smoke", run="sb", progress=False)
    assert not other.reused and not _same_weights(other.model, first.model)
    assert other.provenance["config_hash"] == engine.config_hash(changed)


def test_train_command_trains_then_reuses(isolated_dirs, capsys):
    import yaml

    from handlib import cli

    path = isolated_dirs / "toy.yaml"
    path.write_text(yaml.safe_dump(small_run_config()))
    arguments = ["train", "--config", str(path), "--set", "train.epochs=1", "--no-progress"]
    assert cli.main(arguments) == 0
    assert "trained toy/smoke/simple_baseline_r50" in capsys.readouterr().out
    run_dir = isolated_dirs / "results" / "toy" / "smoke" / "simple_baseline_r50"
    assert (run_dir / "run.json").is_file()
    assert cli.main(arguments) == 0
    assert "reused toy/smoke/simple_baseline_r50" in capsys.readouterr().out
    assert cli.main(["train", "--config", str(path), "--set", "epochs"]) == 2
    assert "expects KEY=VALUE" in capsys.readouterr().err
