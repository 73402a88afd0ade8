import pytest

from handlib.profiles import PROFILE_NAMES, deep_merge, load_profile


def test_deep_merge_merges_nested_and_replaces_leaves():
    base = {"a": {"x": 1, "y": 2}, "b": [1, 2]}
    merged = deep_merge(base, {"a": {"y": 3}, "b": [9]})
    assert merged == {"a": {"x": 1, "y": 3}, "b": [9]}
    assert base == {"a": {"x": 1, "y": 2}, "b": [1, 2]}, "inputs are not modified"


def test_unknown_profile_names_the_valid_ones():
    with pytest.raises(ValueError) as info:
        load_profile("claims", "fast")
    for name in PROFILE_NAMES:
        assert name in str(info.value)


def test_unknown_chapter_is_a_clear_error():
    with pytest.raises(ValueError, match="no profiles for chapter 'nope'"):
        load_profile("nope", "smoke")


def test_profile_resolution_applies_overrides_and_records_its_name(tmp_path):
    cfg = load_profile("claims", "smoke", seed=3, data_root=None)
    assert cfg["profile"] == "smoke" and cfg["chapter"] == "claims"
    assert cfg["seed"] == 3
    assert "data_root" not in cfg or cfg["data_root"] is None


@pytest.mark.parametrize("chapter", ["rcsf", "msff", "internet_plus", "resunet", "crossinfonet"])
def test_every_real_dataset_of_a_paper_profile_names_splits_its_loader_has(chapter):
    """A `paper` profile's dataset reads its training, validation and test splits by name; each
    must be a split of the dataset's loader (``<split>:fit``/``:val`` hold out part of one)."""
    from handlib.data.formats import dataset_info, held_out_part
    from handlib.engine import resolve_config
    from handlib.study import run_config

    cfg = load_profile(chapter, "paper")
    for name, entry in cfg["study"]["datasets"].items():
        run = next(iter(cfg["runs"]))
        config = resolve_config(run_config(cfg, name, run, 0))
        splits = {config["train"]["split"], config["eval"]["split"], config["eval"]["test_split"]}
        known = dataset_info(entry["source"]).splits
        unknown = sorted(s for s in splits if held_out_part(s)[0] not in known)
        assert not unknown, f"{chapter} paper profile, {name}: no split(s) {unknown} in {known}"


def test_the_code_hash_of_a_run_on_a_real_dataset_follows_its_loader_module():
    from handlib.engine import code_hash, code_modules

    config = {"model": {"name": "internet"}, "data": {"source": "interhand26m",
              "codec": {"name": "heatmap3d"}}}
    assert "handlib.data.formats.interhand" in code_modules(config)
    assert len(code_hash(config)) > 8


# --- the machine a run starts on (handlib.runconfig.check_runtime) ---------------------------

def _runtime(**facts):
    """A machine that can run everything (an Ampere GPU with Triton and compilers), with
    ``facts`` changed."""
    from handlib.runconfig import Runtime

    able = {"torch_version": "2.11.0+cu128", "device_type": "cuda", "capability": (8, 0),
            "triton": True, "c_compiler": "/usr/bin/gcc", "cxx_compiler": "/usr/bin/g++"}
    return Runtime(**{**able, **facts})


TRAIN = {"amp": True, "compile": True}


@pytest.mark.parametrize("facts, train, refusal", [
    ({"torch_version": "2.0.1+cu118"}, TRAIN, r"torch 2\.0\.1\+cu118 is too old .* torch >= 2\.1"),
    ({"torch_version": "1.13.1"}, {"amp": False, "compile": False}, r"torch 1\.13\.1 is too old"),
    ({"capability": (7, 5)}, TRAIN, r"compute capability 7\.5\) has no bf16: .* >= 8\.0"),
    ({"triton": False}, TRAIN, r"on cuda needs Triton \(pip install triton\), not found"),
    ({"c_compiler": None}, TRAIN, r"on cuda needs a C compiler"),
    ({"device_type": "cpu", "capability": None, "cxx_compiler": None}, TRAIN,
     r"on cpu needs a C\+\+ compiler .*train\.compile=false"),
])
def test_a_machine_that_cannot_run_the_profile_is_refused_naming_what_it_lacks(facts, train,
                                                                                refusal):
    from handlib.runconfig import check_runtime

    with pytest.raises(ValueError, match=refusal):
        check_runtime(train, _runtime(**facts))


@pytest.mark.parametrize("facts, train", [
    ({}, TRAIN),
    ({"torch_version": "2.1.0a0+git1234"}, TRAIN),  # a source build of the oldest torch
    ({"capability": (7, 5)}, {"amp": False, "compile": True}),  # fp32 needs no bf16
    ({"capability": (7, 5), "device_type": "cpu"}, TRAIN),  # autocast is CUDA's only
    ({"triton": False, "c_compiler": None, "cxx_compiler": None}, {"amp": True, "compile": False}),
    ({"device_type": "cpu", "capability": None, "triton": False}, TRAIN),  # no Triton on the CPU
])
def test_a_machine_that_can_run_the_profile_is_not_refused(facts, train):
    from handlib.runconfig import check_runtime

    check_runtime(train, _runtime(**facts))


def test_the_compiler_named_by_the_environment_is_the_one_looked_for(monkeypatch):
    from handlib.runconfig import check_runtime, detect_runtime

    monkeypatch.setenv("CXX", "no-such-compiler++")
    runtime = detect_runtime("cpu")
    assert runtime.device_type == "cpu" and runtime.capability is None
    assert runtime.cxx_compiler is None
    with pytest.raises(ValueError, match="on cpu needs a C\\+\\+ compiler"):
        check_runtime({"amp": True, "compile": True}, runtime)


@pytest.mark.parametrize("profile", ["smoke", "cpu"])
def test_this_machine_can_start_every_run_of_the_cpu_profiles(profile, monkeypatch):
    from handlib.engine import check_device
    from handlib.papers import PAPERS
    from handlib.study import study_runs

    monkeypatch.setattr("torch.cuda.is_available", lambda: False)  # as on a machine without one
    for chapter in PAPERS:
        for run in study_runs(load_profile(chapter, profile)):
            check_device(run.config)
