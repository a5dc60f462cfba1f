"""The ``pyramid`` command line.

Every subcommand has ``--help``. Exit codes: 0 success, 2 bad input (the reason on stderr, no
traceback), 1 an unexpected internal error (reported with a request to file an issue).

Each subcommand is a thin wrapper over one public Python function; the work lives in the
library, so the CLI and the API can never disagree.
"""

from __future__ import annotations

import contextlib
import os
import sys
import warnings
from collections.abc import Iterator
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from pyramid.defaults import DEFAULT_CI_PROB, DEFAULT_MODEL, PLANNING_MODEL
from pyramid.errors import PyramidError

if TYPE_CHECKING:  # pandas is imported where it is used: 'pyramid --help' needs none of it
    import pandas as pd

app = typer.Typer(
    name="pyramid",
    help="Bayesian hierarchical models of what makes social-work practice good (RSW 2017).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


class Format(StrEnum):
    text = "text"
    csv = "csv"


FormatOpt = Annotated[Format, typer.Option("--format", "-f", help="Output format.")]
CiProbOpt = Annotated[
    float, typer.Option("--ci-prob", help="Probability of the posterior intervals (every "
                        "command's default: 0.95, see pyramid.defaults).")
]
SheetOpt = Annotated[
    str | None, typer.Option("--sheet", help="Excel: the sheet to read, by name or 0-based "
                             "position (default: the first).")
]
EncodingOpt = Annotated[
    str | None, typer.Option("--encoding", help="CSV: text encoding (default: UTF-8; e.g. "
                             "cp1252, utf-16-le).")
]
AllowOpt = Annotated[
    list[str] | None,
    typer.Option("--allow", help="A judgement of the data checks to accept without a "
                 "warning, repeatable: case-ids (ids that differ only in case), "
                 "worker-training (a worker with more than one training level)."),
]

StudyOpt = Annotated[
    str | None,
    typer.Option("--study", "-s", help="The study of the data: a name (rsw2017, the default) "
                 "or a study file (.toml; 'pyramid study init' drafts one)."),
]


def read_data(file: str, *, sheet: str | None = None, encoding: str | None = None,
              allow: list[str] | None = None, model: str | None = None,
              study: str | None = None) -> pd.DataFrame:
    """Read and validate a data file, the same way for every command that reads one."""
    from pathlib import Path

    from pyramid.data.readers import read
    from pyramid.data.validate import validate

    return validate(read(file, sheet=sheet, encoding=encoding, study=study), model=model,
                    source=Path(file).name, allow=allow or (), study=study)


def emit(df: pd.DataFrame, fmt: Format | str = Format.text, *, title: str | None = None) -> None:
    """Print a result table as aligned text or CSV on stdout."""
    import pandas as pd

    if str(fmt) == "csv":
        from pyramid.output import spreadsheet_safe

        spreadsheet_safe(df).to_csv(sys.stdout, index=False)
        return
    if title:
        typer.echo(title)
    with pd.option_context(
        "display.max_rows", None, "display.max_columns", None, "display.width", 200,
        "display.max_colwidth", 60,
    ):
        typer.echo(df.to_string(index=False))


def info(message: str) -> None:
    """Progress and where-files-went messages go to stderr so stdout stays machine-readable."""
    typer.echo(message, err=True)


@app.callback()
def _root() -> None:
    """Bayesian hierarchical models of what makes social-work practice good (RSW 2017)."""


# --------------------------------------------------------------------------------------------
# tables
# --------------------------------------------------------------------------------------------
@app.command("tables")
def tables_cmd(
    table: Annotated[
        str | None,
        typer.Option("--table", "-t", help="Table number (e.g. 14) or name (crosstab, correlations)."),
    ] = None,
    fmt: FormatOpt = Format.text,
    check: Annotated[bool, typer.Option("--check", help="Check printed totals against rows.")] = False,
) -> None:
    """Print the report's published tables as tidy data with provenance."""
    import pandas as pd

    from pyramid.data import published

    if check:
        emit(published.check_totals(), fmt)
        return
    ids = [table] if table else published.table_ids()
    if str(fmt) == "csv":
        emit(pd.concat([published.table(i) for i in ids], ignore_index=True), fmt)
        return
    cols = ["row", "group", "column", "printed", "value", "stat", "note"]
    for i in ids:
        t = published.table(i)
        head = f"Table {i}" if i[0].isdigit() else i
        emit(t[cols], fmt, title=f"\n{head}: {t['title'].iloc[0]}")


# --------------------------------------------------------------------------------------------
# simulate
# --------------------------------------------------------------------------------------------
@app.command("simulate")
def simulate_cmd(
    authorities: Annotated[int, typer.Option("--authorities", "-A", help="Local authorities.")],
    units: Annotated[int, typer.Option("--units", "-U", help="Units per authority.")],
    workers_per_unit: Annotated[
        int, typer.Option("--workers-per-unit", "-W", help="Social workers per unit.")
    ],
    observations: Annotated[
        int, typer.Option("--observations", "-O", help="Observations per worker.")
    ],
    out: Annotated[
        str, typer.Option("--out", help="Data file to write (.csv, .parquet, .xlsx, .sav).")
    ],
    effect: Annotated[
        list[str] | None,
        typer.Option(
            "--effect", "-e",
            help="True effect NAME=VALUE, repeatable (e.g. clinician=0.5, mla=0.3, "
            "zeta=0.3,0.7, delta\\[empathy]=0.1); skill points unless latent. Names: "
            "intercept, training\\[other|mla|programme] (aliases other, mla, programme), "
            "clinician, discussion, zeta, discussion_clinician, discussion_csw, "
            "discussion_cutpoints, delta\\[DOMAIN] (the five sum to zero).",
        ),
    ] = None,
    preset: Annotated[
        str, typer.Option("--preset", help="Starting effects: 'report' (roughly the report's "
                          "estimates) or 'null' (all effects zero).")
    ] = "report",
    sd: Annotated[
        list[str] | None,
        typer.Option("--sd", help="Group SD NAME=VALUE, repeatable: sd_authority, sd_unit, "
                     "sd_worker, sd_observation, sigma_domain."),
    ] = None,
    mix: Annotated[
        list[str] | None,
        typer.Option("--mix", help="Factor mix NAME=VALUE, repeatable: p_csw, "
                     "p_clinician_csw, p_clinician_usual, discussion_observed, "
                     "p_missing_domain, group_csw, group_usual, training_csw=none:0.5,"
                     "programme:0.5, training_usual=..."),
    ] = None,
    seed: Annotated[int | None, typer.Option("--seed", help="Random seed.")] = None,
    truth: Annotated[
        str | None, typer.Option("--truth", help="Also write the truth table here (.csv, ...).")
    ] = None,
    study: StudyOpt = None,
) -> None:
    """Simulate observation data with known true effects from the shared generative model.

    With --study FILE the data are simulated in that study's terms: --effect names its
    factors' coefficients (e.g. 'model[systemic]=0.5', 'caseload=-0.1' per its scale units;
    every other effect 0), --mix how its factors are drawn (e.g. 'model=usual:0.5,new:0.5',
    'supervision=0.3'); --preset does not apply.
    """
    from pyramid.data.readers import SUPPORTED_EXTENSIONS, write
    from pyramid.data.simulate import Layout, parse_assignments, simulate
    from pyramid.output import check_output
    from pyramid.study import load_study

    for f in (out, truth):
        if f:
            check_output(f, SUPPORTED_EXTENSIONS, "data file")
    layout = Layout(authorities, units, workers_per_unit, observations)
    the_study = load_study(study)
    kwargs = dict(effects=parse_assignments(effect or [], "effect"),
                  group_sds=parse_assignments(sd or [], "sd"),
                  mix=parse_assignments(mix or [], "mix"), seed=seed)
    if the_study.is_default():
        sim = simulate(layout, preset=preset, **kwargs)
    else:
        from pyramid.data.simulate_study import simulate_study

        sim = simulate_study(the_study, layout, **kwargs)
    path = write(sim.data, out)
    info(
        f"wrote {len(sim.data)} observations ({layout.authorities} authorities x "
        f"{layout.units} units x {layout.workers_per_unit} workers x {layout.observations} "
        f"observations, seed {sim.seed}) to {path}"
    )
    if truth:
        tf = sim.truth_frame()
        tpath = write(tf, truth)
        info(f"wrote the truth ({len(tf)} rows: parameter, scale, value) to {tpath}")


# --------------------------------------------------------------------------------------------
# validate
# --------------------------------------------------------------------------------------------
@app.command("validate")
def validate_cmd(
    file: Annotated[str, typer.Argument(help="Data file: .csv, .parquet, .xlsx or .sav.")],
    model: Annotated[
        str | None,
        typer.Option(
            "--model", "-m", help="Model name (pyramid, skill, domains) or spec file: also "
            "check the data as pyramid fit does for it (groups, levels, one discussion per "
            "unit for pyramid).",
        ),
    ] = None,
    sheet: SheetOpt = None,
    encoding: EncodingOpt = None,
    allow: AllowOpt = None,
    fmt: FormatOpt = Format.text,
    study: StudyOpt = None,
) -> None:
    """Check a data file against its study (default rsw2017): print a summary and 'valid'.

    Every column of the file is listed as used (under its own name), mapped (to a column of
    the study) or unused (kept as it is).

    Problems go to stderr, each with row, column, value and rule; the exit code is then 2.
    Warnings (blank rows dropped, few groups for the model, the judgements --allow silences)
    go to stderr too. With --model, every check pyramid fit makes of the data for that model.
    """
    from pathlib import Path

    import pandas as pd

    from pyramid.data.validate import summarise

    data = read_data(file, sheet=sheet, encoding=encoding, allow=allow, model=model,
                     study=study)
    table = summarise(data)
    if str(fmt) == "csv":
        emit(table, fmt)
        info("valid")
        return
    shown = table.astype(object).copy()
    shown["n"] = [("" if pd.isna(v) else str(v)) for v in table["n"]]
    shown["percent"] = [("" if pd.isna(v) else f"{v:.1f}") for v in table["percent"]]
    shown["value"] = [("" if pd.isna(v) else f"{v:.3f}") for v in table["value"]]
    record = data.attrs["validation"]
    emit(shown, fmt, title=f"{Path(file).name}: {len(data)} observations (study "
         f"{record['study']})")
    typer.echo("columns:")
    for header, status, canonical in record["columns"]:
        what = {"used": "used", "mapped": f"mapped to {canonical}",
                "unused": "unused (kept as it is)",
                "ignored": "unused (the study's unused_columns)"}[status]
        typer.echo(f"  {header}: {what}")
    for note in record["notes"]:
        typer.echo(f"note: {note}")
    typer.echo("valid")


# --------------------------------------------------------------------------------------------
# reanalyse
# --------------------------------------------------------------------------------------------
@app.command("reanalyse")
def reanalyse_cmd(
    table: Annotated[
        list[str] | None,
        typer.Option(
            "--table", "-t",
            help="Table to reanalyse: 7, 9, 10, 11, 12, 14, 15 or correlations (repeatable; "
            "default all).",
        ),
    ] = None,
    fmt: FormatOpt = Format.text,
    ci_prob: CiProbOpt = DEFAULT_CI_PROB,
    posterior: Annotated[
        str,
        typer.Option("--posterior", help="Posterior of a mean difference: behrens_fisher or pooled."),
    ] = "behrens_fisher",
    all_columns: Annotated[
        bool, typer.Option("--all-columns", help="Text format: print every column, not the summary.")
    ] = False,
) -> None:
    """Reanalyse the report's published t-tests, correlations and proportions.

    Recomputes each printed statistic from the printed means, SDs and Ns, flags printed values
    they cannot give (and GRIM-impossible means), and gives the JZS Bayes factor and exact
    posteriors. CSV output has every column of pyramid.reanalyse.
    """
    from pyramid.reanalysis import compact, reanalyse

    res = reanalyse(table or None, ci_prob=ci_prob, posterior=posterior)
    if str(fmt) == "csv" or all_columns:
        emit(res, fmt)
        return
    view = compact(res)
    for tid, sub in res.groupby("table", sort=False):
        head = f"Table {tid}" if tid[0].isdigit() else "Correlations (Part 4 text)"
        emit(view.loc[sub.index].drop(columns="table"), fmt, title=f"\n{head}")
        notes = sub[sub["consistency_note"].str.len() > 0]
        if len(notes):
            typer.echo("notes:")
            for _, r in notes.iterrows():
                typer.echo(f"  {r['comparison']}: {r['consistency_note']}")
        grim_bad = sub[sub["grim"].fillna(True).eq(False)]
        for _, r in grim_bad.iterrows():
            typer.echo(f"  GRIM {r['comparison']}: {r['grim_note']}")
    typer.echo(
        f"\nposterior intervals: {ci_prob:.0%}; BF10: JZS (Cauchy r = 0.707) for means, "
        "beta (Jeffreys) for proportions, uniform prior on rho for correlations. "
        "--format csv for every column."
    )


# --------------------------------------------------------------------------------------------
# figure4
# --------------------------------------------------------------------------------------------
def _load_fit_result(path: str):
    """Read a results file written by ``pyramid fit`` (through pyramid.results.load)."""
    from pathlib import Path

    if not Path(path).is_file():
        raise PyramidError(f"no results file {path!r}")
    try:
        from pyramid.results import load
    except ImportError:
        raise PyramidError(
            f"cannot read {path!r}: reading a results file needs pyramid.results.load, which this "
            f"installation of pyramid does not have"
        ) from None
    return load(path)


@app.command("figure4")
def figure4_cmd(
    out: Annotated[str, typer.Option("--out", "-o", help="Image file to write (.png, .pdf, .svg).")],
    result: Annotated[
        str | None,
        typer.Option("--result", "-r", help="A fitted result (.nc from pyramid fit) to add "
                     "the model's posterior effect of each factor."),
    ] = None,
    ci_prob: CiProbOpt = DEFAULT_CI_PROB,
    dpi: Annotated[int, typer.Option("--dpi", help="Resolution of a raster image.")] = 150,
) -> None:
    """Redraw the report's Figure 4: what factors influence quality of observed practice.

    Given a fit of a study other than rsw2017, draw the same picture from that study's own
    data and fit instead (the mean score at each level of each factor, and the model's effect
    of each level): Figure 4's upper panel is RSW 2017's published means, which belong to
    RSW 2017 only.
    """
    from pyramid.output import check_output
    from pyramid.plots import save_figure4

    check_output(out, (Path(out).suffix.lower() or ".png",), "figure")
    fitted = _load_fit_result(result) if result else None
    if fitted is not None and not fitted.study.is_default():
        import matplotlib

        matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt

        from pyramid.output import atomic_path
        from pyramid.plots.factors import plot_factors

        path = check_output(out, (".png", ".pdf", ".svg"), "figure")
        fig = plot_factors(fitted, ci_prob=ci_prob)
        try:
            with atomic_path(path, "figure") as tmp:
                fig.savefig(tmp, dpi=dpi, bbox_inches="tight", format=path.suffix[1:].lower())
        finally:
            plt.close(fig)
        info(f"wrote the factors of study {fitted.study.name!r} (Figure 4's layout) to {path}")
        return
    path = save_figure4(out, fitted, ci_prob=ci_prob, dpi=dpi)
    info(f"wrote Figure 4 to {path}")


# --------------------------------------------------------------------------------------------
# compare
# --------------------------------------------------------------------------------------------
@app.command("compare")
def compare_cmd(
    result: Annotated[str, typer.Argument(help="Results file (.nc) written by pyramid fit.")],
    rope: Annotated[
        float, typer.Option("--rope", help="Half-width of the region of practical equivalence, "
                            "in skill points (0 to 1).")
    ] = 0.1,
    ci_prob: CiProbOpt = DEFAULT_CI_PROB,
    contrast: Annotated[
        list[str] | None,
        typer.Option(
            "--contrast", "-c",
            help="A contrast, repeatable, replacing the defaults ('default' adds them back): "
            "'[label:] SETTING - SETTING' where SETTING is column=value or {column=value, "
            "...}; value a level, a mix a|b (weighted as in the data) or ? (integrated out, "
            "pyramid model). E.g. 'training=programme - training=none', "
            "'{clinician=1, discussion=?} - {clinician=0, discussion=?}'.",
        ),
    ] = None,
    fmt: FormatOpt = Format.text,
    all_columns: Annotated[
        bool, typer.Option("--all-columns", help="Text format: print every column.")
    ] = False,
    effect_sizes: Annotated[
        bool, typer.Option("--effect-sizes", help="Also effect sizes in the Education "
                           "Endowment Foundation's convention: each contrast over the total "
                           "SD of skill in the unconditional model of the same rows (fitted "
                           "now, seconds), with P(ES > 0, 0.05, 0.1, 0.2).")
    ] = False,
) -> None:
    """Posterior contrasts on the skill scale (the study's; 1-5 for RSW 2017): the Bayesian
    replacement of the t-tests.

    For each contrast: posterior mean and equal-tailed interval, probability of direction,
    probability inside the ROPE, Savage-Dickey Bayes factor and the odds of the direction.
    CSV output has every column of pyramid.compare.
    """
    from pyramid.compare import compact, compare

    res = _load_fit_result(result)
    table = compare(res, contrast or None, rope=rope, ci_prob=ci_prob,
                    effect_sizes=effect_sizes)
    if str(fmt) == "csv" or all_columns:
        emit(table, fmt)
        return
    post = res.idata["posterior"]
    emit(compact(table), fmt, title=(
        f"model {res.spec.name!r}, priors {res.priors.name!r}: {len(res.data)} rows, "
        f"{post.sizes['chain']} chains x {post.sizes['draw']} draws; differences in expected "
        f"{res.study.overall.label} ({res.study.scale_min}-{res.study.scale_max} scale)"))
    typer.echo(
        f"estimate: posterior mean [{ci_prob:.0%} equal-tailed interval]; P(dir): probability "
        f"of direction and the sign; P(ROPE): P(|effect| < {rope:g}); BF10: Savage-Dickey "
        "('>': a lower bound, the draws lie too far from 0 to say more; empty: none, see the "
        "notes); odds(dir): P(dir) / (1 - P(dir))"
        + ("; ES: effect size (EEF convention), P(ES>0.2): its probability above 0.2"
           if effect_sizes else "") + ". --format csv for every column."
    )
    for note in table.attrs.get("notes", []):
        typer.echo(f"note: {note}")
    for _, r in table[table["note"].str.len() > 0].iterrows():
        typer.echo(f"note: {r['key']}: {r['note']}")
    for _, r in table[table["bf10_note"].str.startswith("not defined")].iterrows():
        typer.echo(f"note: {r['key']}: no BF10: {r['bf10_note'].removeprefix('not defined: ')}")
    if not res.converged:
        from pyramid.diagnostics import fit_verdict

        info(f"warning: this fit is {fit_verdict(res)}")


# --------------------------------------------------------------------------------------------
# demo
# --------------------------------------------------------------------------------------------
@app.command("demo")
def demo_cmd(
    out: Annotated[str, typer.Option("--out", "-o", help="Folder for the files.")] = "pyramid-output",
    draws: Annotated[int, typer.Option("--draws", help="Draws per chain.")] = 1000,
    tune: Annotated[int, typer.Option("--tune", help="Tuning draws per chain.")] = 1000,
    seed: Annotated[int, typer.Option("--seed", help="Random seed of the fit.")] = 2017,
    progress: Annotated[
        bool, typer.Option("--progress/--no-progress", help="Show the sampler's progress bar.")
    ] = True,
) -> None:
    """Fit the default model to the reference data and print what replaces the t-tests.

    On rsw2017 (a reconstruction consistent with the report's published summaries, not the
    evaluation's data): validate, fit the default model, print the posterior comparisons and
    the report's Tables 14-15 tests reanalysed beside them, write Figure 4 and the results
    file, and say where the files went.
    """
    from pyramid.demo import run_demo

    res = run_demo(out, draws=draws, tune=tune, random_seed=seed, progressbar=progress,
                   echo=info)
    typer.echo(res.report())
    info(f"demo finished in {res.timings['total_s']:.0f} s (fit {res.timings['fit_s']:.0f} s)")


# --------------------------------------------------------------------------------------------
# fit, loo, priors check
# --------------------------------------------------------------------------------------------
@app.command("fit")
def fit_cmd(
    data: Annotated[str, typer.Argument(help="Observations (.csv, .parquet, .xlsx, .sav).")],
    out: Annotated[str, typer.Option("--out", "-o", help="Results file to write (.nc).")],
    model: Annotated[
        str, typer.Option("--model", "-m", help="pyramid, skill, domains or a spec file "
                          "(--formula replaces the default).")
    ] = DEFAULT_MODEL,
    priors: Annotated[
        str, typer.Option("--priors", "-p", help="default, sceptical, rsw2017 or a prior file.")
    ] = "default",
    formula: Annotated[
        str | None, typer.Option("--formula", "-f", help="A brms-style formula in place of "
                                 "--model, e.g. \"skill ~ wave * model + caseload + (1 | "
                                 "authority/unit/worker)\".")
    ] = None,
    family: Annotated[
        str | None, typer.Option("--family", help="With --formula: gaussian or "
                                 "cumulative_probit (default from the outcome).")
    ] = None,
    ci_prob: CiProbOpt = DEFAULT_CI_PROB,
    sheet: SheetOpt = None,
    encoding: EncodingOpt = None,
    allow: AllowOpt = None,
    draws: Annotated[int, typer.Option("--draws", help="Draws kept per chain.")] = 1000,
    tune: Annotated[int, typer.Option("--tune", help="Tuning draws per chain.")] = 1000,
    chains: Annotated[int, typer.Option("--chains", help="Number of chains.")] = 4,
    seed: Annotated[int | None, typer.Option("--seed", help="Random seed.")] = None,
    extend: Annotated[
        bool, typer.Option("--extend/--no-extend", help="When a convergence check fails, "
                           "continue the same chains in blocks of DRAWS more draws (at most 3) "
                           "while a time budget allows (default: on).")
    ] = True,
    extend_budget: Annotated[
        float | None, typer.Option("--extend-budget", help="The extension's time budget in "
                                   "seconds (default: twice the first draws' time, at least "
                                   "30 s).")
    ] = None,
    target_accept: Annotated[
        float | None, typer.Option("--target-accept", help="Sampler target acceptance.")
    ] = None,
    progress: Annotated[bool, typer.Option("--progress/--no-progress", help="Progress bar.")] = True,
    adaptation: Annotated[
        str | None, typer.Option("--adaptation", help="nutpie's mass matrix: diag, low_rank or "
                                 "draw_diag (default: the spec's, else diag).")
    ] = None,
    max_tree_depth: Annotated[
        int | None, typer.Option("--max-tree-depth", help="Longest NUTS trajectory, 2**DEPTH "
                                 "steps (default: the spec's, else 10).")
    ] = None,
    backend: Annotated[
        str, typer.Option("--backend", help="numba (pyramid's kernels, the default), pytensor "
                          "(PyTensor's numba backend: the path before the kernels, for "
                          "comparison) or jax (needs rsw-pyramid[jax]; a GPU with jax[cuda12]).")
    ] = "numba",
    fmt: FormatOpt = Format.text,
    study: StudyOpt = None,
) -> None:
    """Fit a model and write the results file; print the fixed effects and the diagnostics.

    With --study FILE the data are read and checked in that study's terms, the shipped
    models skill and domains take the study's [models] terms, and the results file keeps the
    study (compare, report and figure4 read it from there). With --formula the model is a
    brms-style formula over the study's factors; the build it takes (group effects integrated
    out, the fused ordinal likelihood, or the general one) is printed and stored.
    """
    from pyramid.fit import fit
    from pyramid.output import check_output

    check_output(out, (".nc",), "results file")  # before an hour of sampling, not after
    df = read_data(data, sheet=sheet, encoding=encoding, allow=allow, study=study)
    res = fit(df, model=model, priors=priors, formula=formula, family=family, draws=draws,
              tune=tune, chains=chains, random_seed=seed, target_accept=target_accept,
              progressbar=progress, adaptation=adaptation, max_tree_depth=max_tree_depth,
              backend=backend, extend=(extend_budget if extend and extend_budget else extend),
              study=study)
    path = res.save(out)
    emit(res.coefs(ci_prob).round(4), fmt,
         title=f"\nmodel {res.spec.name!r}: fixed effects (posterior means, sd and "
               f"{ci_prob:.0%} intervals)")
    if str(fmt) != "csv":  # CSV: one table on stdout
        vp = res.variance_partition(ci_prob)
        scale = ("the probit scale of a rating, residual variance 1" if vp["scale"].iloc[0]
                 == "latent" else "skill points")
        emit(vp.drop(columns="scale").round(3), fmt, title=(
            f"\nvariance partition: each level's share of the variance (ICC for a group "
            f"level; {ci_prob:.0%} intervals; {scale}), given the model's fixed effects"))
    info(f"wrote {path} (seed {res.info['seed']}, sampler {res.info['sampler']})")


@app.command("loo")
def loo_cmd(
    results: Annotated[list[str], typer.Argument(help="Results files (.nc) to compare.")],
    by: Annotated[
        str | None,
        typer.Option("--by", help="Grouped K-fold instead of PSIS-LOO: refit the model once "
                     "per group of this level (e.g. authority) without it and score the "
                     "group's rows jointly (as brms's kfold(group=, joint=TRUE)); skill and "
                     "pyramid models; minutes."),
    ] = None,
    fmt: FormatOpt = Format.text,
) -> None:
    """Compare fitted models by PSIS-LOO (arviz), with Pareto-k warnings, or by grouped
    K-fold cross-validation (--by authority): how well each predicts a new authority."""
    from pyramid.diagnostics import loo_table
    from pyramid.results import load

    loaded = {path: load(path) for path in results}
    if by is not None:
        _kfold_out(loaded, by, fmt)
        return
    table, notes = loo_table(loaded)
    emit(table if str(fmt) == "csv" else loo_text(table), fmt,
         title="PSIS-LOO (elpd: higher is better)")
    for note in notes:
        info(note)


def _kfold_out(loaded: dict, by: str, fmt: Format | str) -> None:
    """``pyramid loo --by``: each model's folds, then the models side by side."""
    import pandas as pd

    from pyramid.kfold import kfold, kfold_table

    folds = {}
    for label, res in loaded.items():
        info(f"{label}: grouped K-fold by {by}, one refit per {by}")
        folds[label] = kfold(res, by, progress=info)
    if str(fmt) == "csv":
        emit(pd.concat([f.assign(model=label) for label, f in folds.items()],
                       ignore_index=True), fmt)
        return
    for label, f in folds.items():
        shown = f.drop(columns=["by"]).assign(elpd=[f"{v:.2f}" for v in f["elpd"]],
                                               max_rhat=[f"{v:.3f}" for v in f["max_rhat"]])
        emit(shown, fmt, title=f"\n{label}: one {by} left out at a time (elpd: the left-out "
             f"rows' joint log predictive density)")
        if not f["converged"].all():
            info(f"warning: {label}: {int((~f['converged']).sum())} refit(s) did not pass "
                 "every convergence check; their elpd is unreliable")
    emit(loo_text(kfold_table(folds).rename(columns={"elpd_kfold": "elpd"})).rename(
        columns={"elpd": "elpd_kfold"}), fmt,
        title=f"\ngrouped K-fold by {by} (elpd_kfold: higher is better; se = sqrt(K var))")


def loo_text(table: pd.DataFrame) -> pd.DataFrame:
    """The printed view of :func:`pyramid.diagnostics.loo_table`: elpd, its SE, p and the
    differences with two decimals, weights with three (the CSV keeps every digit).

    Examples
    --------
    >>> import pandas as pd
    >>> t = pd.DataFrame({"model": ["a"], "rank": [0], "elpd": [-47.8123], "se": [3.21],
    ...                   "p": [4.5], "elpd_diff": [0.0], "dse": [0.0], "weight": [1.0]})
    >>> loo_text(t).iloc[0].tolist()[:4]
    ['a', '0', '-47.81', '3.21']
    """
    import pandas as pd

    from pyramid import formatting

    out = table.copy()
    for col in ("elpd", "se", "p", "elpd_diff", "dse"):
        if col in out:
            out[col] = [formatting.number(v, 2, missing="") for v in out[col]]
    if "weight" in out:
        out["weight"] = [formatting.number(v, 3, missing="") for v in out["weight"]]
    if "rank" in out:
        out["rank"] = ["" if pd.isna(v) else str(int(v)) for v in out["rank"]]
    return out


priors_app = typer.Typer(
    help="Prior sets: prior predictive checks.", no_args_is_help=True, add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.add_typer(priors_app, name="priors")


@priors_app.command("check")
def priors_check_cmd(
    name: Annotated[str, typer.Argument(help="Prior set: default, sceptical, rsw2017 or a file.")],
    model: Annotated[
        str, typer.Option("--model", "-m", help="pyramid, skill, domains or a spec file.")
    ] = DEFAULT_MODEL,
    data: Annotated[
        str | None,
        typer.Option("--data", help="Rows to replicate (default: the reference data)."),
    ] = None,
    draws: Annotated[int, typer.Option("--draws", help="Prior draws.")] = 1000,
    seed: Annotated[int | None, typer.Option("--seed", help="Random seed.")] = None,
    plot: Annotated[
        str | None, typer.Option("--plot", help="Also draw the implied scores to this image.")
    ] = None,
    fmt: FormatOpt = Format.text,
    study: StudyOpt = None,
) -> None:
    """Show the skill scores a prior set implies (prior predictive quantiles).

    With --study FILE the prior set is put on that study's scale (as fit does), the model
    takes its terms, and without --data the rows replicated are a data set of its shape
    simulated with every effect 0; the table gives one difference per factor of the model.
    """
    from pyramid.fit import prior_check
    from pyramid.plots.priors import plot_prior_check
    from pyramid.study import load_study

    the_study = load_study(study)
    df = None
    if data is not None:
        from pyramid.data.readers import read

        df = read(data, study=the_study)
    table, draws_ = prior_check(name, model, df, draws=draws, random_seed=seed,
                                study=the_study)
    scale = f"{the_study.scale_min}-{the_study.scale_max}"
    emit(table.round(3), fmt,
         title=f"Prior predictive check: priors {name!r}, model {model!r} (skill scale {scale})")
    if plot:
        path = plot_prior_check(draws_, plot, title=f"priors {name}, model {model}")
        info(f"wrote {path}")


# --------------------------------------------------------------------------------------------
# compare-project
# --------------------------------------------------------------------------------------------
@app.command("compare-project")
def compare_project_cmd(
    new_file: Annotated[
        str, typer.Argument(help="The new project's observations: .csv, .parquet, .xlsx or .sav.")
    ],
    out: Annotated[
        str | None,
        typer.Option("--out", "-o", help="Folder to write compare_project.csv, "
                     "compare_project.png and compare_project_notes.txt."),
    ] = None,
    fmt: FormatOpt = Format.text,
    model: Annotated[
        str, typer.Option("--model", "-m", help="Model of the new project: pyramid (keeps "
                          "rows whose discussion or clinician was not observed) or skill.")
    ] = DEFAULT_MODEL,
    analysis: Annotated[
        list[str] | None,
        typer.Option("--analysis", "-a", help="Analysis to run, repeatable: default_priors, "
                     "rsw2017_priors, joint (default: all three)."),
    ] = None,
    draws: Annotated[int, typer.Option("--draws", help="Draws per chain.")] = 1000,
    tune: Annotated[int, typer.Option("--tune", help="Tuning draws per chain.")] = 1000,
    chains: Annotated[int, typer.Option("--chains", help="Chains.")] = 4,
    seed: Annotated[int | None, typer.Option("--seed", help="Random seed.")] = None,
    ci_prob: CiProbOpt = DEFAULT_CI_PROB,
    concentration: Annotated[
        float | None,
        typer.Option("--concentration", help="How well RSW 2017's unpublished mix of the other "
                     "factors in each published group is known (workers' worth; default 10)."),
    ] = 10.0,
    cluster_sd: Annotated[
        str,
        typer.Option("--cluster-sd", help="RSW 2017's unpublished between-authority SD: "
                     "'default' (0.10), a number, or 'unknown' (the prior set's SD prior)."),
    ] = "default",
    project_sd: Annotated[
        float, typer.Option("--project-sd", help="Between-project SD of each effect (joint).")
    ] = 0.5,
    sheet: SheetOpt = None,
    encoding: EncodingOpt = None,
    allow: AllowOpt = None,
    study: StudyOpt = None,
    map_: Annotated[
        list[str] | None,
        typer.Option("--map", help="With --study: which of the new project's coefficients "
                     "stands for one of RSW 2017's effects, NEW=RSW, repeatable (e.g. "
                     "'practice_model[systemic]=training[programme]', "
                     "'reflective_supervision=clinician'); the others are estimated within "
                     "the new project only."),
    ] = None,
) -> None:
    """Compare a new project's coded observations with RSW 2017, factor by factor.

    Fits the new project (a) with the default priors, (b) with the rsw2017 priors and (c) in
    one joint model with RSW 2017's published summaries (Tables 14-15), and prints each
    pyramid factor's effect in both projects, their difference and P(new > RSW 2017), and the
    mean skill against the report's benchmarks (2-2.5 typical, 3.24 the highest seen).
    Invalid data: the problems on stderr and exit code 2.
    """
    from pathlib import Path

    from pyramid.errors import InputError
    from pyramid.output import check_folder
    from pyramid.project import ANALYSES, compact, compare_project, write_outputs

    if out:
        check_folder(out)  # before the fits, not after
    if cluster_sd == "unknown":
        csd: float | str | None = None
    elif cluster_sd == "default":
        csd = "default"
    else:
        try:
            csd = float(cluster_sd)
        except ValueError:
            raise InputError(f"--cluster-sd must be 'default', 'unknown' or a number >= 0; got "
                             f"{cluster_sd!r}") from None
    df = read_data(new_file, sheet=sheet, encoding=encoding, allow=allow, study=study)
    info(f"comparing {Path(new_file).name} ({len(df)} rows) with RSW 2017, model {model!r} ...")
    res = compare_project(
        df, model=model, analyses=tuple(analysis) if analysis else ANALYSES,
        concentration=concentration, cluster_sd=csd, project_sd=project_sd,
        ci_prob=ci_prob, draws=draws, tune=tune, chains=chains, random_seed=seed,
        study=study, mapping=map_ or None,
    )
    if str(fmt) == "csv":
        emit(res.table, fmt)
    else:
        emit(compact(res.table), fmt, title=f"{Path(new_file).name} against RSW 2017, model "
             f"{res.settings['model']!r} ({res.settings['rows_used']} rows used; posterior "
             f"means and {ci_prob:.0%} intervals)")
        typer.echo("\nnotes:")
        for note in res.notes:
            typer.echo(f"  - {note}")
    if out:
        files = write_outputs(res, out)
        for name, path in files.items():
            info(f"wrote the {name}: {path}")


# --------------------------------------------------------------------------------------------
# design analysis and calibration (many fits)
# --------------------------------------------------------------------------------------------
JobsOpt = Annotated[
    int | None,
    typer.Option("--jobs", "-j", help="Local worker processes (default: one per core; 0: run "
                 "in this process)."),
]
SchedulerOpt = Annotated[
    str | None,
    typer.Option("--scheduler", help="Run the fits on this Dask distributed scheduler "
                 "(tcp://HOST:PORT) instead of local processes."),
]
DaskWorkersOpt = Annotated[
    int | None,
    typer.Option("--dask-workers", help="Start a local Dask cluster of this many "
                 "single-threaded workers and run the fits there."),
]
NoProgressOpt = Annotated[
    bool, typer.Option("--no-progress", help="No progress bar.")
]
RetryOpt = Annotated[
    bool, typer.Option("--retry-failed", help="Fit again what an earlier run into --out "
                       "recorded as failed (failures outside the model, such as a full disk, "
                       "are fitted again anyway).")
]


def _run_summary(table) -> None:
    rep = table.attrs.get("report", {})
    info(f"{rep.get('ok', 0)} fits now, {rep.get('skipped', 0)} already in the folder, "
         f"{rep.get('failed', 0)} failed now ({rep.get('backend', '')}, "
         f"{rep.get('workers', 0)} workers, {rep.get('seconds', 0.0):.0f} s)")
    failed = table.attrs.get("failed") or []
    if failed:
        info(f"warning: {len(failed)} fits failed (recorded in results.jsonl); the first: "
             f"{failed[0]}")


@app.command("design")
def design_cmd(
    out: Annotated[str, typer.Option("--out", "-o", help="Output folder (results.jsonl, "
                                     "summary.csv, fits.csv, assurance.png); rerun with the "
                                     "same arguments to resume.")],
    authorities: Annotated[int, typer.Option("--authorities", "-A", help="Authorities.")] = 5,
    units: Annotated[int, typer.Option("--units", "-U", help="Units per authority.")] = 4,
    workers_per_unit: Annotated[int, typer.Option(
        "--workers-per-unit", "-W",
        help="Social workers per unit (processes: --jobs, --dask-workers).")] = 4,
    observations: Annotated[
        int, typer.Option("--observations", "-O", help="Observations per worker.")
    ] = 1,
    effect: Annotated[
        list[str] | None,
        typer.Option("--effect", "-e", help="Planned true effect NAME=VALUE, repeatable "
                     "(skill points; names as in 'pyramid simulate --help')."),
    ] = None,
    preset: Annotated[
        str, typer.Option("--preset", help="Starting effects: 'report' (Tables 14-15) or "
                          "'null'.")
    ] = "report",
    sd: Annotated[
        list[str] | None,
        typer.Option("--sd", help="Group SD NAME=VALUE, repeatable (default: the medians of "
                     "the default prior set's SD priors for authority, unit and worker)."),
    ] = None,
    mix: Annotated[
        list[str] | None,
        typer.Option("--mix", help="Factor mix NAME=VALUE, repeatable (default: the "
                     "simulator's, with discussion_observed=1)."),
    ] = None,
    sims: Annotated[int, typer.Option("--sims", "-n", help="Simulated data sets per design "
                                      "point.")] = 100,
    seed: Annotated[int | None, typer.Option("--seed", help="Random seed of the run.")] = None,
    sweep: Annotated[
        str | None,
        typer.Option("--sweep", help="One design dimension and its values, e.g. "
                     "units=2,4,8: an assurance curve."),
    ] = None,
    model: Annotated[str, typer.Option("--model", "-m", help="Analysis model (default: "
                                       "skill, fitted hundreds of times).")] = PLANNING_MODEL,
    formula: Annotated[
        str | None, typer.Option("--formula", "-f", help="A brms-style formula in place of "
                                 "--model: data drawn from its own model, --effect naming its "
                                 "coefficients (e.g. 'wave:model[follow_up,systemic]=0.4').")
    ] = None,
    family: Annotated[
        str | None, typer.Option("--family", help="With --formula: gaussian or "
                                 "cumulative_probit (default from the outcome).")
    ] = None,
    priors: Annotated[str, typer.Option("--priors", "-p", help="Prior set.")] = "default",
    criterion: Annotated[
        str, typer.Option("--criterion", help="Assurance criterion: direction (P(true sign) "
                          ">= level), rope (P(beyond +/-rope on the true side) >= level) or "
                          "width (interval width <= --width).")
    ] = "direction",
    level: Annotated[float, typer.Option("--level", help="Posterior probability the "
                                         "criterion needs.")] = 0.95,
    rope: Annotated[float, typer.Option("--rope", help="Half-width of the region of "
                                        "practical equivalence.")] = 0.1,
    width: Annotated[
        float | None, typer.Option("--width", help="Target interval width (width criterion).")
    ] = None,
    ci_prob: Annotated[float, typer.Option("--ci-prob", help="Interval probability (width, "
                                           "coverage).")] = DEFAULT_CI_PROB,
    target: Annotated[
        list[str] | None,
        typer.Option("--target", help="Effect to report, repeatable (default: every effect "
                     "of the model but the intercept)."),
    ] = None,
    draws: Annotated[int, typer.Option("--draws", help="Draws per chain.")] = 500,
    tune: Annotated[int, typer.Option("--tune", help="Tuning draws per chain.")] = 500,
    chains: Annotated[int, typer.Option("--chains", help="Chains per fit.")] = 2,
    jobs: JobsOpt = None,
    scheduler: SchedulerOpt = None,
    dask_workers: DaskWorkersOpt = None,
    no_progress: NoProgressOpt = False,
    retry_failed: RetryOpt = False,
    fmt: FormatOpt = Format.text,
    study: StudyOpt = None,
) -> None:
    """Design analysis: assurance, interval width, coverage and bias of a planned study.

    Simulates data sets of the planned design with the planned effects, fits each, and prints
    per effect the share of fits that show it (assurance) with its Monte Carlo standard error,
    the mean interval width, the coverage of the true value and the bias. With --study FILE
    the study's own factors are simulated and analysed: --effect names their coefficients
    (e.g. 'model[systemic]=0.5'; every effect not given is 0) and --preset does not apply.
    """
    from pyramid.data.simulate import parse_assignments
    from pyramid.planning import design

    table = design(
        authorities, units, workers_per_unit, observations,
        effects=parse_assignments(effect or [], "effect"), preset=preset,
        group_sds=parse_assignments(sd or [], "sd"), mix=parse_assignments(mix or [], "mix"),
        sims=sims, sweep=sweep, model=model, priors=priors, criterion=criterion, level=level,
        rope=rope, width=width, ci_prob=ci_prob, targets=target, draws=draws, tune=tune,
        chains=chains, random_seed=seed, out=out, jobs=jobs, scheduler=scheduler,
        dask_workers=dask_workers, progressbar=not no_progress, retry_failed=retry_failed,
        study=study, formula=formula, family=family,
    )
    _run_summary(table)
    if str(fmt) == "csv":
        emit(table, fmt)
    else:
        dims = [table["sweep"].iloc[0]] if table["sweep"].iloc[0] else []
        shown = table[[*dims, "effect", "truth", "n_fits", "assurance",
                       "assurance_mcse", "mean_width", "coverage", "coverage_mcse", "bias",
                       "bias_mcse"]].round(3)
        emit(shown, fmt, title=f"design analysis ({criterion} criterion at {level:g}; "
             f"{ci_prob:.0%} intervals; Monte Carlo standard errors in *_mcse)")
    info(f"wrote summary.csv, fits.csv and assurance.png to {out}")


@app.command("calibrate")
def calibrate_cmd(
    out: Annotated[str, typer.Option("--out", "-o", help="Output folder (results.jsonl, "
                                     "calibration.csv, ranks.csv, ranks.png); rerun with the "
                                     "same arguments to resume.")],
    model: Annotated[
        str, typer.Option("--model", "-m", help="Model: skill (default: fitted hundreds of "
                          "times), domains or pyramid; --formula replaces the default.")
    ] = PLANNING_MODEL,
    sims: Annotated[int, typer.Option("--sims", "-n", help="Simulations.")] = 100,
    formula: Annotated[
        str | None, typer.Option("--formula", "-f", help="A brms-style formula in place of "
                                 "--model (calibrated through the build it takes).")
    ] = None,
    family: Annotated[
        str | None, typer.Option("--family", help="With --formula: gaussian or "
                                 "cumulative_probit (default from the outcome).")
    ] = None,
    seed: Annotated[int | None, typer.Option("--seed", help="Random seed of the run.")] = None,
    priors: Annotated[str, typer.Option("--priors", "-p", help="Prior set.")] = "default",
    authorities: Annotated[int, typer.Option("--authorities", "-A", help="Authorities.")] = 5,
    units: Annotated[int, typer.Option("--units", "-U", help="Units per authority.")] = 4,
    workers_per_unit: Annotated[int, typer.Option(
        "--workers-per-unit", "-W",
        help="Social workers per unit (processes: --jobs, --dask-workers).")] = 2,
    observations: Annotated[
        int, typer.Option("--observations", "-O", help="Observations per worker.")
    ] = 2,
    draws: Annotated[int, typer.Option("--draws", help="Draws per chain.")] = 500,
    tune: Annotated[int, typer.Option("--tune", help="Tuning draws per chain.")] = 500,
    chains: Annotated[int, typer.Option("--chains", help="Chains per fit.")] = 2,
    thin_to: Annotated[int, typer.Option("--thin-to", help="Posterior draws each true value "
                                         "is ranked among.")] = 99,
    test: Annotated[str, typer.Option("--test", help="Test deciding 'pass': ecdf "
                                      "(simultaneous ECDF) or chi2 (binned ranks).")] = "ecdf",
    alpha: Annotated[float, typer.Option("--alpha", help="A parameter passes when its "
                                         "p-value is at least this.")] = 0.01,
    bins: Annotated[int | None, typer.Option("--bins", help="Bins of the chi-square test "
                                             "and the histograms.")] = None,
    jobs: JobsOpt = None,
    scheduler: SchedulerOpt = None,
    dask_workers: DaskWorkersOpt = None,
    no_progress: NoProgressOpt = False,
    retry_failed: RetryOpt = False,
    fmt: FormatOpt = Format.text,
    study: StudyOpt = None,
) -> None:
    """Simulation-based calibration: rank of each true value among posterior draws.

    Draws parameters from the prior, outcomes from the model given them (on designs simulated
    by the shared generative model), fits, and tests per parameter that the ranks of the true
    values are uniform; writes rank histograms. With --study FILE the designs are simulated
    in that study's terms and the model and priors are the study's (as fit makes them).
    """
    from pyramid.calibration import calibrate

    table = calibrate(
        model, sims, priors=priors, formula=formula, family=family,
        authorities=authorities, units=units,
        workers_per_unit=workers_per_unit,
        observations=observations, draws=draws, tune=tune, chains=chains, thin_to=thin_to,
        test=test, alpha=alpha, bins=bins, random_seed=seed, out=out, jobs=jobs,
        scheduler=scheduler, dask_workers=dask_workers, progressbar=not no_progress,
        retry_failed=retry_failed, study=study,
    )
    _run_summary(table)
    if str(fmt) == "csv":
        emit(table, fmt)
    else:
        shown = table[["parameter", "fixed_effect", "n_sims", "statistic", "p_value",
                       "chi2_p_value", "pass"]].round(4)
        n_fail = int((~table["pass"]).sum())
        what = repr(formula) if formula else repr(model)
        emit(shown, fmt, title=f"simulation-based calibration of {what} ({test} test, "
             f"alpha {alpha:g}): {len(table) - n_fail} of {len(table)} parameters pass")
    info(f"wrote calibration.csv, ranks.csv and ranks.png to {out}")


# --------------------------------------------------------------------------------------------
# study: init, check, example
# --------------------------------------------------------------------------------------------
study_app = typer.Typer(
    help="Studies: draft a study file from data, check one, write the made-up example.",
    no_args_is_help=True, add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.add_typer(study_app, name="study")


@study_app.command("init")
def study_init_cmd(
    data: Annotated[str, typer.Argument(help="Data file: .csv, .parquet, .xlsx or .sav.")],
    out: Annotated[str, typer.Option("--out", "-o", help="Study file to write (.toml).")],
    name: Annotated[str, typer.Option("--name", help="The study's name (an identifier).")]
    = "my_study",
    description: Annotated[
        str, typer.Option("--description", help="One paragraph on the study.")
    ] = "",
    force: Annotated[bool, typer.Option("--force", help="Replace an existing file.")] = False,
    sheet: SheetOpt = None,
    encoding: EncodingOpt = None,
) -> None:
    """Draft a study file from a data file: ids from the nesting, the scale from the scores,
    factor kinds from the values. Prints what it guessed and what to check; read the file,
    edit it, then run 'pyramid study check FILE DATA'."""
    from pyramid.data.readers import read
    from pyramid.errors import InputError
    from pyramid.output import check_output, write_text
    from pyramid.study import draft_study

    path = check_output(out, (".toml",), "study file")
    if path.exists() and not force:
        raise InputError(f"{out} exists; pass --force to replace it")
    draft = draft_study(read(data, sheet=sheet, encoding=encoding), name=name,
                        description=description)
    write_text(path, draft.text, "study file")
    typer.echo(str(draft))
    info(f"wrote the draft study to {path}")


@study_app.command("check")
def study_check_cmd(
    study: Annotated[str, typer.Argument(help="Study: a file (.toml) or a name (rsw2017).")],
    data: Annotated[
        str | None, typer.Argument(help="Optional data file to check against the study.")
    ] = None,
    sheet: SheetOpt = None,
    encoding: EncodingOpt = None,
    fmt: FormatOpt = Format.text,
) -> None:
    """Check a study file (every problem named by key, exit 2) and print what it says; with a
    data file, also how each of its columns fits the study (used, mapped, unused) and the
    problems its values have (then exit 2)."""
    from pathlib import Path

    from pyramid.errors import InputError
    from pyramid.study import check_study, load_study

    the_study = load_study(study)
    df = None
    if data is not None:
        from pyramid.data.readers import read

        df = read(data, sheet=sheet, encoding=encoding, study=the_study)
    table = check_study(the_study, df)
    title = (f"study {the_study.name!r} ({the_study.source}): {' < '.join(the_study.roles)}; "
             f"scale {the_study.scale_min}-{the_study.scale_max}; "
             f"{len(the_study.domains)} analysed domains")
    if data is not None:
        title += f"; data {Path(data).name} ({len(df)} rows)"
    emit(table, fmt, title=title)
    bad = table[table["problem"].str.len() > 0]
    if data is not None:
        from pyramid.data.validate import validate
        from pyramid.errors import ValidationError

        try:
            validate(df, study=the_study, source=Path(data).name)
        except ValidationError as exc:
            raise InputError(f"the data do not fit study {the_study.name!r}: {exc}") from None
    if len(bad):
        raise InputError(f"{len(bad)} column(s) with problems: "
                         + "; ".join(f"{r.column}: {r.problem}" for r in bad.itertuples()))
    typer.echo("study ok" + (" and the data fit it" if data is not None else ""))


@study_app.command("example")
def study_example_cmd(
    out: Annotated[str, typer.Option("--out", "-o", help="Data file to write (.csv, .parquet, "
                                     ".xlsx, .sav).")],
    seed: Annotated[int, typer.Option("--seed", help="Random seed.")] = 7,
) -> None:
    """Write the made-up project of the 'Your own study' guide: a spreadsheet shaped unlike
    RSW 2017 (its own id columns, two waves, ratings 1-7 on seven domains, a practice model,
    caseload, reflective supervision), simulated with known effects."""
    from pyramid.data.example import future_project
    from pyramid.data.readers import write

    df = future_project(seed)
    path = write(df, out)
    info(f"wrote {len(df)} rows of the made-up project to {path}")


# --------------------------------------------------------------------------------------------
# report
# --------------------------------------------------------------------------------------------
@app.command("report")
def report_cmd(
    result: Annotated[str, typer.Argument(help="Results file (.nc) written by pyramid fit.")],
    out: Annotated[str, typer.Option("--out", "-o", help="HTML file to write (.html).")],
    min_cell: Annotated[
        int, typer.Option("--min-cell", help="Smallest count of observations or workers "
                          "printed; smaller ones show as '<N' and their means are withheld "
                          "(1 turns suppression off).")
    ] = 5,
    ci_prob: CiProbOpt = DEFAULT_CI_PROB,
    rope: Annotated[
        float, typer.Option("--rope", help="Half-width of the region of practical "
                            "equivalence, in skill points.")
    ] = 0.1,
    contrast: Annotated[
        list[str] | None,
        typer.Option("--contrast", "-c", help="A contrast for the comparison table, "
                     "repeatable (syntax as in pyramid compare; default: its defaults)."),
    ] = None,
    title: Annotated[str | None, typer.Option("--title", help="The report's title.")] = None,
    data_label: Annotated[
        str | None,
        typer.Option("--data-label", help="What the data are: observed, simulated or "
                     "reconstructed (default: recognised from the rows)."),
    ] = None,
    pseudonymise: Annotated[
        bool, typer.Option("--pseudonymise", help="Print authorities and units as "
                           "'Authority 1', 'Unit 1.2' instead of their ids.")
    ] = False,
) -> None:
    """Write one self-contained HTML report of a fit, for an evaluator to share.

    Data summary with small cells suppressed, the model and priors in words, convergence
    checks, the comparison table, Figure 4 with the model and the caveats, in one file that
    loads nothing from the network.
    """
    from pyramid.output import check_output
    from pyramid.report import report

    if Path(out).suffix.lower() in (".html", ".htm"):
        check_output(out, (".html", ".htm"), "report")  # (report() says what a bad suffix is)
    res = _load_fit_result(result)
    rep = report(res, out, min_cell=min_cell, ci_prob=ci_prob, rope=rope,
                 contrasts=contrast or None, title=title, data_label=data_label,
                 pseudonymise=pseudonymise)
    c = rep.data.counts
    info(f"wrote the report to {rep.path} ({len(rep.html.encode('utf-8')) / 1024:.0f} kB); "
         f"data: {rep.origin}; suppressed {c['primary']} small counts and {c['secondary']} "
         f"more to protect them, withheld {c['means_withheld'] + c['means_secondary']} means")


# --------------------------------------------------------------------------------------------
# entry point
# --------------------------------------------------------------------------------------------
@contextlib.contextmanager
def plain_warnings() -> Iterator[None]:
    """The one place the CLI shows warnings: each as one plain line on stderr, ``warning:
    MESSAGE``, once per message, whichever command or library step raised it; never Python's
    ``file.py:123: DataWarning: ...`` with pyramid's source line under it."""
    from pyramid.errors import DataWarning

    seen: set[str] = set()

    def show(message, category, filename, lineno, file=None, line=None) -> None:
        text = str(message)
        if text not in seen:
            seen.add(text)
            info(f"warning: {text}")

    with warnings.catch_warnings():
        warnings.showwarning = show
        warnings.simplefilter("always", DataWarning)  # each once, by its text (show)
        yield


def main(argv: list[str] | None = None) -> int:
    """Run the CLI and return its exit code.

    Exit codes: 0 success; 2 bad input or usage (typer's usage errors, and every
    :class:`~pyramid.errors.PyramidError`, e.g. invalid data, printed on stderr without a
    traceback); 130 interrupted (Ctrl-C); 143 stopped by SIGTERM; 1 an unexpected internal
    error, reported in one line with a request to file an issue (set ``PYRAMID_DEBUG=1`` to
    see the traceback). Warnings are printed as ``warning: ...`` lines
    (:func:`plain_warnings`). The console script ``pyramid`` calls ``sys.exit(main())``.
    """
    from pyramid.executor import stop_on_sigterm

    try:
        with plain_warnings(), stop_on_sigterm():  # a batch system's kill: exit 143, cleanly
            app(args=argv, prog_name="pyramid")
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        if code == 130:  # typer turns Ctrl-C into exit 130, silently
            typer.echo("interrupted (a fit, a report or a figure in progress was not written)",
                       err=True)
        elif code == 143:
            typer.echo("stopped (SIGTERM); what was not finished was not written", err=True)
        return code
    except PyramidError as exc:
        typer.echo(f"error: {exc}", err=True)
        return 2
    except OSError as exc:  # the machine's, not pyramid's: a full disk, a read-only folder
        from pyramid.output import describe_os_error

        typer.echo(f"error: {describe_os_error(exc)}", err=True)
        return 2
    except KeyboardInterrupt:
        typer.echo("interrupted (a fit, a report or a figure in progress was not written)",
                   err=True)
        return 130
    except Exception as exc:  # a bug in pyramid, not the user's input
        if os.environ.get("PYRAMID_DEBUG"):
            raise
        typer.echo(
            f"internal error: {type(exc).__name__}: {exc}\n"
            "This is a bug in pyramid, not a problem with your input. Please report it with "
            "the command you ran; set PYRAMID_DEBUG=1 to see the traceback.",
            err=True,
        )
        return 1
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
