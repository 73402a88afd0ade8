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
