"""The demo: what ``make demo`` runs (``pyramid demo``).

On the reference data set (:func:`pyramid.datasets.load_rsw2017`, a reconstruction consistent
with the report's published summaries, not the evaluation's data) it validates and
summarises the data, reanalyses the report's Tables 14 and 15 from their printed summaries,
and writes Figure 4. Each step is one public function; the demo only strings them together
and says where the files went.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

__all__ = ["DemoOutput", "run_demo"]


@dataclass
class DemoOutput:
    """What :func:`run_demo` produced.

    Attributes
    ----------
    out : Path
        The output folder.
    summary : pandas.DataFrame
        :func:`pyramid.data.validate.summarise` of the validated reference data.
    reanalysis : pandas.DataFrame
        :func:`pyramid.reanalyse` of Tables 14 and 15.
    files : dict
        Name -> path of every file written.
    """

    out: Path
    summary: pd.DataFrame
    reanalysis: pd.DataFrame
    files: dict[str, Path] = field(default_factory=dict)


def run_demo(out: str | Path = "pyramid-output", *, echo=print) -> DemoOutput:
    """Validate and summarise the reference data, reanalyse Tables 14-15, write Figure 4.

    Parameters
    ----------
    out : str or Path, default "pyramid-output"
        Folder for the files (created if missing).
    echo : callable, default print
        Where the progress lines go (the CLI passes its stderr printer).

    Returns
    -------
    DemoOutput

    Examples
    --------
    >>> import tempfile
    >>> res = run_demo(tempfile.mkdtemp(), echo=lambda *a: None)
    >>> sorted(res.files)
    ['data', 'figure4']
    """
    from pyramid.data.readers import write
    from pyramid.data.validate import summarise, validate
    from pyramid.datasets import load_rsw2017
    from pyramid.plots import save_figure4
    from pyramid.reanalysis import reanalyse

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    raw = load_rsw2017()
    echo(
        "Reference data: rsw2017, a reconstruction consistent with the published summaries of "
        "DFE-RR588 (not the evaluation's data)."
    )
    data = validate(raw, source="rsw2017")
    files = {"data": write(data, out / "rsw2017.csv")}
    summary = summarise(data)
    reanalysis = reanalyse(["14", "15"])
    files["figure4"] = Path(save_figure4(out / "figure4.png"))
    return DemoOutput(out=out, summary=summary, reanalysis=reanalysis, files=files)
