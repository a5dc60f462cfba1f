"""Run many fits: local worker processes or Dask, an append-only results store, resume.

The design analysis and the calibration (:mod:`pyramid.planning`, :mod:`pyramid.calibration`) each run hundreds of
independent simulate-and-fit tasks. This module runs them and keeps their results safe:

* **Workers.** By default a pool of local worker processes, one per usable core, started with
  ``spawn`` (a clean interpreter: nothing of the parent's PyTensor state is inherited). Each
  worker runs one thread: ``OMP/MKL/OPENBLAS/NUMBA`` threads are set to 1 (and BLAS pools are
  limited with threadpoolctl), and the fits use one nutpie thread. Each worker gets its own
  PyTensor compile cache (``<base_compiledir>/pyramid-worker-<slot>``), so parallel compiles
  never wait on each other's locks or write the same cache files; the slot numbers are stable,
  so a later run finds its caches warm. With ``scheduler="tcp://..."`` the tasks go to a Dask
  distributed cluster instead, or with ``dask_workers=K`` to a local Dask cluster of K
  single-threaded worker processes (the same one-thread and own-cache setup, by a worker
  plugin). ``jobs=0`` runs the tasks in this process (for debugging and tiny runs).
* **Store.** Each finished task is appended at once, as one JSON line, to ``results.jsonl``
  in the output folder, flushed and ``fsync``-ed before the next one is taken, by the parent
  process only (one writer). A ``manifest.json`` written when the folder is first used holds
  the run's identity (everything that determines the results); a later run into the same
  folder must have the same identity, or it is refused with a message naming what differs.
* **Resume.** A run killed mid-way (Ctrl-C, SIGTERM or SIGKILL) and started again with the
  same arguments skips every task already in the store and runs the rest: no finished task is
  lost or counted twice. A line cut short by a kill during a write is dropped (its task runs
  again). A lock file (``fcntl.flock``, released by the system when the process dies) stops two
  live runs from writing to one folder.
* **Failures.** A task that raises is recorded with its error and traceback (``status:
  "failed"``) and the run goes on; a resumed run does not retry it unless asked
  (``retry_failed=True``), except a failure outside the model (``outside_model``: an OS
  error such as a full disk or a compile cache that cannot be written, a worker that died),
  which a resumed run always retries. A worker process that dies (killed, out of memory)
  breaks the pool: the tasks in flight are retried once in a fresh pool, then recorded as
  failed.
* **Stopping.** Ctrl-C and SIGTERM stop the workers before the run ends (SIGTERM exits 143);
  a run killed outright (SIGKILL) cannot, so each worker ends itself when its parent is gone
  (``PR_SET_PDEATHSIG`` on Linux, and a thread that checks the parent every second).
* **Progress.** A rich progress bar on stderr: tasks done of all, failed, elapsed and
  estimated time left.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
import traceback
from collections.abc import Callable, Iterable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pyramid.errors import InputError, PyramidError

__all__ = [
    "Task",
    "RunStore",
    "RunReport",
    "run_tasks",
    "default_jobs",
    "worker_compiledir",
    "stop_on_sigterm",
    "STORE_FORMAT",
]

#: Version of the store layout (``manifest.json`` key ``store_format``).
STORE_FORMAT = 1

MANIFEST = "manifest.json"
RESULTS = "results.jsonl"
LOCK = ".lock"

#: Environment of a worker process: one thread for every threaded library.
THREAD_ENV = {
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "NUMBA_NUM_THREADS": "1",
    "PYRAMID_WORKER": "1",
}


@dataclass(frozen=True)
class Task:
    """One unit of work: a key unique within the run and a JSON-able payload.

    Examples
    --------
    >>> Task("p0-s0001", {"seed": 1}).key
    'p0-s0001'
    """

    key: str
    payload: dict


@dataclass
class RunReport:
    """What a call of :func:`run_tasks` did.

    Attributes
    ----------
    total : int
        Tasks in the run.
    skipped : int
        Tasks already in the store (finished by an earlier, interrupted run).
    ok, failed : int
        Tasks finished now, successfully or with an error.
    seconds : float
        Wall time of this call.
    backend : str
        ``"inline"``, ``"processes"`` or ``"dask"``.
    workers : int
        Worker processes used.
    """

    total: int
    skipped: int = 0
    ok: int = 0
    failed: int = 0
    seconds: float = 0.0
    backend: str = ""
    workers: int = 0
    errors: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------------------------
# the store
# --------------------------------------------------------------------------------------------
def _canonical(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)


class RunStore:
    """Append-only results store of one run, in a folder.

    Parameters
    ----------
    folder : str or Path
        Created if absent.
    identity : dict
        JSON-able description of everything that determines the results (kind of run,
        arguments, versions of the inputs). A folder already holding a run of another identity
        is refused.
    info : dict, optional
        Extra JSON-able facts written to the manifest but not compared (e.g. the time).

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as d:
    ...     with RunStore(d, {"kind": "demo", "n": 2}) as store:
    ...         store.append({"key": "a", "status": "ok", "result": {"x": 1}})
    ...     with RunStore(d, {"kind": "demo", "n": 2}) as store:
    ...         sorted(store.done())
    ['a']
    """

    def __init__(self, folder: str | Path, identity: dict, info: dict | None = None) -> None:
        self.folder = Path(folder)
        self.identity = json.loads(_canonical(identity))
        self.info = dict(info or {})
        self._fh = None
        self._lock_fh = None
        self._records: dict[str, dict] = {}

    # ---------------------------------------------------------------- paths
    @property
    def manifest_path(self) -> Path:
        """``<folder>/manifest.json``."""
        return self.folder / MANIFEST

    @property
    def results_path(self) -> Path:
        """``<folder>/results.jsonl``."""
        return self.folder / RESULTS

    # ---------------------------------------------------------------- open / close
    def __enter__(self) -> RunStore:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def open(self) -> RunStore:
        """Create or check the folder, take its lock, read the finished tasks.

        Raises
        ------
        InputError
            The folder is a file, holds a run with another identity, or another live run is
            writing to it.
        """
        if self.folder.exists() and not self.folder.is_dir():
            raise InputError(f"output folder {str(self.folder)!r} exists and is not a folder")
        self.folder.mkdir(parents=True, exist_ok=True)
        self._take_lock()
        try:
            self._check_manifest()
            self._repair_tail()
            self._records = self._read()
            self._fh = open(self.results_path, "a", encoding="utf-8")  # noqa: SIM115
        except BaseException:
            self._release_lock()
            raise
        return self

    def close(self) -> None:
        """Close the results file and release the lock."""
        if self._fh is not None:
            self._fh.close()
            self._fh = None
        self._release_lock()

    def _take_lock(self) -> None:
        import fcntl

        fh = open(self.folder / LOCK, "a+")  # noqa: SIM115
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            fh.close()
            raise InputError(
                f"another run is writing to {str(self.folder)!r} (its lock file {LOCK} is "
                "held); wait for it to finish or give another output folder"
            ) from None
        self._lock_fh = fh

    def _release_lock(self) -> None:
        if self._lock_fh is not None:
            import fcntl

            fcntl.flock(self._lock_fh.fileno(), fcntl.LOCK_UN)
            self._lock_fh.close()
            self._lock_fh = None

    def _check_manifest(self) -> None:
        path = self.manifest_path
        if path.exists():
            try:
                old = json.loads(path.read_text(encoding="utf-8"))
                old_identity = old["identity"]
            except (ValueError, KeyError, TypeError) as exc:
                raise InputError(
                    f"{str(path)!r} is not a pyramid run manifest ({exc}); give an empty or new "
                    "output folder"
                ) from None
            if _canonical(old_identity) != _canonical(self.identity):
                raise InputError(
                    f"output folder {str(self.folder)!r} holds a run with other arguments ("
                    + _differences(old_identity, self.identity)
                    + "); to resume that run give the same arguments, otherwise give a new "
                    "output folder (or delete this one)"
                )
            return
        if self.results_path.exists() and self.results_path.stat().st_size > 0:
            raise InputError(
                f"output folder {str(self.folder)!r} has {RESULTS} but no {MANIFEST}: it was "
                "not written by pyramid (or the manifest was deleted); give a new output folder"
            )
        manifest = {"store_format": STORE_FORMAT, "identity": self.identity, "info": self.info}
        tmp = path.with_suffix(".json.tmp")
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(manifest, fh, indent=2, sort_keys=True, default=str)
            fh.write("\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        _fsync_dir(self.folder)

    def _repair_tail(self) -> None:
        """Cut a last line left unfinished by a kill during a write."""
        path = self.results_path
        if not path.exists():
            return
        with open(path, "rb+") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            if size == 0:
                return
            fh.seek(size - 1)
            if fh.read(1) == b"\n":
                return
            # find the last newline and truncate after it
            pos = size - 1
            chunk = 4096
            last_nl = -1
            while pos >= 0 and last_nl < 0:
                start = max(0, pos - chunk + 1)
                fh.seek(start)
                data = fh.read(pos - start + 1)
                i = data.rfind(b"\n")
                if i >= 0:
                    last_nl = start + i
                pos = start - 1
            fh.truncate(last_nl + 1)
            fh.flush()
            os.fsync(fh.fileno())

    def _read(self) -> dict[str, dict]:
        out: dict[str, dict] = {}
        if not self.results_path.exists():
            return out
        with open(self.results_path, encoding="utf-8") as fh:
            for lineno, line in enumerate(fh, start=1):
                if not line.strip():
                    continue
                try:
                    rec = json.loads(line)
                    str(rec["key"])
                except (ValueError, KeyError, TypeError):
                    raise InputError(
                        f"{str(self.results_path)!r} line {lineno} is not a result record; the "
                        "store is damaged: give a new output folder"
                    ) from None
                _keep(out, rec)
        return out

    # ---------------------------------------------------------------- use
    def done(self, *, include_failed: bool = True) -> set[str]:
        """Keys of the tasks already in the store.

        A task that failed for a reason outside the model (an OS error such as a full disk or
        an unwritable compile cache, a worker that died) is never done: a later run retries
        it. Other failures count as done unless ``include_failed`` is false.
        """
        return {k for k, r in self._records.items()
                if r.get("status") == "ok" or (include_failed and not _retry(r))}

    def records(self) -> list[dict]:
        """Every record, one per key, in the order they were written."""
        return list(self._records.values())

    def append(self, record: dict) -> None:
        """Write one record (a dict with ``key``) at once: one line, flushed and fsync-ed."""
        if self._fh is None:
            raise PyramidError("internal: the store is not open")  # pragma: no cover
        key = record["key"]
        if key in self._records and self._records[key].get("status") == "ok":
            return  # never count a finished task twice
        line = _canonical(record)
        self._fh.write(line + "\n")
        self._fh.flush()
        os.fsync(self._fh.fileno())
        _keep(self._records, json.loads(line))


#: Errors of a task that say nothing about the model or the data (the machine's).
_OUTSIDE = ("OSError", "PermissionError", "FileNotFoundError", "IsADirectoryError",
            "NotADirectoryError", "BlockingIOError", "MemoryError", "OutputError", "WorkerDied",
            "ImportError", "ModuleNotFoundError")


def _outside_model(exc: BaseException, error: str) -> bool:
    """Whether a task failed for a reason outside the model (worth running again)."""
    return (isinstance(exc, OSError | MemoryError | ImportError)
            or "compiledir" in error)  # PyTensor: ValueError, cannot make its compile folder


def _retry(rec: dict) -> bool:
    """A failure recorded as outside the model (or, in a store written before that was
    recorded, one whose error names such a cause)."""
    if rec.get("status") == "ok":
        return False
    if "outside_model" in rec:
        return bool(rec["outside_model"])
    error = str(rec.get("error", ""))
    return error.split(":", 1)[0].strip() in _OUTSIDE or "compiledir" in error


def _keep(records: dict[str, dict], rec: dict) -> None:
    """Count each key once: its first successful record, else its latest failure."""
    old = records.get(rec["key"])
    if old is None or (old.get("status") != "ok"):
        records.pop(rec["key"], None)
        records[rec["key"]] = rec


def _differences(old: dict, new: dict, prefix: str = "") -> str:
    """What differs between two identities, key by key (one level into nested dicts)."""
    keys = sorted(set(old) | set(new))
    parts = []
    for k in keys:
        a, b = old.get(k), new.get(k)
        if _canonical(a) == _canonical(b):
            continue
        if isinstance(a, dict) and isinstance(b, dict) and not prefix:
            parts.append(_differences(a, b, prefix=f"{k}."))
        else:
            parts.append(f"{prefix}{k}: {_short(a)} in the folder, {_short(b)} now")
    return "; ".join(parts) or "the manifests differ"


def _short(v: Any, n: int = 60) -> str:
    s = _canonical(v)
    return s if len(s) <= n else s[: n - 3] + "..."


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


# --------------------------------------------------------------------------------------------
# workers
# --------------------------------------------------------------------------------------------
def default_jobs() -> int:
    """Number of local worker processes by default: the cores this process may use.

    Examples
    --------
    >>> default_jobs() >= 1
    True
    """
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def _base_compiledir() -> Path:
    """PyTensor's base compile folder as PYTENSOR_FLAGS gives it, else its default."""
    from pyramid.caches import pytensor_base_compiledir

    return pytensor_base_compiledir()


def worker_compiledir(slot: int | str, base: str | Path | None = None) -> Path:
    """The PyTensor compile cache of worker ``slot``: ``<base>/pyramid-worker-<slot>``.

    Examples
    --------
    >>> worker_compiledir(3, "/tmp/pt").as_posix()
    '/tmp/pt/pyramid-worker-3'
    """
    base = _base_compiledir() if base is None else Path(base)
    return base / f"pyramid-worker-{slot}"


def _flags_with_compiledir(flags: str, path: Path) -> str:
    parts = [p for p in flags.split(",") if p.strip()
             and p.partition("=")[0].strip() not in ("base_compiledir", "compiledir")]
    parts.append(f"base_compiledir={path}")
    return ",".join(parts)


def _setup_worker(slot: int | str, base: str) -> None:
    """Make this process a one-thread worker with its own compile cache."""
    os.environ.update(THREAD_ENV)
    os.environ["PYRAMID_WORKER_SLOT"] = str(slot)
    cdir = worker_compiledir(slot, base)
    os.environ["PYTENSOR_FLAGS"] = _flags_with_compiledir(os.environ.get("PYTENSOR_FLAGS", ""), cdir)
    try:
        from threadpoolctl import threadpool_limits
    except ModuleNotFoundError:  # pragma: no cover - a dependency (pyproject.toml)
        pass
    else:
        threadpool_limits(1)


def _init_pool_worker(slots, base: str, parent: int | None = None) -> None:
    # the parent handles Ctrl-C (it stops the pool); a worker must not die half-way through
    # a task on the same signal
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if parent is not None:
        _die_with_parent(parent)
    _setup_worker(slots.get(), base)


def _die_with_parent(parent: int) -> None:
    """End this worker when the run that started it ends, however it ends.

    A parent stopped by SIGTERM or Ctrl-C stops its pool itself; one killed (SIGKILL, out of
    memory) cannot, and its workers (about 500 MB each) would go on fitting for nobody,
    re-parented to PID 1. The kernel sends this process SIGKILL when its parent dies
    (``prctl(PR_SET_PDEATHSIG)``, Linux); a thread also checks every second that the parent
    is still the one that started it (other systems, and a parent gone before the ``prctl``).
    """
    import ctypes
    import threading

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG = 1
    except (OSError, AttributeError):  # pragma: no cover - not Linux
        pass

    def watch() -> None:
        while True:
            if os.getppid() != parent:
                os._exit(1)
            time.sleep(1.0)

    if os.getppid() != parent:
        os._exit(1)
    threading.Thread(target=watch, name="pyramid-parent-watch", daemon=True).start()


def _run_one(fn: Callable[[dict], dict], key: str, payload: dict) -> dict:
    """Run one task; an exception becomes a ``failed`` record (never raised)."""
    t0, c0 = time.perf_counter(), time.process_time()
    slot = os.environ.get("PYRAMID_WORKER_SLOT", "main")
    try:
        result = fn(payload)
    except Exception as exc:  # a failing fit is recorded and the run goes on
        tb = traceback.format_exc(limit=8)
        error = f"{type(exc).__name__}: {exc}"
        return {"key": key, "status": "failed", "error": error,
                "outside_model": _outside_model(exc, error),
                "traceback": tb[-4000:], "seconds": time.perf_counter() - t0,
                "cpu_seconds": time.process_time() - c0, "worker": slot}
    return {"key": key, "status": "ok", "result": result, "seconds": time.perf_counter() - t0,
            "cpu_seconds": time.process_time() - c0, "worker": slot}


# --------------------------------------------------------------------------------------------
# progress
# --------------------------------------------------------------------------------------------
class _Progress:
    def __init__(self, enabled: bool, total: int, done: int, description: str) -> None:
        self.failed = 0
        self._p = None
        if not enabled:
            return
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self._p = Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("failed {task.fields[failed]}"), TextColumn("elapsed"),
            TimeElapsedColumn(), TextColumn("left"), TimeRemainingColumn(),
            console=Console(stderr=True), transient=False,
        )
        self._p.start()
        self._task = self._p.add_task(description, total=total, completed=done, failed=0)

    def advance(self, ok: bool) -> None:
        if not ok:
            self.failed += 1
        if self._p is not None:
            self._p.update(self._task, advance=1, failed=self.failed)

    def stop(self) -> None:
        if self._p is not None:
            self._p.stop()
            self._p = None


# --------------------------------------------------------------------------------------------
# running
# --------------------------------------------------------------------------------------------
def run_tasks(
    fn: Callable[[dict], dict],
    tasks: Iterable[Task],
    store: RunStore,
    *,
    jobs: int | None = None,
    scheduler: str | None = None,
    dask_workers: int | None = None,
    progressbar: bool = True,
    description: str = "fits",
    retry_failed: bool = False,
) -> RunReport:
    """Run the tasks not yet in the store and append each result to it as it finishes.

    Parameters
    ----------
    fn : callable
        A module-level function ``payload -> dict`` (JSON-able); it runs in the workers.
    tasks : iterable of Task
        Keys must be unique.
    store : RunStore
        Open store of the run.
    jobs : int, optional
        Local worker processes (default :func:`default_jobs`); ``0`` runs the tasks in this
        process.
    scheduler : str, optional
        Address of a Dask distributed scheduler (``tcp://host:8786``): run there instead.
    dask_workers : int, optional
        Start a local Dask cluster of this many single-threaded worker processes and run there.
    progressbar : bool, default True
        Show a progress bar on stderr.
    description : str, default "fits"
        Label of the progress bar.
    retry_failed : bool, default False
        Run again the tasks recorded as failed by an earlier run.

    Returns
    -------
    RunReport

    Raises
    ------
    InputError
        Duplicate task keys, or conflicting or bad executor arguments.
    KeyboardInterrupt
        On Ctrl-C, after stopping the workers; every result already written stays in the store.

    Examples
    --------
    >>> import tempfile
    >>> from pyramid.executor import _demo_square
    >>> tasks = [Task(f"t{i}", {"x": i}) for i in range(3)]
    >>> with tempfile.TemporaryDirectory() as d, RunStore(d, {"kind": "demo"}) as store:
    ...     report = run_tasks(_demo_square, tasks, store, jobs=0, progressbar=False)
    ...     sorted(r["result"]["y"] for r in store.records())
    [0, 1, 4]
    """
    tasks = list(tasks)
    keys = [t.key for t in tasks]
    if len(set(keys)) != len(keys):
        dup = next(k for k in keys if keys.count(k) > 1)
        raise InputError(f"task keys must be unique; {dup!r} is given twice")
    if scheduler is not None and dask_workers is not None:
        raise InputError("give either scheduler (an address) or dask_workers (a local "
                         f"cluster), not both; got scheduler={scheduler!r}, "
                         f"dask_workers={dask_workers!r}")
    if jobs is not None and (isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 0):
        raise InputError(f"jobs must be a whole number >= 0 (0: in this process), got {jobs!r}")
    if dask_workers is not None and (isinstance(dask_workers, bool)
                                     or not isinstance(dask_workers, int) or dask_workers < 1):
        raise InputError(f"dask_workers must be a whole number >= 1, got {dask_workers!r}")
    done = store.done(include_failed=not retry_failed)
    todo = [t for t in tasks if t.key not in done]
    report = RunReport(total=len(tasks), skipped=len(tasks) - len(todo))
    t0 = time.perf_counter()
    progress = _Progress(progressbar and bool(todo), len(tasks), report.skipped, description)

    def record(rec: dict) -> None:
        store.append(rec)
        ok = rec.get("status") == "ok"
        if ok:
            report.ok += 1
        else:
            report.failed += 1
            if len(report.errors) < 20:
                report.errors.append(f"{rec['key']}: {rec.get('error', '')}")
        progress.advance(ok)

    with stop_on_sigterm():
        try:
            if not todo:
                report.backend = "none"
            elif scheduler is not None or dask_workers is not None:
                report.backend = "dask"
                report.workers = _run_dask(fn, todo, record, scheduler, dask_workers)
            elif jobs == 0:
                report.backend, report.workers = "inline", 0
                for t in todo:
                    record(_run_one(fn, t.key, t.payload))
            else:
                report.backend = "processes"
                report.workers = min(jobs or default_jobs(), len(todo))
                _run_processes(fn, todo, record, report.workers)
        finally:
            progress.stop()
            report.seconds = time.perf_counter() - t0
    return report


@contextmanager
def stop_on_sigterm():
    """SIGTERM stops the run as Ctrl-C does: exit 143 through ``SystemExit``, so that every
    ``finally`` runs (a many-fit run's workers stopped and its store closed, a file being
    written atomically removed).

    Without it a run ended at once (the default action): a design run left its workers
    running, a fit killed while saving left its temporary file. Only in the main thread
    (elsewhere it does nothing); the previous handler is restored on leaving.
    """
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _run_processes(fn, todo: Sequence[Task], record: Callable[[dict], None], n: int) -> None:
    import multiprocessing as mp
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
    from concurrent.futures.process import BrokenProcessPool

    ctx = mp.get_context("spawn")
    base = str(_base_compiledir())
    breaks: dict[str, int] = {}
    pending = list(todo)
    while pending:
        slots = ctx.Queue()
        for i in range(n):
            slots.put(i)
        pool = ProcessPoolExecutor(max_workers=n, mp_context=ctx, initializer=_init_pool_worker,
                                   initargs=(slots, base, os.getpid()))
        futures = {}
        broken: list[Task] = []
        try:
            # keep at most 2 tasks per worker queued, so a kill loses little queued work and
            # the store follows the order of the tasks closely
            queue = list(pending)
            pending = []
            while (queue and not broken) or futures:
                while queue and not broken and len(futures) < 2 * n:
                    t = queue.pop(0)
                    futures[pool.submit(_run_one, fn, t.key, t.payload)] = t
                finished, _ = wait(list(futures), return_when=FIRST_COMPLETED)
                for fut in finished:
                    t = futures.pop(fut)
                    try:
                        rec = fut.result()
                    except BrokenProcessPool:
                        broken.append(t)  # the pool is gone: the other futures fail too
                        continue
                    record(rec)
            pending.extend(queue)  # never started: no blame
        except BaseException:
            _kill_pool(pool)
            raise
        else:
            pool.shutdown(wait=True)
        for t in broken:
            breaks[t.key] = breaks.get(t.key, 0) + 1
            if breaks[t.key] >= 2:
                record({"key": t.key, "status": "failed",
                        "error": "WorkerDied: the worker process died while running this task "
                                 "(twice): killed, out of memory or crashed", "seconds": 0.0,
                        "worker": "?", "outside_model": True})
            else:
                pending.append(t)


def _kill_pool(pool) -> None:
    """Stop a process pool now: cancel queued tasks and terminate its processes."""
    procs = list(getattr(pool, "_processes", {}).values())  # no public API before 3.14
    pool.shutdown(wait=False, cancel_futures=True)
    for p in procs:
        if p.is_alive():
            p.terminate()
    for p in procs:
        p.join(timeout=5)
        if p.is_alive():  # pragma: no cover
            p.kill()


class _DaskSetup:
    """Dask worker plugin: one thread per worker, and a compile cache per worker name."""

    name = "pyramid-worker-setup"

    def __init__(self, base: str) -> None:
        self.base = base

    def setup(self, worker) -> None:  # pragma: no cover - runs in the Dask worker
        _setup_worker(f"dask-{worker.name}", self.base)


def _run_dask(fn, todo: Sequence[Task], record: Callable[[dict], None],
              scheduler: str | None, n_local: int | None) -> int:
    import logging

    try:
        from distributed import Client, LocalCluster, WorkerPlugin, as_completed
    except ModuleNotFoundError:  # pragma: no cover - dask[distributed] is a dependency
        raise InputError("running on Dask needs the 'distributed' package: "
                         "pip install 'dask[distributed]'") from None

    class Plugin(_DaskSetup, WorkerPlugin):
        pass

    cluster = None
    if scheduler is not None:
        try:
            client = Client(scheduler, timeout="20s")
        except (OSError, TimeoutError, ValueError) as exc:
            raise InputError(f"cannot connect to the Dask scheduler {scheduler!r}: {exc}") from None
    else:
        cluster = LocalCluster(n_workers=n_local, threads_per_worker=1, processes=True,
                               dashboard_address=None, silence_logs=logging.ERROR,
                               env=dict(THREAD_ENV))
        client = Client(cluster)
    futures = []
    try:
        client.register_plugin(Plugin(str(_base_compiledir())))
        n_workers = len(client.scheduler_info().get("workers", {}))
        token = f"{os.getpid()}-{time.time_ns()}"
        futures = [client.submit(_run_one, fn, t.key, t.payload, key=f"pyramid-{t.key}-{token}",
                                 pure=False) for t in todo]
        for fut in as_completed(futures):
            rec = fut.result()
            record(rec)
        return n_workers
    finally:
        for f in futures:
            f.cancel()
        client.close()
        if cluster is not None:
            cluster.close()


def _demo_square(payload: dict) -> dict:
    """A tiny task for examples and tests: ``{"x": x} -> {"y": x * x}``."""
    if payload.get("fail"):
        raise ValueError(f"asked to fail on x={payload['x']}")
    if payload.get("os_error_unless") and not Path(payload["os_error_unless"]).exists():
        raise OSError(28, "No space left on device")  # until the file is there
    if payload.get("die") and os.environ.get("PYRAMID_WORKER"):
        os._exit(3)  # a worker process that dies (only ever in a pool worker)
    if payload.get("sleep"):
        time.sleep(float(payload["sleep"]))
    return {"y": payload["x"] * payload["x"], "pid": os.getpid(),
            "threads": os.environ.get("OMP_NUM_THREADS"),
            "pytensor_flags": os.environ.get("PYTENSOR_FLAGS", "")}


if __name__ == "__main__":  # pragma: no cover
    sys.exit("pyramid.executor is a library module; use `pyramid design` or `pyramid calibrate`")
