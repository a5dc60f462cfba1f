"""The executor of many fits: the append-only store, resume, failures, workers, Dask.

These tests use a tiny task (:func:`pyramid.executor._demo_square`) so that they never fit a
model; tests/test_planning.py kills a real design run.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from pyramid.errors import InputError
from pyramid.executor import (
    RunStore,
    Task,
    _demo_square,
    _flags_with_compiledir,
    run_tasks,
    worker_compiledir,
)


def _lines(folder: Path) -> list[dict]:
    with open(folder / "results.jsonl", encoding="utf-8") as fh:
        return [json.loads(x) for x in fh if x.strip()]


def _tasks(n: int, **extra) -> list[Task]:
    return [Task(f"t{i:03d}", {"x": i, **extra}) for i in range(n)]


# ------------------------------------------------------------------------------------------
# the store
# ------------------------------------------------------------------------------------------
def test_store_writes_manifest_and_reopens(tmp_path):
    with RunStore(tmp_path, {"kind": "demo", "n": 2}, {"note": "x"}) as st:
        st.append({"key": "a", "status": "ok", "result": {"y": 1}})
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["identity"] == {"kind": "demo", "n": 2}
    assert manifest["info"] == {"note": "x"}
    with RunStore(tmp_path, {"n": 2, "kind": "demo"}) as st:  # key order does not matter
        assert st.done() == {"a"}
        assert st.records()[0]["result"] == {"y": 1}


def test_store_refuses_other_arguments(tmp_path):
    with RunStore(tmp_path, {"kind": "demo", "sims": 10, "seed": 1}):
        pass
    with pytest.raises(InputError, match=r"other arguments \(sims: 10 in the folder, 20 now\)"):
        RunStore(tmp_path, {"kind": "demo", "sims": 20, "seed": 1}).open()


def test_store_refuses_results_without_manifest(tmp_path):
    (tmp_path / "results.jsonl").write_text('{"key": "a"}\n')
    with pytest.raises(InputError, match="no manifest.json"):
        RunStore(tmp_path, {"kind": "demo"}).open()


def test_store_refuses_a_file_as_folder(tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(InputError, match="is not a folder"):
        RunStore(f, {"kind": "demo"}).open()


def test_store_lock_stops_a_second_live_run(tmp_path):
    with RunStore(tmp_path, {"kind": "demo"}):
        with pytest.raises(InputError, match="another run is writing"):
            RunStore(tmp_path, {"kind": "demo"}).open()
    with RunStore(tmp_path, {"kind": "demo"}):  # released on close
        pass


def test_store_cuts_a_line_left_unfinished_by_a_kill(tmp_path):
    with RunStore(tmp_path, {"kind": "demo"}) as st:
        st.append({"key": "a", "status": "ok", "result": {}})
        st.append({"key": "b", "status": "ok", "result": {}})
    with open(tmp_path / "results.jsonl", "a") as fh:
        fh.write('{"key": "c", "status": "o')  # a write cut short
    with RunStore(tmp_path, {"kind": "demo"}) as st:
        assert st.done() == {"a", "b"}
        st.append({"key": "c", "status": "ok", "result": {}})
    assert [r["key"] for r in _lines(tmp_path)] == ["a", "b", "c"]


def test_store_damaged_line_is_an_error(tmp_path):
    with RunStore(tmp_path, {"kind": "demo"}):
        pass
    (tmp_path / "results.jsonl").write_text("not json\n")
    with pytest.raises(InputError, match="line 1 is not a result record"):
        RunStore(tmp_path, {"kind": "demo"}).open()


def test_store_counts_a_key_once(tmp_path):
    with RunStore(tmp_path, {"kind": "demo"}) as st:
        st.append({"key": "a", "status": "failed", "error": "boom"})
        st.append({"key": "a", "status": "ok", "result": {"y": 1}})  # a retry succeeded
        st.append({"key": "a", "status": "ok", "result": {"y": 2}})  # never written
        st.append({"key": "b", "status": "ok", "result": {"y": 3}})
        assert [(r["key"], r["status"]) for r in st.records()] == [("a", "ok"), ("b", "ok")]
        assert st.records()[0]["result"] == {"y": 1}
    assert len(_lines(tmp_path)) == 3
    with RunStore(tmp_path, {"kind": "demo"}) as st:  # the same on reading back
        assert {r["key"]: r["result"]["y"] for r in st.records()} == {"a": 1, "b": 3}


# ------------------------------------------------------------------------------------------
# running
# ------------------------------------------------------------------------------------------
def test_inline_run_records_failures_and_goes_on(tmp_path):
    tasks = [Task(f"t{i}", {"x": i, "fail": i == 1}) for i in range(4)]
    with RunStore(tmp_path, {"kind": "demo"}) as st:
        rep = run_tasks(_demo_square, tasks, st, jobs=0, progressbar=False)
        recs = {r["key"]: r for r in st.records()}
    assert (rep.ok, rep.failed, rep.skipped, rep.backend) == (3, 1, 0, "inline")
    assert recs["t1"]["status"] == "failed"
    assert recs["t1"]["error"] == "ValueError: asked to fail on x=1"
    assert "Traceback" in recs["t1"]["traceback"]
    assert [recs[f"t{i}"]["result"]["y"] for i in (0, 2, 3)] == [0, 4, 9]


def test_resume_skips_finished_and_failed_unless_asked(tmp_path):
    tasks = [Task(f"t{i}", {"x": i, "fail": i == 1}) for i in range(4)]
    with RunStore(tmp_path, {"kind": "demo"}) as st:
        run_tasks(_demo_square, tasks[:2], st, jobs=0, progressbar=False)
    with RunStore(tmp_path, {"kind": "demo"}) as st:
        rep = run_tasks(_demo_square, tasks, st, jobs=0, progressbar=False)
    assert (rep.skipped, rep.ok, rep.failed) == (2, 2, 0)
    fixed = [Task(t.key, {"x": t.payload["x"]}) for t in tasks]
    with RunStore(tmp_path, {"kind": "demo"}) as st:
        rep = run_tasks(_demo_square, fixed, st, jobs=0, progressbar=False, retry_failed=True)
        assert (rep.skipped, rep.ok) == (3, 1)
        assert all(r["status"] == "ok" for r in st.records())
    keys = [r["key"] for r in _lines(tmp_path)]
    assert sorted(set(keys)) == ["t0", "t1", "t2", "t3"] and keys.count("t1") == 2


def test_bad_arguments(tmp_path):
    with RunStore(tmp_path, {"kind": "demo"}) as st:
        with pytest.raises(InputError, match="unique; 't0' is given twice"):
            run_tasks(_demo_square, [Task("t0", {"x": 0})] * 2, st, jobs=0)
        with pytest.raises(InputError, match="not both"):
            run_tasks(_demo_square, _tasks(1), st, scheduler="tcp://x:1", dask_workers=1)
        with pytest.raises(InputError, match="jobs must be a whole number >= 0"):
            run_tasks(_demo_square, _tasks(1), st, jobs=-1)
        with pytest.raises(InputError, match="dask_workers must be a whole number >= 1"):
            run_tasks(_demo_square, _tasks(1), st, dask_workers=0)


def test_compiledir_flags():
    assert worker_compiledir(0, "/tmp/base").as_posix() == "/tmp/base/pyramid-worker-0"
    flags = _flags_with_compiledir("floatX=float64,base_compiledir=/x,compiledir=/y",
                                   Path("/tmp/w1"))
    assert flags == "floatX=float64,base_compiledir=/tmp/w1"


def test_worker_processes_one_thread_and_own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("PYTENSOR_FLAGS", f"base_compiledir={tmp_path / 'pt'}")
    tasks = _tasks(6, sleep=0.3)
    with RunStore(tmp_path / "run", {"kind": "demo"}) as st:
        rep = run_tasks(_demo_square, tasks, st, jobs=2, progressbar=False)
        recs = st.records()
    assert (rep.ok, rep.backend, rep.workers) == (6, "processes", 2)
    assert {r["result"]["threads"] for r in recs} == {"1"}
    assert {r["worker"] for r in recs} == {"0", "1"}
    for r in recs:
        expected = f"base_compiledir={tmp_path / 'pt' / ('pyramid-worker-' + r['worker'])}"
        assert r["result"]["pytensor_flags"] == expected
    assert len({r["result"]["pid"] for r in recs}) == 2
    assert all(r["result"]["pid"] != os.getpid() for r in recs)


def test_a_dying_worker_is_retried_then_recorded(tmp_path):
    tasks = _tasks(4) + [Task("dies", {"x": 9, "die": True})]
    with RunStore(tmp_path, {"kind": "demo"}) as st:
        rep = run_tasks(_demo_square, tasks, st, jobs=2, progressbar=False)
        recs = {r["key"]: r for r in st.records()}
    assert rep.ok == 4 and rep.failed == 1
    assert recs["dies"]["error"].startswith("WorkerDied")
    assert all(recs[t.key]["status"] == "ok" for t in tasks[:4])


def test_dask_local_cluster(tmp_path):
    pytest.importorskip("distributed")
    with RunStore(tmp_path, {"kind": "demo"}) as st:
        rep = run_tasks(_demo_square, _tasks(4) + [Task("bad", {"x": 1, "fail": True})], st,
                        dask_workers=2, progressbar=False)
        recs = {r["key"]: r for r in st.records()}
    assert (rep.ok, rep.failed, rep.backend, rep.workers) == (4, 1, "dask", 2)
    assert {recs[f"t{i:03d}"]["result"]["y"] for i in range(4)} == {0, 1, 4, 9}
    assert {r["result"]["threads"] for k, r in recs.items() if k != "bad"} == {"1"}
    assert all("pyramid-worker-dask-" in r["result"]["pytensor_flags"]
               for k, r in recs.items() if k != "bad")


def test_dask_scheduler_address(tmp_path):
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:
        with RunStore(tmp_path, {"kind": "demo"}) as st:
            rep = run_tasks(_demo_square, _tasks(3), st, scheduler=cluster.scheduler_address,
                            progressbar=False)
            assert sorted(r["result"]["y"] for r in st.records()) == [0, 1, 4]
    assert (rep.ok, rep.backend, rep.workers) == (3, "dask", 1)


def test_progress_bar_shows_done_failed_and_time_left(tmp_path, capsys):
    tasks = [Task(f"t{i}", {"x": i, "fail": i == 0}) for i in range(3)]
    with RunStore(tmp_path, {"kind": "demo"}) as st:
        run_tasks(_demo_square, tasks, st, jobs=0, progressbar=True, description="demo fits")
    err = capsys.readouterr().err
    assert "demo fits" in err and "3/3" in err and "failed 1" in err and "left" in err


# ------------------------------------------------------------------------------------------
# a run killed mid-way and started again
# ------------------------------------------------------------------------------------------
_SCRIPT = textwrap.dedent("""
    import sys
    from pyramid.executor import RunStore, Task, _demo_square, run_tasks

    if __name__ == "__main__":
        folder, n = sys.argv[1], int(sys.argv[2])
        tasks = [Task(f"t{i:03d}", {"x": i, "sleep": 0.15}) for i in range(n)]
        with RunStore(folder, {"kind": "kill-test", "n": n}) as store:
            run_tasks(_demo_square, tasks, store, jobs=2, progressbar=False)
""")


def _start(script: Path, folder: Path, n: int) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(script), str(folder), str(n)],
                            start_new_session=True, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)


def _wait_for_lines(folder: Path, n: int, proc: subprocess.Popen, timeout: float = 60) -> None:
    path = folder / "results.jsonl"
    t0 = time.time()
    while time.time() - t0 < timeout:
        if path.exists() and len(path.read_text().splitlines()) >= n:
            return
        if proc.poll() is not None:
            raise AssertionError(f"the run ended early: {proc.communicate()}")
        time.sleep(0.05)
    raise AssertionError("the run wrote too few results in time")


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT])
def test_killed_run_resumes_with_every_task_once(tmp_path, sig):
    script = tmp_path / "run.py"
    script.write_text(_SCRIPT)
    folder, n = tmp_path / "out", 40
    proc = _start(script, folder, n)
    _wait_for_lines(folder, 5, proc)
    os.killpg(proc.pid, sig)  # the whole run: the parent and its workers, as Ctrl-C does
    proc.communicate(timeout=60)
    before = _lines(folder)
    assert 5 <= len(before) < n
    proc = _start(script, folder, n)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err.decode()
    keys = [r["key"] for r in _lines(folder)]
    assert sorted(keys) == [f"t{i:03d}" for i in range(n)]  # each once, none lost
    assert keys[: len(before)] == [r["key"] for r in before]  # finished ones kept as written


# ------------------------------------------------------------------------------------------
# failures outside the model are retried; a run's workers end with it
# ------------------------------------------------------------------------------------------
def test_failures_outside_the_model_are_retried(tmp_path):
    folder, flag = tmp_path / "out", tmp_path / "disk-has-room"
    tasks = [Task("ok", {"x": 1}), Task("model", {"x": 2, "fail": True}),
             Task("disk", {"x": 3, "os_error_unless": str(flag)})]
    with RunStore(folder, {"kind": "retry"}) as store:
        report = run_tasks(_demo_square, tasks, store, jobs=0, progressbar=False)
        assert report.failed == 2
        assert store.done() == {"ok", "model"}  # the OS error is not done: it runs again
    disk = next(r for r in _lines(folder) if r["key"] == "disk")
    assert disk["outside_model"] is True and "OSError" in disk["error"]
    flag.write_text("")  # the disk has room again
    with RunStore(folder, {"kind": "retry"}) as store:
        report = run_tasks(_demo_square, tasks, store, jobs=0, progressbar=False)
        assert report.ok == 1 and report.failed == 0 and report.skipped == 2
        assert {r["key"]: r["status"] for r in store.records()} == {
            "ok": "ok", "model": "failed", "disk": "ok"}
    # a failure of the model itself runs again only when asked
    with RunStore(folder, {"kind": "retry"}) as store:
        report = run_tasks(_demo_square, tasks, store, jobs=0, progressbar=False,
                           retry_failed=True)
        assert report.failed == 1 and report.skipped == 2


def test_old_records_of_os_errors_are_retried(tmp_path):
    # a store written before 'outside_model' was recorded: the error's name says it
    folder = tmp_path / "out"
    with RunStore(folder, {"kind": "old"}) as store:
        store.append({"key": "a", "status": "failed", "error": "ValueError: Unable to create "
                      "the compiledir directory '/home/x/.pytensor/compiledir_Linux'"})
        store.append({"key": "b", "status": "failed", "error": "PermissionError: [Errno 13]"})
        store.append({"key": "c", "status": "failed", "error": "ValueError: bad prior"})
        assert store.done() == {"c"}


def _descendants(pid: int) -> set[int]:
    out, todo = set(), [pid]
    while todo:
        p = todo.pop()
        for task in Path(f"/proc/{p}/task").glob("*"):
            try:
                kids = (task / "children").read_text().split()
            except OSError:
                continue
            for k in map(int, kids):
                if k not in out:
                    out.add(k)
                    todo.append(k)
    return out


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="needs Linux /proc")
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
def test_a_killed_run_leaves_no_worker_behind(tmp_path, sig):
    # the parent alone gets the signal (not its process group, as Ctrl-C in a terminal
    # would): SIGTERM stops the pool on its way out; after SIGKILL each worker notices that
    # its parent is gone and ends (they used to run on, about 500 MB each, under PID 1)
    script = tmp_path / "run.py"
    script.write_text(_SCRIPT)
    folder = tmp_path / "out"
    proc = _start(script, folder, 400)
    _wait_for_lines(folder, 3, proc)
    workers = _descendants(proc.pid)
    assert len(workers) >= 2, workers
    os.kill(proc.pid, sig)
    proc.communicate(timeout=60)
    if sig == signal.SIGTERM:
        assert proc.returncode == 143
    t0 = time.time()
    while any(_alive(p) for p in workers) and time.time() - t0 < 20:
        time.sleep(0.2)
    assert not [p for p in workers if _alive(p)], "workers left running"
    n = len(_lines(folder))
    time.sleep(1)
    assert len(_lines(folder)) == n  # nobody writes any more
