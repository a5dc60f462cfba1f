"""Benchmark aid (issue 7): which quantities of the national ``domains`` fit mix slowest, per
variable, in the bulk and in the folded (scale) statistic.

pyramid's R-hat is the larger of the rank-normalised split R-hat of the draws (bulk) and of
their distance from the median (folded; Vehtari et al. 2021), and "every R-hat <= 1.01" is
decided by the worst of 25,668 values. This script fits the benchmark's ``domains`` model
(``national.py``'s parametrisation and seed, ``--quick`` data by default) and prints, for
every posterior variable, the quantiles (minimum, 0.1 %, 1 %, 10 %, median) of its elements'
bulk and folded ESS and the largest bulk and folded R-hat. Those say whether the largest
R-hat comes from a few badly mixing parameters or from the tail of many well mixing ones, and
whether it is their location or their scale that mixes slowly.

Usage::

    python benchmarks/mixing.py                   # quick data, 2 x (300 + 1000), ~1.5 minutes
    python benchmarks/mixing.py --draws 2000
    python benchmarks/mixing.py --national        # 150 authorities (~15 minutes)
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

QUANTILES = (0.0, 0.001, 0.01, 0.1, 0.5)


def mixing_table(posterior) -> list[dict]:
    """Per variable of ``posterior`` (an xarray Dataset, dims chain, draw, ...): the element
    count, quantiles (``QUANTILES``) of bulk and folded ESS, and the largest bulk and folded
    R-hat.

    Examples
    --------
    >>> import xarray as xr
    >>> x = np.random.default_rng(0).normal(size=(2, 400, 5))
    >>> row = mixing_table(xr.Dataset({"a": (("chain", "draw", "i"), x)}))[0]
    >>> row["name"], row["n"], bool(row["rhat_bulk"] < 1.02), len(row["ess_folded"])
    ('a', 5, True, 5)
    """
    from pyramid import mcmc_stats as ms

    rows = []
    for name, var in posterior.data_vars.items():
        with np.errstate(invalid="ignore", divide="ignore"):  # a constant element: NaN
            rows.append(_mixing_row(ms, name, var))
    return rows


def _mixing_row(ms, name: str, var) -> dict:
    x, _ = ms._flat(np.asarray(var.values, dtype=float))
    s = ms._split(x)
    bulk = ms._z_scale(s)
    folded = ms._z_scale(np.abs(s - np.median(s.reshape(s.shape[0], -1), axis=1)[:, None, None]))
    return {"name": name, "n": x.shape[0],
            "ess_bulk": np.nanquantile(ms._ess(bulk), QUANTILES).tolist(),
            "ess_folded": np.nanquantile(ms._ess(folded), QUANTILES).tolist(),
            "rhat_bulk": float(np.nanmax(ms._rhat(bulk))),
            "rhat_folded": float(np.nanmax(ms._rhat(folded)))}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--national", action="store_true", help="150 authorities, not 15")
    p.add_argument("--draws", type=int, default=1000)
    p.add_argument("--tune", type=int, default=300)
    p.add_argument("--chains", type=int, default=2)
    args = p.parse_args(argv)
    sys.path.insert(0, str(Path(__file__).parent))
    import national

    import pyramid as pyr

    design = national.NATIONAL if args.national else national.QUICK
    sim = national.national_data(design)
    par = national.PYRAMID_OPTIONS["domains"]["parametrisation"]
    spec = national.spec_variant("domains", par, Path(tempfile.mkdtemp()))
    t0 = time.perf_counter()
    res = pyr.fit(sim.data, model=spec, draws=args.draws, tune=args.tune, chains=args.chains,
                  random_seed=national.SEED, progressbar=False, verbose=False,
                  log_likelihood=False)
    st = res.idata["sample_stats"].to_dataset()
    print(f"domains on pyramid.simulate({design}), {args.chains} x ({args.tune} + {args.draws}); "
          f"{time.perf_counter() - t0:.0f} s, {int(st['diverging'].sum())} divergences, mean "
          f"tree depth {float(st['depth'].mean()):.2f}")
    q = "/".join(f"{100 * x:g}%" for x in QUANTILES)
    print(f"{'variable':24s} {'n':>6s}  bulk ESS ({q})  folded ESS ({q})  R-hat bulk / folded")
    for r in mixing_table(res.posterior):
        print(f"{r['name']:24s} {r['n']:6d}  " + " ".join(f"{v:5.0f}" for v in r["ess_bulk"])
              + "  " + " ".join(f"{v:5.0f}" for v in r["ess_folded"])
              + f"  {r['rhat_bulk']:.4f} / {r['rhat_folded']:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
