"""A made-up project shaped unlike RSW 2017, for the docs and the tests of studies.

:func:`future_project` builds the kind of spreadsheet an evaluator of a new innovation project
might hand over: the evaluator's own id columns (``Observation ID``, ``Practitioner``,
``Team``, ``Local Authority``), two waves with some practitioners seen at both, ratings 1-7 on
seven domains whose names have spaces and capitals, a three-level practice model, a numeric
caseload and a binary team-level factor (reflective supervision). The data are simulated with
known effects (:data:`FUTURE_EFFECTS`): nothing in them is a finding about real practice.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pyramid.errors import InputError

__all__ = ["future_project", "FUTURE_DOMAINS", "FUTURE_EFFECTS"]

#: The seven rated domains of the made-up project, as its spreadsheet names them.
FUTURE_DOMAINS: tuple[str, ...] = (
    "Empathy", "Collaboration", "Purposefulness", "Clarity About Concerns", "Child Focus",
    "Use of Authority", "Evocation",
)

#: True effects of the made-up project on the latent 1-7 score (score points).
FUTURE_EFFECTS: dict[str, float] = {
    "intercept": 3.6,           # baseline, usual practice, no supervision, caseload 20
    "wave[follow_up]": 0.3,
    "model[signs_of_safety]": 0.4,
    "model[systemic]": 0.7,
    "supervision": 0.5,
    "caseload": -0.2,           # per 10 cases
}


def future_project(seed: int = 7, *, authorities: int = 4, teams: int = 4,
                   practitioners: int = 4, follow_up: float = 0.6) -> pd.DataFrame:
    """The made-up project's data, as the evaluator's spreadsheet holds them.

    Parameters
    ----------
    seed : int, default 7
        Random seed.
    authorities, teams, practitioners : int
        Local authorities, teams per authority, practitioners per team (each >= 1;
        ``authorities * teams >= 3`` so that every practice model occurs).
    follow_up : float, default 0.6
        Share of practitioners observed again at follow-up (the others only at baseline).

    Returns
    -------
    pandas.DataFrame
        One row per observation: ``Observation ID``, ``Practitioner``, ``Team``, ``Local
        Authority``, ``Wave`` (``Baseline``, ``Follow-up``), ``Practice Model`` (``Usual``,
        ``Signs of Safety``, ``Systemic``; one per team), ``Reflective Supervision`` (``Yes``
        / ``No``, one per team), ``Caseload`` (cases, per observation), the seven domains of
        :data:`FUTURE_DOMAINS` (whole numbers 1-7, a few missing) and ``Notes``.

    Examples
    --------
    >>> df = future_project()
    >>> len(df), df["Wave"].value_counts().to_dict()
    (106, {'Baseline': 64, 'Follow-up': 42})
    >>> int(df[list(FUTURE_DOMAINS)].min().min()), int(df[list(FUTURE_DOMAINS)].max().max())
    (1, 7)
    """
    for name, v in (("authorities", authorities), ("teams", teams),
                    ("practitioners", practitioners)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise InputError(f"{name} must be a whole number >= 1, got {v!r}")
    if authorities * teams < 3:
        raise InputError("authorities * teams must be at least 3 (one team per practice model)")
    if not 0 <= follow_up <= 1:
        raise InputError(f"follow_up must be a share in [0, 1], got {follow_up!r}")
    rng = np.random.default_rng(seed)
    names = ["North Shire", "East Borough", "West Vale", "South Downs", "Mid Fen", "Old Port"]
    la = [names[i] if i < len(names) else f"Authority {i + 1}" for i in range(authorities)]
    n_t = authorities * teams
    team_ids = [f"{la[a][:1]}{la[a].split()[1][:1]}-Team {t + 1}" for a in range(authorities)
                for t in range(teams)]
    team_la = np.repeat(np.arange(authorities), teams)
    models = np.array(["Usual", "Signs of Safety", "Systemic"])
    team_model = rng.permutation(np.resize(np.arange(3), n_t))
    team_sup = (rng.random(n_t) < 0.5).astype(int)
    r_la = rng.normal(0, 0.15, authorities)
    r_team = rng.normal(0, 0.2, n_t)
    rows = []
    pid = 0
    for t in range(n_t):
        for _ in range(practitioners):
            pid += 1
            r_p = rng.normal(0, 0.3)
            waves = [0, 1] if rng.random() < follow_up else [0]
            for w in waves:
                caseload = float(max(4, round(rng.normal(20, 6))))
                eff = FUTURE_EFFECTS
                eta = (eff["intercept"] + eff["wave[follow_up]"] * w
                       + (0.0, eff["model[signs_of_safety]"], eff["model[systemic]"])[
                           team_model[t]]
                       + eff["supervision"] * team_sup[t]
                       + eff["caseload"] * (caseload - 20) / 10
                       + r_la[team_la[t]] + r_team[t] + r_p + rng.normal(0, 0.25))
                z = eta + rng.normal(0, 0.6, len(FUTURE_DOMAINS)) + np.linspace(
                    0.3, -0.3, len(FUTURE_DOMAINS))
                scores = np.clip(np.floor(z + 0.5), 1, 7)
                rows.append({
                    "Practitioner": f"P{pid:03d}", "Team": team_ids[t],
                    "Local Authority": la[team_la[t]],
                    "Wave": ("Baseline", "Follow-up")[w],
                    "Practice Model": models[team_model[t]],
                    "Reflective Supervision": ("No", "Yes")[team_sup[t]],
                    "Caseload": caseload,
                    **{d: float(s) for d, s in zip(FUTURE_DOMAINS, scores, strict=True)},
                })
    df = pd.DataFrame(rows)
    df = df.sort_values(["Wave", "Practitioner"], kind="stable").reset_index(drop=True)
    df.insert(0, "Observation ID", [f"OBS-{i + 1:04d}" for i in range(len(df))])
    # a few ratings not given (the coder could not rate that domain)
    miss = rng.random((len(df), len(FUTURE_DOMAINS))) < 0.03
    for j, d in enumerate(FUTURE_DOMAINS):
        df.loc[miss[:, j], d] = np.nan
        df[d] = df[d].astype("Int64")
    df["Notes"] = ""
    return df
