"""pyramid.models.malloc: freed memory kept for reuse while a model samples (glibc only)."""

import resource
import threading

import numpy as np
import pytest

from pyramid.models import malloc

glibc_only = pytest.mark.skipif(malloc.glibc() is None, reason="needs glibc's mallopt")


class _FakeLibc:
    def __init__(self):
        self.calls = []

    def mallopt(self, k, v):
        self.calls.append(("mallopt", k.value, v.value))
        return 1

    def malloc_trim(self, pad):
        self.calls.append(("trim", pad.value))
        return 1


def test_set_while_inside_and_put_back_by_the_last_user(monkeypatch):
    fake = _FakeLibc()
    monkeypatch.setattr(malloc, "glibc", lambda: fake)
    monkeypatch.delenv("PYRAMID_MALLOC_TUNING", raising=False)
    with malloc.reuse_freed_memory() as on:
        assert on
        assert fake.calls == [("mallopt", k, v) for k, v in malloc.SAMPLING.items()]
        with malloc.reuse_freed_memory() as inner:  # a second user: nothing set again
            assert inner
        assert len(fake.calls) == 2  # the inner exit put nothing back
    assert fake.calls[2:] == [("mallopt", k, v) for k, v in malloc.AFTER.items()] + [
        ("trim", 0)]


def test_put_back_after_an_error(monkeypatch):
    fake = _FakeLibc()
    monkeypatch.setattr(malloc, "glibc", lambda: fake)
    with pytest.raises(KeyboardInterrupt), malloc.reuse_freed_memory():
        raise KeyboardInterrupt
    assert fake.calls[-1] == ("trim", 0) and malloc._users == 0


def test_off_by_environment_or_off_glibc(monkeypatch):
    fake = _FakeLibc()
    monkeypatch.setattr(malloc, "glibc", lambda: fake)
    monkeypatch.setenv("PYRAMID_MALLOC_TUNING", "0")
    with malloc.reuse_freed_memory() as on:
        assert not on
    monkeypatch.delenv("PYRAMID_MALLOC_TUNING")
    monkeypatch.setattr(malloc, "glibc", lambda: None)
    with malloc.reuse_freed_memory() as on:
        assert not on
    assert fake.calls == []


def test_threads_share_one_setting(monkeypatch):
    fake = _FakeLibc()
    monkeypatch.setattr(malloc, "glibc", lambda: fake)
    monkeypatch.delenv("PYRAMID_MALLOC_TUNING", raising=False)
    inside, go = threading.Barrier(3), threading.Event()

    def user():
        with malloc.reuse_freed_memory():
            inside.wait()
            go.wait()

    threads = [threading.Thread(target=user) for _ in range(2)]
    for t in threads:
        t.start()
    inside.wait()  # both inside at once
    assert sum(c[0] == "mallopt" for c in fake.calls) == 2  # set once
    go.set()
    for t in threads:
        t.join()
    assert [c[0] for c in fake.calls] == ["mallopt"] * 4 + ["trim"]


def _faults_reallocating(arrays: int, times: int) -> int:
    """Minor page faults while ``times`` rounds allocate, touch and free 1 MiB arrays (under
    numpy's 4 MiB threshold for asking for huge pages, so a fault is one 4 KiB page)."""
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(times):
        held = [np.empty(1 << 17) for _ in range(arrays)]
        for a in held:
            a.fill(1.0)  # touch every page
        del held, a
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before


@glibc_only
def test_reallocated_blocks_are_not_faulted_in_again(monkeypatch):
    # the point of the setting: a gradient call's arrays, freed and allocated again, come back
    # without the kernel mapping and clearing their pages again. 128 x 1 MiB freed at once is
    # more than glibc keeps outside (it trims the heap's top beyond twice its mmap threshold,
    # 32 MiB at most, so every page faults again) and less than the 1 GiB kept inside
    monkeypatch.delenv("PYRAMID_MALLOC_TUNING", raising=False)
    with malloc.reuse_freed_memory() as on:
        assert on
        _faults_reallocating(128, 1)  # the heap grows once
        inside = _faults_reallocating(128, 4)
    outside = _faults_reallocating(128, 4)
    pages = 4 * 128 * (1 << 20) // resource.getpagesize()
    assert outside > pages / 2, (outside, pages)
    assert inside < pages / 20, (inside, pages)
