"""Benchmarks: exact parameter/FLOP/MAC counts on hand-made models, the speed measurements'
shape, and the ``handlib bench`` command."""
from __future__ import annotations

import json
import math
import statistics

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn as nn

from handlib import bench, cli, models, throughput
from handlib.profiles import tiny_overrides


def test_counts_of_a_convolution_are_exact():
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.ReLU())
    counts = bench.count(model, 16)
    macs = 8 * 3 * 3 * 3 * 16 * 16  # out channels × in channels × kernel × output pixels
    assert counts["gmacs"] == pytest.approx(macs / 1e9)
    assert counts["gflops"] == pytest.approx(2 * macs / 1e9)
    assert counts["params_m"] == pytest.approx(8 * 3 * 3 * 3 / 1e6)
    assert counts["size_mb"] == pytest.approx(8 * 3 * 3 * 3 * 4 / 2**20)


def test_resnet50_costs_the_commonly_quoted_4_1_gmacs_at_224():
    from handlib import models

    counts = bench.count(models.build("resnet50"), 224)
    assert counts["params_m"] == pytest.approx(23.508032)
    assert counts["gmacs"] == pytest.approx(4.09, abs=0.01)


def test_benchmark_measures_eager_and_fast_paths():
    result = bench.benchmark(
        "resnet18", input_size=64, batch_sizes=[1, 2], device="cpu", fast=True, compile=False,
        warmup=1, repeats=2, model_kwargs={"width": 8},
    )
    assert result["device"] == "cpu" and result["device_name"].startswith("CPU")
    assert [(r["mode"], r["batch"]) for r in result["speed"]] == [
        ("eager", 1), ("eager", 2), ("fast", 1), ("fast", 2)
    ]
    for row in result["speed"]:
        assert row["latency_ms"] > 0
        assert row["infer_img_s"] == pytest.approx(row["batch"] / row["latency_ms"] * 1e3)
        assert row["train_img_s"] > 0
    train = {(r["mode"], r["batch"]): r["train_img_s"] for r in result["speed"]}
    assert result["speedup"][2] == pytest.approx(train["fast", 2] / train["eager", 2])
    frame = bench.table([result])
    assert len(frame) == 4 and frame["fast/eager training"].notna().sum() == 2


def test_fast_path_is_measured_on_cuda_only_by_default():
    result = bench.benchmark("resnet18", 64, [1], "cpu", warmup=0, repeats=1,
                             model_kwargs={"width": 8})
    assert [r["mode"] for r in result["speed"]] == ["eager"] and result["speedup"] == {}


def test_bench_command_prints_counts_as_json(capsys):
    code = cli.main(
        ["bench", "--model", "simple_baseline_r50", "--input", "64", "--counts-only", "--json"]
    )
    assert code == 0
    result = json.loads(capsys.readouterr().out)
    assert result["params_m"] == pytest.approx(34.000725)  # ResNet-50 + 3 deconvs + 21-joint head
    assert result["gflops"] == pytest.approx(2 * result["gmacs"])
    assert result["speed"] == []


def test_bench_command_rejects_bad_input(capsys):
    assert cli.main(["bench", "--model", "resnet18", "--batch", "1,x"]) == 2
    assert "comma-separated integers" in capsys.readouterr().err
    assert cli.main(["bench", "--model", "no_such_model", "--counts-only"]) == 2
    assert "unknown model 'no_such_model'" in capsys.readouterr().err


def test_bench_feeds_a_run_the_input_its_data_gives_it():
    """A depth run is measured on a 1-channel crop of its input size; the counts are those of the
    model its configuration builds."""
    config = {"model": {"name": "resnet18", "width": 8, "in_channels": 1},
              "data": {"modality": "depth", "input_size": 96,
                       "codec": {"name": "depth_crop", "heatmap_size": 24}}}
    result = bench.benchmark_config(config, counts_only=True, device="cpu")
    assert result["in_channels"] == 1 and result["input_size"] == 96
    rgb = bench.benchmark_config({"model": {"name": "resnet18", "width": 8},
                                  "data": {"input_size": 96}}, counts_only=True, device="cpu")
    assert rgb["in_channels"] == 3 and rgb["params_m"] > result["params_m"]


def test_bench_command_measures_a_chapters_run_as_configured(capsys):
    assert cli.main(["bench", "--chapter", "rcsf", "--profile", "smoke", "--run", "rcsf",
                     "--counts-only", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["model"] == "rcsf" and result["input_size"] == 64 and result["in_channels"] == 3
    assert result["params_m"] < 1  # the smoke profile's narrow family, not the paper's 31 M


def test_module_table_lists_every_top_level_module_and_its_parameters():
    torch.manual_seed(0)
    model = models.build("msff", width=8, layers=[1, 1, 1, 1], channels=16, depth_bins=4,
                         root_bins=4, hidden=8)
    table = bench.module_table(model, 64)
    assert list(table.index) == [name for name, _ in model.named_children()]
    total = sum(p.numel() for p in model.parameters())
    assert table["params (M)"].sum() * 1e6 == pytest.approx(total)
    assert table.loc["head", "output"] == (1, 42 * 4, 16, 16)
    assert table.loc["hand_type_head", "kind"] == "Sequential"


def test_forward_gflops_counts_the_model_a_run_configures_at_its_input():
    config = {"model": {"name": "resnet18", "width": 8, "in_channels": 1},
              "data": {"modality": "depth", "input_size": 48,
                       "codec": {"name": "depth_crop", "heatmap_size": 12}}}
    model = models.build("resnet18", width=8, in_channels=1)
    assert bench.forward_gflops(config) == pytest.approx(bench.count(model, 48, 1)["gflops"])
    assert bench.model_input_size(config) == (48, 1)


def test_gemm_rate_is_a_positive_finite_rate():
    rate = throughput.gemm_rate(size=64, repeats=2, warmup=1)
    assert math.isfinite(rate) and rate > 0
    with pytest.raises(ValueError, match="repeats >= 1"):
        throughput.gemm_rate(size=64, repeats=0)


def test_throughput_table_has_a_row_per_headline_run_thread_count_and_layout(tmp_path, capsys):
    """The CLI on InterNet+'s two headline runs at toy size: every run at each thread count,
    contiguous and channels-last, with finite positive rates (timings are not asserted)."""
    out = tmp_path / "throughput.csv"
    assert cli.main(["throughput", "--profile", "smoke", "--chapter", "internet_plus",
                     "--tiny", "--steps", "1", "--warmup", "0", "--threads", "1",
                     "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "Channels-last samples/s over contiguous" in printed
    table = pd.read_csv(out)
    assert tuple(table.columns) == throughput.THROUGHPUT_COLUMNS
    runs = throughput.headline_runs("internet_plus", "smoke", tiny_overrides("internet_plus"))
    assert list(runs) == ["STB-internet", "STB-internet_plus"]
    assert list(zip(table["run"], table["threads"], table["channels_last"])) == [
        (run, threads, layout) for run in runs for threads in (1,) for layout in (False, True)]
    assert (table["chapter"] == "internet_plus").all()
    assert (table["input size"] == runs["STB-internet"]["data"]["input_size"]).all()
    for column in ("GFLOPs/sample", "samples/s", "achieved GFLOP/s", "GEMM GFLOP/s",
                   "fraction of GEMM"):
        assert np.isfinite(table[column]).all() and (table[column] > 0).all(), column
    assert table["achieved GFLOP/s"].to_numpy() == pytest.approx(
        3 * table["GFLOPs/sample"] * table["samples/s"])
    speedup = throughput.channels_last_speedup(table)
    assert list(speedup.columns) == ["1 thread(s)"] and len(speedup) == 2


def test_throughput_command_rejects_bad_input(capsys):
    assert cli.main(["throughput", "--threads", "0"]) == 2
    assert "--threads values must be positive" in capsys.readouterr().err
    assert cli.main(["throughput", "--steps", "0"]) == 2
    assert "--steps must be at least 1" in capsys.readouterr().err
    assert cli.main(["throughput", "--profile", "smoke", "--chapter", "engine"]) == 2
    assert "chapter 'engine' has no study group 'main'" in capsys.readouterr().err
    assert cli.main(["throughput", "--out", "/proc/no/such/table.csv"]) == 2
    assert "cannot create its folder" in capsys.readouterr().err


def test_interleaved_rounds_alternate_the_models_and_record_every_round():
    """A fake clock that each step advances by its own cost: the steps run A, B, A, B after
    their warm-up, and every round's time is recorded (a load in round 2 hits both)."""
    now, calls = [0.0], []
    costs = {"A": [1.0, 5.0, 1.0], "B": [2.0, 6.0, 2.0]}   # round 2: the machine is busy

    def step(label):
        def run():
            calls.append(label)
            if len(calls) > 2:                            # past the one warm-up call of each
                now[0] += costs[label][sum(c == label for c in calls[2:]) - 1]
        return run

    rounds = bench.interleaved_seconds({"A": step("A"), "B": step("B")}, torch.device("cpu"),
                                       warmup=1, repeats=3, clock=lambda: now[0])
    assert calls == ["A", "B", "A", "B", "A", "B", "A", "B"]
    assert rounds == {"A": [1.0, 5.0, 1.0], "B": [2.0, 6.0, 2.0]}
    with pytest.raises(ValueError, match="repeats >= 1"):
        bench.interleaved_seconds({"A": step("A")}, torch.device("cpu"), 0, 0)


def test_rounds_agree_only_by_a_sign_test_at_the_declared_level():
    """Six rounds in one order agree at 5 %; four of six do not, although the medians (1.0 s
    against 1.5 s) would have declared the first model the faster; two rounds are too few to
    agree, and a bench without rounds cannot."""
    assert bench.sign_test_p(6, 6) == pytest.approx(2 / 64)
    assert bench.sign_test_p(4, 6) == pytest.approx(2 * 22 / 64)
    assert bench.rounds_disagree([1.0] * 6, [1.5] * 6, 0.05) is None
    fast, slow = [1.0, 1.0, 1.0, 1.0, 2.0, 2.0], [1.5] * 6
    assert statistics.median(fast) < statistics.median(slow)
    assert bench.rounds_disagree(fast, slow, 0.05, ("A", "B")) == (
        "the repeats disagree: A was faster than B in 4 of 6 interleaved rounds (two-sided sign "
        "test p = 0.69 > 0.05)")
    assert bench.rounds_disagree([1.0, 1.0], [2.0, 2.0], 0.05).startswith(
        "too few repeats: 2 interleaved round(s) with a winner, and a sign test at 0.05 needs at "
        "least 6")
    assert bench.rounds_disagree([], [], 0.05).startswith("no interleaved rounds recorded")
    assert bench.rounds_needed(0.05) == 6 and bench.rounds_needed(0.01) == 8
    with pytest.raises(ValueError, match="between 0 and 1, got 5"):
        bench.rounds_needed(5)


def test_benchmark_configs_times_the_compared_models_in_the_same_rounds():
    config = {"model": {"name": "resnet18", "width": 8}, "data": {"input_size": 32}}
    found = bench.benchmark_configs({"a": config, "b": config, "counted": config}, [1, 2], "cpu",
                                    timed=["a", "b"], warmup=0, repeats=3, train_batch_sizes=[2])
    assert found["counted"]["speed"] == [] and found["counted"]["params_m"] > 0
    for label in ("a", "b"):
        rows = found[label]["speed"]
        assert [(r["mode"], r["batch"]) for r in rows] == [("eager", 1), ("eager", 2)]
        assert all(len(r["latency_rounds_ms"]) == 3 for r in rows)
        assert rows[0]["latency_ms"] == pytest.approx(statistics.median(rows[0]["latency_rounds_ms"]))
        assert rows[0]["train_step_rounds_s"] == [] and math.isnan(rows[0]["train_step_s"])
        assert rows[1]["train_step_s"] == pytest.approx(statistics.median(rows[1]["train_step_rounds_s"]))
    with pytest.raises(ValueError, match=r"cannot time \['c'\]"):
        bench.benchmark_configs({"a": config}, [1], "cpu", timed=["c"], repeats=1)
