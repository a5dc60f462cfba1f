"""Benchmark (issue 7): the cost of one gradient of the national ``domains`` model.

Times, in one process on the national data (90,000 ratings; ``--quick`` for 9,000):

* the cumulative-probit kernel alone, in its three forms: the current vectorised pass
  (``_value_and_partials``: branch-free arithmetic that LLVM turns into AVX2 code, computing
  the log-probabilities *and* their partial derivatives), and the two one-rating-at-a-time
  kernels with the C library's ``erfc`` and ``log`` that came before it, which compute the
  log-probabilities only: an interior category's probability as the direct difference of two
  ``erfc`` values where that cannot cancel, and the log-space form before that
  (``direct=False``: ``log Phi`` of both bounds and ``log1mexp`` for every rating);
* the fused likelihood with its gradient (``pyramid.models.ordinal_op``, through PyTensor),
  with the per-rating gather of the row's predictor and the domain effect inside the
  operation (as the model uses it) and, for comparison, done by PyTensor graph nodes first;
* the whole model's log density and gradient as nutpie calls it (``CompiledModel.logp_dlogp``:
  25,668 parameters, the benchmark's parametrisation), at the model's initial point without
  jitter.

The per-row predictors for the kernel timings are drawn around the data's thresholds (normal,
mean 2.3, SD 1.2 on the latent scale; domain offsets SD 0.2; fixed seed), so that the mix of
categories and tails is like the data's. The median of ``--repeats`` timings of ``--calls`` calls each is printed.

Usage::

    python benchmarks/gradient.py
    python benchmarks/gradient.py --quick
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np


def median_ms(fn, calls: int, repeats: int) -> float:
    """Median over ``repeats`` of the mean time of ``calls`` calls of ``fn``, in ms.

    Examples
    --------
    >>> median_ms(lambda: None, 10, 3) < 1.0
    True
    """
    fn()
    out = []
    for _ in range(repeats):
        t = time.perf_counter()
        for _ in range(calls):
            fn()
        out.append((time.perf_counter() - t) / calls * 1e3)
    return float(np.median(out))


def main(argv=None) -> int:
    sys.path.insert(0, str(Path(__file__).parent))
    import national
    import pytensor
    import pytensor.tensor as pt

    from pyramid.models.builder import build
    from pyramid.models.compiled import compile_model
    from pyramid.models.ordinal_op import (
        _logp_kernel,
        _value_and_partials,
        ordinal_logp_fused,
    )
    from pyramid.specs import load_priors

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--calls", type=int, default=100)
    p.add_argument("--repeats", type=int, default=5)
    args = p.parse_args(argv)

    md = national.domains_design(national.QUICK if args.quick else national.NATIONAL)
    # int32, as PyMC stores integer data (pm.Data)
    y = md.y.astype("int32")
    row, domain = md.rating_row.astype("int32"), md.rating_domain.astype("int32")
    rng = np.random.default_rng(2017)
    eta = rng.normal(2.3, 1.2, md.n_rows)  # per row; the domain offsets small
    offset = rng.normal(0.0, 0.2, int(domain.max()) + 1)
    cuts = np.array([-0.6, 1.4, 3.4, 5.4])
    out = np.empty(len(y))
    k = {d: median_ms(lambda d=d: _logp_kernel(y, eta, cuts, row, offset, domain, out, d),
                      args.calls, args.repeats)
         for d in (True, False)}
    d_lo, d_hi = np.empty(len(y)), np.empty(len(y))
    k["vectorised"] = median_ms(
        lambda: _value_and_partials(y, eta, cuts, row, offset, domain, out, d_lo, d_hi),
        args.calls, args.repeats)
    yv, ev, cv, ov = pt.ivector("y"), pt.dvector("eta"), pt.dvector("cuts"), pt.dvector("o")
    fns = {}
    for label, ll in (("gathered inside the operation",
                       ordinal_logp_fused(yv, ev, cv, row=row, offset=ov, domain=domain).sum()),
                      ("gathered by graph nodes first",
                       ordinal_logp_fused(yv, ev[row] + ov[domain], cv).sum())):
        fns[label] = pytensor.function([yv, ev, cv, ov], [ll, *pytensor.grad(ll, [ev, cv, ov])],
                                       mode="NUMBA")
    op_ms = {label: median_ms(lambda f=f: f(y, eta, cuts, offset), args.calls, args.repeats)
             for label, f in fns.items()}
    # at the model's initial point without jitter (effects at zero, thresholds from the data's
    # category proportions), where the ratings' bounds lie as at a fitted point: a jittered
    # start (uniform(-1, 1) on every unconstrained value, 18,000 observation effects included)
    # puts many bounds beyond the vectorised pass's sqrt(32) SDs
    built = build(md, load_priors("default"))
    cm = compile_model(built.model, jitter=False, initvals=built.initvals)
    x = cm.initial_point(1)
    model_ms = median_ms(lambda: cm.logp_dlogp(x), args.calls, args.repeats)

    print(f"{len(y)} ratings, {cm.n_dim} parameters; median of {args.repeats} x {args.calls} calls")
    print(f"kernel, vectorised, log-probabilities and partial derivatives: "
          f"{k['vectorised']:.2f} ms")
    print(f"kernel, one rating at a time, log-probabilities only: direct difference "
          f"{k[True]:.2f} ms ({k[True] / k['vectorised']:.2f}x the vectorised), log-space "
          f"form {k[False]:.2f} ms ({k[False] / k[True]:.2f}x the direct)")
    for label, ms in op_ms.items():
        print(f"fused likelihood with its gradient (PyTensor, numba), {label}: {ms:.2f} ms")
    print(f"whole model, log density and gradient (as nutpie calls it): {model_ms:.2f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
