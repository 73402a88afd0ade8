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
