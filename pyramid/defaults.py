"""The defaults every entry point reads: one model and one interval probability for the API,
the command line, the report and the docs.

Each public function that takes ``model`` or ``ci_prob`` uses ``None`` for "the default" and
resolves it here, and each command's option shows the same value, so ``pyramid fit``,
``pyramid compare``, ``pyramid report``, ``pyramid compare-project`` and their Python
functions can never disagree (issue 22: ``fit`` printed 90 % intervals and ``compare`` 95 %;
``fit`` defaulted to the ``pyramid`` model and ``compare-project`` to ``skill``).

Why these values (docs/user_guide, "Defaults"):

- :data:`DEFAULT_MODEL` ``"pyramid"``: the path model uses every row. A row whose case
  discussion or clinician was not observed keeps its skill score, with discussion and
  clinician integrated out, where ``skill`` and ``domains`` leave it out (on RSW 2017 they can
  use 22 of the 72 rows, ``pyramid`` all 72), and it estimates the report's pyramid itself:
  the direct and indirect effects of clinicians and of the programme.
- :data:`DEFAULT_CI_PROB` ``0.95``: the report tests at the 5 % level and prints 95 %
  confidence intervals; ``pyramid reanalyse`` and the demo set the posterior comparisons
  beside those tests, so the same width lets an evaluator read them together.
"""

from __future__ import annotations

from typing import Any

__all__ = ["DEFAULT_CI_PROB", "DEFAULT_MODEL", "DEFAULT_PRIORS", "PLANNING_MODEL", "ci_prob",
           "model"]

#: The model fitted when none is named (``fit``, ``compare-project``, ``priors check``, the demo).
DEFAULT_MODEL = "pyramid"

#: The model of the many-fit tools, design analysis (``pyramid design``) and simulation-based
#: calibration (``pyramid calibrate``): ``skill``. They fit it hundreds of times (it samples
#: fastest), its effects are in skill points like the ``pyramid`` model's, and a planned study
#: records every unit's discussion, so ``skill`` leaves no row out. ``--model pyramid`` plans
#: or calibrates the path model itself.
PLANNING_MODEL = "skill"

#: The probability of every posterior interval when none is given.
DEFAULT_CI_PROB = 0.95

#: The prior set used when none is named.
DEFAULT_PRIORS = "default"


def ci_prob(value: Any = None) -> float:
    """``value``, or :data:`DEFAULT_CI_PROB` for ``None``, checked to lie in (0, 1].

    Examples
    --------
    >>> ci_prob(), ci_prob(0.9)
    (0.95, 0.9)
    >>> ci_prob(1.5)
    Traceback (most recent call last):
    ...
    pyramid.errors.InputError: ci_prob must be in (0, 1], got 1.5
    """
    from pyramid.checks import check_prob

    return check_prob("ci_prob", DEFAULT_CI_PROB if value is None else value)


def model(value: Any = None) -> Any:
    """``value``, or :data:`DEFAULT_MODEL` for ``None``.

    Examples
    --------
    >>> model(), model("skill")
    ('pyramid', 'skill')
    """
    return DEFAULT_MODEL if value is None else value
