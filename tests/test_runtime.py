"""How many CPU threads a run takes (``handlib.runtime.cpu_threads``): every core on a quiet
machine, one fewer per core another process keeps busy, and the environment's fixed count."""
import os

import pytest
import torch

from handlib import runtime


@pytest.fixture
def two_cores(monkeypatch):
    monkeypatch.delenv(runtime.THREADS_VARIABLE, raising=False)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1})
    monkeypatch.setattr(runtime, "_last_choice", {})  # no choice from an earlier test


def test_a_choice_is_reused_for_a_while_then_made_again(two_cores, monkeypatch):
    busy = iter([0.0, 1.0])
    monkeypatch.setattr(runtime, "busy_cores_elsewhere", lambda window_s: next(busy))
    assert runtime.cpu_threads() == 2
    assert runtime.cpu_threads() == 2  # reused: the machine is not sampled again
    runtime._last_choice["at"] -= runtime.THREADS_REUSE_S
    assert runtime.cpu_threads() == 1


@pytest.mark.parametrize("busy, threads", [(None, 2), (0.0, 2), (0.4, 2), (0.6, 1), (1.0, 1),
                                           (2.0, 1), (3.7, 1)])
def test_threads_follow_the_cores_other_processes_keep_busy(two_cores, monkeypatch, busy,
                                                            threads):
    monkeypatch.setattr(runtime, "busy_cores_elsewhere", lambda window_s: busy)
    assert runtime.cpu_threads() == threads


def test_the_environment_fixes_the_thread_count(two_cores, monkeypatch):
    monkeypatch.setattr(runtime, "busy_cores_elsewhere", lambda window_s: 0.0)
    monkeypatch.setenv(runtime.THREADS_VARIABLE, "1")
    assert runtime.cpu_threads() == 1


def test_resolving_the_cpu_sets_the_chosen_threads(two_cores, monkeypatch):
    monkeypatch.setattr(runtime, "busy_cores_elsewhere", lambda window_s: 1.0)
    before = torch.get_num_threads()
    try:
        assert runtime.resolve_device("cpu") == torch.device("cpu")
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


def test_busy_cores_are_read_from_proc_where_it_exists():
    busy = runtime.busy_cores_elsewhere(0.05)
    if not os.path.exists("/proc/stat"):
        assert busy is None
    else:
        assert 0.0 <= busy <= os.cpu_count() + 1  # ticks are coarse: allow one core of rounding


@pytest.mark.parametrize("value", ["two", "0", "-1", "1.5"])
def test_a_bad_fixed_thread_count_is_a_clear_error(two_cores, monkeypatch, value):
    monkeypatch.setenv(runtime.THREADS_VARIABLE, value)
    with pytest.raises(ValueError, match="positive whole number"):
        runtime.cpu_threads()
