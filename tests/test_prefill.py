"""Pre-filling the synthetic shards of many runs at once (handlib.data.prefill): shared sources
filled once, shard by shard over processes, with the same files as one process, and nothing left
for the runs to render."""
from __future__ import annotations

from pathlib import Path

import pytest

from handlib.data import synthetic
from handlib.data.pipeline import build_dataset
from handlib.data.prefill import prefill


@pytest.fixture(autouse=True)
def own_cache(tmp_path, monkeypatch):
    """A cache of this test's own: shard counts start from nothing."""
    monkeypatch.setenv("HANDLIB_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def spec(**changes) -> dict:
    """A tiny synthetic data spec: 32 px crops, a few samples per split."""
    return {"n": {"train": 5, "val": 3}, "input_size": 32,
            "codec": {"name": "heatmap2d", "heatmap_size": 8, "sigma": 1.0}, **changes}


def shard_files(cache: Path) -> dict[str, bytes]:
    return {str(p.relative_to(cache)): p.read_bytes()
            for p in sorted((cache / "synthetic").rglob("*")) if p.is_file()}


def counting_renderer(monkeypatch) -> list[int]:
    """Record every sample index the synthetic engine renders (in this process)."""
    rendered: list[int] = []
    generate = synthetic.generate

    def counted(params, split, seed, indices, *args, **kwargs):
        rendered.extend(indices)
        return generate(params, split, seed, indices, *args, **kwargs)

    monkeypatch.setattr(synthetic, "generate", counted)
    return rendered


def test_two_specs_sharing_a_source_fill_it_once_and_real_data_is_skipped(monkeypatch):
    rendered = counting_renderer(monkeypatch)
    other_codec = spec(codec={"name": "heatmap2d", "heatmap_size": 16, "sigma": 2.0},
                       augment={"rotation_deg": 30})
    real = {"source": "RHD", "data_root": "/nowhere"}
    done = prefill([(spec(), "train"), (other_codec, "train"), (real, "test")], processes=1)
    assert (done["sources"], done["shards_filled"], done["shards_present"]) == (1, 1, 0)
    assert sorted(rendered) == [0, 1, 2, 3, 4]  # each sample once
    assert done["seconds"] > 0


def test_after_prefill_building_and_reading_the_datasets_renders_nothing(monkeypatch):
    specs = [(spec(), "train"), (spec(), "val"), (spec(modality="depth"), "train")]
    done = prefill(specs, processes=2)
    assert (done["sources"], done["shards_filled"]) == (3, 3)

    def no_rendering(*args, **kwargs):
        raise AssertionError("a sample was rendered after the pre-fill")

    monkeypatch.setattr(synthetic, "generate", no_rendering)
    for data, split in specs:
        dataset = build_dataset(data, split)
        assert len([dataset[i] for i in range(len(dataset))]) == data["n"][split]
    again = prefill(specs)  # a second call finds every shard there
    assert (again["shards_filled"], again["shards_present"]) == (0, 3)


def test_shards_are_filled_one_per_task_with_the_same_files_as_one_process(tmp_path,
                                                                          monkeypatch):
    """A split larger than a shard is spread over the pool shard by shard; two processes write
    byte for byte the files one process writes."""
    big = spec(n={"train": 260, "val": 3})  # two shards of the default 256 samples, and one
    specs = [(big, "train"), (big, "val")]
    files = {}
    for processes in (1, 2):
        cache = tmp_path / f"cache{processes}"
        monkeypatch.setenv("HANDLIB_CACHE", str(cache))
        done = prefill(specs, processes=processes)
        assert (done["sources"], done["shards_filled"]) == (2, 3)
        files[processes] = shard_files(cache)
    assert len(files[1]) > 3 and files[1] == files[2]


def test_a_bad_process_count_or_split_is_refused():
    with pytest.raises(ValueError, match="processes=0 must be a positive integer"):
        prefill([(spec(), "train")], processes=0)
    with pytest.raises(ValueError, match="no sample count for split 'test'"):
        prefill([(spec(), "test")])
