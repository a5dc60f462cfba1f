"""What the two many-fit workflows (:mod:`pyramid.planning`, :mod:`pyramid.calibration`)
share: a spec and prior set as plain task data, the output folder and the run's seed, the
sampler arguments, and one fit's convergence summary.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from pyramid.checks import positive_int, resolve_seed
from pyramid.errors import PyramidError
from pyramid.executor import RunReport, RunStore, Task, run_tasks
from pyramid.specs import ModelSpec, PriorSet, priors_from_dict, priors_to_dict, spec_from_text

__all__ = ["spec_payload", "spec_from_payload", "study_from_payload", "identity_hash",
           "fit_summary", "quiet", "jsonable", "run_seed", "sampling_args", "failures",
           "run_fits", "OutputFolder"]


def spec_payload(spec: ModelSpec, priors: PriorSet) -> dict:
    """A spec, its study and a prior set as plain data for a task (:func:`spec_from_payload`
    reverses it)."""
    study = spec.study  # None for rsw2017
    return {"spec_text": spec.text, "spec_source": spec.source,
            "priors": priors_to_dict(priors), "priors_text": priors.text,
            "priors_source": priors.source,
            "study_text": study.text if study is not None else None,
            "study_source": study.source if study is not None else None}


def study_from_payload(p: dict):
    """The study of :func:`spec_payload`'s data (None for rsw2017)."""
    from pyramid.study import study_from_text

    return (study_from_text(p["study_text"], p["study_source"]) if p.get("study_text")
            else None)


def spec_from_payload(p: dict) -> tuple[ModelSpec, PriorSet]:
    """The spec and prior set of :func:`spec_payload`'s data."""
    spec = spec_from_text(p["spec_text"], p["spec_source"], study_from_payload(p))
    priors = priors_from_dict(p["priors"], p["priors_text"], p["priors_source"])
    return spec, priors


def identity_hash(text: str) -> str:
    """A short hash of a text (a spec, a prior set) for a run's identity."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def fit_summary(post, stats, var_sel: list[tuple[str, dict]]) -> dict:
    """The convergence checks of one of many fits, as :func:`pyramid.fit` runs them
    (:func:`pyramid.diagnostics.diagnose`: the same estimators and thresholds) over the given
    variables: divergences, the worst R-hat, bulk and tail ESS, and the sentence
    :func:`pyramid.diagnostics.verdict` says about them (``verdict``)."""
    import xarray as xr

    from pyramid.diagnostics import diagnose, verdict

    names = sorted({v for v, _ in var_sel})
    idata = xr.DataTree.from_dict({"posterior": post[names], "sample_stats": stats})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        diag = diagnose(idata, var_names=names)
    d = diag.set_index("check")["value"]
    out = {"divergences": int(d["divergences"]), "max_r_hat": float(d["r_hat"]),
           "min_ess_bulk": float(d["ess_bulk"]), "min_ess_tail": float(d["ess_tail"])}
    out["verdict"] = verdict(diag[diag["check"] != "e_bfmi"], chains=int(post.sizes["chain"]),
                             draws=int(post.sizes["draw"]))
    return out


def quiet():
    """Record warnings instead of raising or printing them (one fit of many)."""
    cm = warnings.catch_warnings(record=True)
    return cm


def jsonable(obj: Any) -> Any:
    """``obj`` with mappings, sequences and NumPy numbers made JSON-ready."""
    if isinstance(obj, Mapping):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, tuple | list | np.ndarray):
        return [jsonable(v) for v in obj]
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return float(obj)
    return obj


def run_seed(random_seed: Any, out: Path | None) -> int:
    """The run's seed: ``random_seed``; or, for None, the seed of the run stored in ``out``
    (so that a resumed run goes on as it began), else a fresh one."""
    if random_seed is None:
        if out is not None and (out / "manifest.json").exists():
            try:
                return int(json.loads((out / "manifest.json").read_text())["identity"]["random_seed"])
            except (ValueError, KeyError, TypeError):
                pass
    return resolve_seed(random_seed)


def sampling_args(draws: Any, tune: Any, chains: Any) -> dict:
    """``draws``, ``tune`` and ``chains`` checked."""
    return {"draws": positive_int("draws", draws), "tune": positive_int("tune", tune, minimum=0),
            "chains": positive_int("chains", chains)}


def failures(records: list[dict]) -> list[str]:
    """``"key: error"`` for each failed fit of a run's records; an error when none succeeded.

    Raises
    ------
    PyramidError
        Every fit failed (the first error is given).
    """
    failed = [f"{r['key']}: {r.get('error', '')}" for r in records if r.get("status") != "ok"]
    if not any(r.get("status") == "ok" for r in records):
        raise PyramidError(f"every one of the {len(records)} fits failed; the first: "
                           f"{failed[0] if failed else 'no fit ran'}")
    return failed


def run_fits(fn: Callable[[dict], dict], tasks: Sequence[Task], folder: OutputFolder,
             identity: dict, info: dict, *, jobs: int | None, scheduler: str | None,
             dask_workers: int | None, progressbar: bool, description: str,
             retry_failed: bool = False) -> tuple[list[dict], RunReport, list[str]]:
    """Run the fits of a run in its folder's store (:func:`pyramid.executor.run_tasks`, which
    resumes a run of the same ``identity``): the store's records, the run's report and the
    failed fits (an error when none succeeded, see :func:`failures`)."""
    with RunStore(folder.path, identity, info) as store:
        report = run_tasks(fn, tasks, store, jobs=jobs, scheduler=scheduler,
                           dask_workers=dask_workers, progressbar=progressbar,
                           description=description, retry_failed=retry_failed)
        records = store.records()
    return records, report, failures(records)


class OutputFolder:
    """The output folder, or a temporary one deleted afterwards.

    A folder given is checked at once (:func:`pyramid.output.check_folder`: a folder, or none
    yet, that can be written), so that a run fails before its fits, not after.
    """

    def __init__(self, out: str | Path | None) -> None:
        if out is not None:
            from pyramid.output import check_folder

            check_folder(out, "output folder")
        self._tmp = tempfile.TemporaryDirectory(prefix="pyramid-") if out is None else None
        self.path = Path(self._tmp.name if self._tmp else out)
        self.kept = out is not None

    def cleanup(self) -> None:
        if self._tmp is not None:
            self._tmp.cleanup()
