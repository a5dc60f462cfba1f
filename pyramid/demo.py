"""The demo: what ``make demo`` runs (``pyramid demo``).

On the reference data set (:func:`pyramid.datasets.load_rsw2017`, a *reconstruction*
consistent with the report's published summaries, not the evaluation's data) it validates
the data, fits the default model (:data:`pyramid.fit.DEFAULT_MODEL`, the ``pyramid`` path
model, which keeps the rows whose discussion and clinician were not observed), prints the
posterior comparisons (:func:`pyramid.compare`), prints the report's own tests of Tables 14
and 15 reanalysed from their printed summaries (:func:`pyramid.reanalyse`) beside the
model's contrasts, writes Figure 4 with the model's effects (:func:`pyramid.plot_figure4`)
and the results file, and says where the files went. Each step is one public function; the
demo strings them together, so the CLI stays a thin wrapper.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from pyramid.checks import positive_int
from pyramid.compare import compact, compare, default_contrasts
from pyramid.data.readers import write
from pyramid.data.validate import summarise, validate
from pyramid.datasets import load_rsw2017
from pyramid.diagnostics import fit_verdict
from pyramid.errors import DataWarning, InputError
from pyramid.fit import DEFAULT_MODEL, fit
from pyramid.formatting import bayes_factor, interval
from pyramid.output import write_csv
from pyramid.plots.figure4 import save_figure4
from pyramid.reanalysis import compact as reanalysis_compact
from pyramid.reanalysis import reanalyse
from pyramid.specs import load_spec

__all__ = [
    "DemoOutput",
    "run_demo",
    "report_contrasts",
    "side_by_side",
    "format_side_by_side",
    "RECONSTRUCTION_NOTE",
]

#: What the demo says about its data, first and in every output.
RECONSTRUCTION_NOTE = (
    "The data are rsw2017, a RECONSTRUCTION: observation-level scores built to be consistent "
    "with the published summaries of DFE-RR588 (Tables 1, 10, 14, 15, 23 and the text of "
    "Part 4), not the evaluation's data, which are not public."
)

#: Table 14's comparisons of each training level with all others, which the default
#: contrasts do not include (programme_vs_others is one of them).
_TRAINING = ("none", "other", "mla", "programme")


def report_contrasts(spec: Any) -> list[str]:
    """Contrasts of a model that answer the report's own tests of Tables 14 and 15.

    Each training level against all the others (Table 14's t-tests, the others mixed as in the
    data) and clinician absent against present (the t-test of Part 4's text, in the report's
    direction: no - yes). For a model that integrates discussion out (the ``pyramid`` model)
    the clinician contrast lets discussion follow clinician presence, like the report's raw
    comparison (a total effect); the skill and domains models can only hold it.
    The keys are :func:`pyramid.reanalyse`'s comparison names, so the two tables join.

    Parameters
    ----------
    spec : ModelSpec

    Returns
    -------
    list of str
        Contrasts in :mod:`pyramid.compare`'s syntax, each labelled with its key.

    Examples
    --------
    >>> from pyramid.specs import load_spec
    >>> report_contrasts(load_spec("pyramid"))[-1]
    'clinician_no_vs_yes: {clinician=0, discussion=?} - {clinician=1, discussion=?}'
    >>> report_contrasts(load_spec("skill"))[0]
    'none_vs_others: training=none - training=other|mla|programme'
    """
    terms = {t[3:-1] if t.startswith("mo(") else t for t in spec.terms}
    out = []
    if "training" in terms:
        for lev in ("none", "other", "mla"):
            rest = "|".join(v for v in _TRAINING if v != lev)
            out.append(f"{lev}_vs_others: training={lev} - training={rest}")
    if "clinician" in terms:
        if "discussion" in getattr(spec, "marginalised_columns", []):
            out.append("clinician_no_vs_yes: {clinician=0, discussion=?} - "
                       "{clinician=1, discussion=?}")
        else:
            out.append("clinician_no_vs_yes: clinician=0 - clinician=1")
    return out


def side_by_side(comparison: pd.DataFrame, reanalysis: pd.DataFrame) -> pd.DataFrame:
    """The report's tests of Tables 14 and 15 beside the model's contrasts, one row each.

    Parameters
    ----------
    comparison : pandas.DataFrame
        :func:`pyramid.compare`'s table, with the contrasts of :func:`report_contrasts`.
    reanalysis : pandas.DataFrame
        :func:`pyramid.reanalyse` of tables 14 and 15.

    Returns
    -------
    pandas.DataFrame
        One row per reanalysed comparison, in its order, with columns ``table``,
        ``comparison`` (the key; differences are the first group minus the second);
        from the report and its printed summaries: ``printed`` (t and p as printed, empty
        where the report tested nothing), ``consistent`` (can the printed summaries give the
        printed t and p: ``yes``, ``NO``, ``-``), ``summaries_estimate``,
        ``summaries_ci_lower``, ``summaries_ci_upper`` (exact posterior of the raw mean
        difference), ``summaries_bf10`` (JZS); from the model: ``model_effect``,
        ``model_estimate``, ``model_ci_lower``, ``model_ci_upper``, ``model_p_direction``,
        ``model_bf10``, ``model_bf10_bound`` (missing where the model has no such contrast).

    Examples
    --------
    >>> from pyramid.reanalysis import reanalyse
    >>> cmp = pd.DataFrame([{"key": "programme_vs_none", "effect": "direct", "estimate": 0.6,
    ...     "ci_lower": 0.2, "ci_upper": 1.0, "p_direction": 0.99, "bf10": 8.0,
    ...     "bf10_bound": ">"}])
    >>> sbs = side_by_side(cmp, reanalyse(["14", "15"]))
    >>> r = sbs.set_index("comparison").loc["programme_vs_none"]
    >>> float(r.model_estimate), round(float(r.summaries_estimate), 2)
    (0.6, 1.06)
    """
    need = ["key", "effect", "estimate", "ci_lower", "ci_upper", "p_direction", "bf10",
            "bf10_bound"]
    missing = [c for c in need if c not in comparison.columns]
    if missing:
        raise InputError(f"side_by_side needs compare()'s table; missing columns {missing}")
    view = reanalysis_compact(reanalysis)
    left = pd.DataFrame({
        "table": reanalysis["table"].to_numpy(),
        "comparison": reanalysis["comparison"].to_numpy(),
        "printed": view["printed"].to_numpy(),
        "consistent": view["consistent"].to_numpy(),
        "summaries_estimate": reanalysis["estimate"].to_numpy(dtype=float),
        "summaries_ci_lower": reanalysis["ci_lower"].to_numpy(dtype=float),
        "summaries_ci_upper": reanalysis["ci_upper"].to_numpy(dtype=float),
        "summaries_bf10": reanalysis["bf10"].to_numpy(dtype=float),
    })
    right = comparison[need].rename(columns={
        "key": "comparison", "effect": "model_effect", "estimate": "model_estimate",
        "ci_lower": "model_ci_lower", "ci_upper": "model_ci_upper",
        "p_direction": "model_p_direction", "bf10": "model_bf10",
        "bf10_bound": "model_bf10_bound",
    })
    return left.merge(right, on="comparison", how="left")


def format_side_by_side(sbs: pd.DataFrame) -> pd.DataFrame:
    """Strings for printing :func:`side_by_side`'s frame.

    Examples
    --------
    >>> sbs = pd.DataFrame([{"table": "15", "comparison": "clinician_no_vs_yes",
    ...     "printed": "t=-3.69 p=0.002", "consistent": "NO", "summaries_estimate": -1.12,
    ...     "summaries_ci_lower": -1.76, "summaries_ci_upper": -0.48, "summaries_bf10": 26.9,
    ...     "model_effect": "total", "model_estimate": -0.4, "model_ci_lower": -0.8,
    ...     "model_ci_upper": 0.0, "model_p_direction": 0.97, "model_bf10": 2.0,
    ...     "model_bf10_bound": ""}])
    >>> format_side_by_side(sbs).iloc[0].tolist()[-3:]
    ['-0.40 [-0.80, 0.00] total', '0.970', '2.00']
    """
    return pd.DataFrame({
        "table": sbs["table"],
        "comparison": sbs["comparison"],
        "report: printed": sbs["printed"],
        "consistent": sbs["consistent"],
        "summaries: estimate": [
            interval(e, lo, hi) for e, lo, hi in zip(
                sbs["summaries_estimate"], sbs["summaries_ci_lower"], sbs["summaries_ci_upper"],
                strict=True)],
        "BF10 (JZS)": [bayes_factor(v) for v in sbs["summaries_bf10"]],
        "model: estimate": [
            ("" if pd.isna(e) else f"{interval(e, lo, hi)} {eff}") for e, lo, hi, eff in zip(
                sbs["model_estimate"], sbs["model_ci_lower"], sbs["model_ci_upper"],
                sbs["model_effect"], strict=True)],
        "P(dir)": ["" if pd.isna(p) else f"{p:.3f}" for p in sbs["model_p_direction"]],
        "BF10 (S-D)": ["" if pd.isna(v) else bayes_factor(v, b) for v, b in
                       zip(sbs["model_bf10"], sbs["model_bf10_bound"], strict=True)],
    })


@dataclass
class DemoOutput:
    """What :func:`run_demo` produced.

    Attributes
    ----------
    out : Path
        The output folder.
    data : pandas.DataFrame
        The validated reference data.
    summary : pandas.DataFrame
        :func:`pyramid.summarise` of the data.
    result : FitResult
        The fitted default model.
    comparison : pandas.DataFrame
        :func:`pyramid.compare` of the result: the default contrasts and those of
        :func:`report_contrasts` (``attrs["default_keys"]`` names the default ones).
    reanalysis : pandas.DataFrame
        :func:`pyramid.reanalyse` of Tables 14 and 15.
    side : pandas.DataFrame
        :func:`side_by_side` of the two.
    files : dict
        Name -> path of every file written.
    timings : dict
        Seconds per step.
    """

    out: Path
    data: pd.DataFrame
    summary: pd.DataFrame
    result: Any
    comparison: pd.DataFrame
    reanalysis: pd.DataFrame
    side: pd.DataFrame
    files: dict[str, Path] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)

    def report(self) -> str:
        """The demo's printed report: data, comparisons, the report's tests beside them, files.

        Returns
        -------
        str
            What ``pyramid demo`` prints on stdout.
        """
        def table(df: pd.DataFrame) -> str:
            with pd.option_context("display.max_rows", None, "display.max_columns", None,
                                   "display.width", 250, "display.max_colwidth", 70):
                return df.to_string(index=False)

        res = self.result
        info = res.info
        post = res.idata["posterior"]
        data = self.data
        obs = int((data["discussion"].notna() & data["clinician"].notna()).sum())
        lines = [
            RECONSTRUCTION_NOTE,
            "",
            f"Data: {len(data)} observations of {data['worker'].nunique()} workers in "
            f"{data['unit'].nunique()} units of {data['authority'].nunique()} local authorities; "
            f"valid. Discussion quality and clinician presence were observed for {obs} of them.",
            f"Model: {res.spec.name!r} with priors {res.priors.name!r} on {len(res.data)} rows "
            f"({res.n_dropped} left out); {post.sizes['chain']} chains x {post.sizes['draw']} "
            f"draws, seed {info.get('seed')}, sampler {info.get('sampler')}.",
            f"Convergence: {fit_verdict(res)}.",
            "",
            "Posterior comparisons (pyramid.compare): differences in expected skill, 1-5 scale",
        ]
        keys = self.comparison.attrs.get("default_keys", list(self.comparison["key"]))
        default = self.comparison[self.comparison["key"].isin(keys)]
        lines.append(table(compact(default)))
        rope = float(default["rope"].iloc[0]) if len(default) else float("nan")
        ci = float(default["ci_prob"].iloc[0]) if len(default) else float("nan")
        lines += [
            f"estimate: posterior mean [{ci:.0%} equal-tailed interval]; P(dir): probability of "
            f"direction and the sign; P(ROPE): P(|effect| < {rope:g}); BF10: Savage-Dickey "
            "(> a lower bound: the draws lie too far from 0 to say more); odds(dir): "
            "P(dir) / (1 - P(dir)).",
        ]
        for note in self.comparison.attrs.get("notes", []):
            lines.append(f"note: {note}")
        for _, r in default[default["note"].str.len() > 0].iterrows():
            lines.append(f"note: {r['key']}: {r['note']}")
        lines += [
            "",
            "The report's tests of Tables 14 and 15 (pyramid.reanalyse, from the printed means, "
            "SDs and Ns) beside the model",
            table(format_side_by_side(self.side)),
            "summaries: exact posterior of the raw difference in mean skill from the printed "
            "summaries, with the JZS Bayes factor; model: the contrast above, adjusted for the "
            "other factors and the nesting in units and authorities (direct: the others held; "
            "total: discussion follows clinician presence). Empty printed t: the report did "
            "not test it. 'pyramid reanalyse' explains each NO.",
            "",
            f"Files in {self.out}:",
        ]
        what = {"result": "the fitted model (pyramid compare / figure4 --result read it)",
                "comparison": "every column of the comparison table",
                "figure4": "the report's Figure 4 redrawn, with the model's effects",
                "data": "the validated reference data"}
        for name, path in self.files.items():
            lines.append(f"  {path}  {what.get(name, name)}")
        return "\n".join(lines)


def run_demo(
    out: str | Path = "pyramid-output",
    *,
    draws: int = 1000,
    tune: int = 1000,
    chains: int = 4,
    random_seed: int = 2017,
    progressbar: bool = True,
    echo: Callable[[str], Any] = print,
) -> DemoOutput:
    """Validate the reference data, fit the default model, compare, reanalyse, draw Figure 4.

    Parameters
    ----------
    out : str or Path, default "pyramid-output"
        Folder for the files (created if missing).
    draws, tune, chains : int
        Sampler settings passed to :func:`pyramid.fit` (its defaults: 4 chains x 1000,
        extended while the convergence checks fail).
    random_seed : int, default 2017
        Seed of the fit; the same seed gives the same numbers.
    progressbar : bool, default True
        Show the sampler's progress bar.
    echo : callable, default print
        Where the progress lines go (the CLI passes its stderr printer).

    Returns
    -------
    DemoOutput
        Its :meth:`DemoOutput.report` is what ``pyramid demo`` prints.

    Examples
    --------
    A full run fits a model (a minute or two; tests/test_demo.py runs a short one):

    >>> import tempfile
    >>> res = run_demo(tempfile.mkdtemp(), echo=lambda *a: None)      # doctest: +SKIP
    >>> sorted(res.files)                                              # doctest: +SKIP
    ['comparison', 'data', 'figure4', 'result']
    >>> run_demo(tempfile.mkdtemp(), draws=0)
    Traceback (most recent call last):
    ...
    pyramid.errors.InputError: draws must be a whole number >= 1, got 0
    """
    draws = positive_int("draws", draws)
    tune = positive_int("tune", tune, minimum=0)
    chains = positive_int("chains", chains)

    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    echo(RECONSTRUCTION_NOTE)
    spec = load_spec(DEFAULT_MODEL)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", DataWarning)
        data = validate(load_rsw2017(), model=spec, source="rsw2017")
    for w in caught:
        echo(f"note: {w.message}")
    files = {"data": write(data, out / "rsw2017.csv")}
    summary = summarise(data)
    timings["validate_s"] = time.perf_counter() - t0

    echo(f"fitting the default model {DEFAULT_MODEL!r} ({chains} chains x {draws} draws, "
         f"{tune} tuning, seed {random_seed})...")
    t1 = time.perf_counter()
    result = fit(data, model=spec, priors="default", draws=draws, tune=tune, chains=chains,
                 random_seed=random_seed, progressbar=progressbar, validate=False)
    timings["fit_s"] = time.perf_counter() - t1
    files["result"] = result.save(out / f"rsw2017_{spec.name}.nc")

    t2 = time.perf_counter()
    defaults, _ = default_contrasts(spec)
    keys = {c.key for c in defaults}
    extra = [c for c in report_contrasts(spec) if c.split(":", 1)[0] not in keys]
    comparison = compare(result, ["default", *extra])
    comparison.attrs["default_keys"] = [c.key for c in defaults]
    files["comparison"] = write_csv(comparison, out / "comparison.csv", "comparison table")
    reanalysis = reanalyse(["14", "15"])
    side = side_by_side(comparison, reanalysis)
    timings["compare_s"] = time.perf_counter() - t2

    t3 = time.perf_counter()
    files["figure4"] = Path(save_figure4(out / "figure4.png", result))
    timings["figure_s"] = time.perf_counter() - t3
    timings["total_s"] = time.perf_counter() - t0
    return DemoOutput(out=out, data=data, summary=summary, result=result, comparison=comparison,
                      reanalysis=reanalysis, side=side, files=files, timings=timings)
