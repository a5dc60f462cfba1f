"""The HTML report (pyramid.report): small-cell suppression, self-containment, the CLI.

Structural tests check the suppression on hand-made frames and against a brute-force
enumeration of what a reader could work out; one small fit (simulated data with a unit of 3
workers, 2 x 100 draws: enough to render every section, not to estimate anything) feeds the
report, the no-network check and the CLI.
"""

from __future__ import annotations

import base64
import itertools
import warnings
from html.parser import HTMLParser

import numpy as np
import pandas as pd
import pytest

from pyramid.errors import InputError
from pyramid.report import data_tables, protect, report


# ---------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------
class _Parsed(HTMLParser):
    """Every tag with its attributes, and the tables as lists of rows of cell texts."""

    def __init__(self, text: str):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict]] = []
        self.tables: list[list[list[str]]] = []
        self._cell: list[str] | None = None
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self.tables[-1][-1].append("".join(self._cell).strip())
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)

    def table_with(self, *header: str) -> list[list[str]]:
        """The first table whose header row starts with the columns ``header``."""
        for t in self.tables:
            if t and tuple(t[0][:len(header)]) == header:
                return t
        raise AssertionError(f"no table whose columns start with {header!r}")


def _frame(units: dict[str, tuple[str, int]], skill_of=lambda u, i: 3) -> pd.DataFrame:
    """One observation per worker: unit -> (authority, number of workers)."""
    return pd.DataFrame([
        {"observation": f"{u}-{i}", "worker": f"{u}-{i}", "unit": u, "authority": a,
         "training": "none", "empathy": skill_of(u, i)}
        for u, (a, n) in units.items() for i in range(n)
    ])


# ---------------------------------------------------------------------------------------------
# protect: secondary suppression
# ---------------------------------------------------------------------------------------------
def test_protect_hides_a_partner_so_the_small_cell_cannot_be_subtracted():
    p, s = protect({"all": 12, "a": 3, "b": 9}, [("all", ["a", "b"])])
    assert p == {"a"} and s == {"b"}


def test_protect_hides_more_where_the_hidden_parts_add_up_to_a_small_number():
    # 12 = 1 + 1 + 10: "<5", "<5", 10 beside 12 would say the two small cells hold 2 together
    p, s = protect({"all": 12, "a": 1, "b": 1, "c": 10}, [("all", ["a", "b", "c"])])
    assert p == {"a", "b"} and s == {"c"}


def test_protect_uses_the_bounds_a_reader_knows():
    # 11 = 1 + 5 + 5, hiding the 1 and one 5: a reader knows "<5" is at least 1 and "[c]" at
    # least 5, and together they are 11 - 5 = 6: both pinned, so the other 5 must go too; and
    # then 11 = (1 to 4) + (5 or more) + (5 or more) still pins the "<5" at 1: the total goes
    sizes = {"all": 11, "a": 1, "b": 5, "c": 5}
    p, s = protect(sizes, [("all", ["a", "b", "c"])])
    assert p == {"a"} and s == {"b", "c", "all"}
    p2, s2 = protect(sizes, [("all", ["a", "b", "c"])], bounded=False)
    assert s2 == {"b"}  # without bounds, one partner is enough


def test_protect_min_cell_1_turns_suppression_off():
    assert protect({"all": 4, "a": 1, "b": 3}, [("all", ["a", "b"])], 1) == (set(), set())


@pytest.mark.parametrize("bad", [0, 2, -5, 2.5, "5", True])
def test_protect_refuses_bad_min_cell(bad):
    with pytest.raises(InputError, match="min_cell must be"):
        protect({"a": 3}, [], bad)


def test_protect_refuses_relations_on_unknown_cells():
    with pytest.raises(InputError, match="without a size"):
        protect({"all": 3}, [("all", ["x"])])


def _feasible(leaves, hidden, primary, sizes, m, upper=20):
    """Every assignment of the four unit counts a reader cannot rule out (brute force).

    The hierarchy is all -> (A: u1, u2), (B: u3, u4). A printed cell must equal its value; a
    cell shown "<m" is 1 to m-1; a secondary "[c]" is m or more (what protect assumes the
    reader knows; weaker knowledge would leave more assignments).
    """
    grid = np.array(list(itertools.product(range(upper + 1), repeat=4)))
    value = {"u1": grid[:, 0], "u2": grid[:, 1], "u3": grid[:, 2], "u4": grid[:, 3]}
    value["A"] = value["u1"] + value["u2"]
    value["B"] = value["u3"] + value["u4"]
    value["all"] = value["A"] + value["B"]
    ok = np.ones(len(grid), dtype=bool)
    for k, v in value.items():
        if k not in hidden:
            ok &= v == sizes[k]
        elif k in primary:
            ok &= (v >= 1) & (v <= m - 1)
        else:
            ok &= v >= m
    return {k: set(v[ok].tolist()) for k, v in value.items()}


@pytest.mark.parametrize("seed", range(12))
def test_protect_leaves_no_hidden_count_recoverable(seed):
    rng = np.random.default_rng(seed)
    m = 5
    leaves = dict(zip(["u1", "u2", "u3", "u4"], rng.choice([0, 1, 2, 3, 4, 6, 7, 9], 4).tolist(),
                      strict=True))
    sizes = {**leaves, "A": leaves["u1"] + leaves["u2"], "B": leaves["u3"] + leaves["u4"]}
    sizes["all"] = sizes["A"] + sizes["B"]
    rel = [("all", ["A", "B"]), ("A", ["u1", "u2"]), ("B", ["u3", "u4"])]
    p, s = protect(sizes, rel, m)
    hidden = p | s
    assert {k for k, n in sizes.items() if 0 < n < m} <= p
    feasible = _feasible(leaves, hidden, p, sizes, m)
    for k in hidden:
        assert sizes[k] in feasible[k]  # the brute force is consistent with the truth
        assert len(feasible[k]) >= 2, (sizes, sorted(p), sorted(s), k, feasible[k])


# ---------------------------------------------------------------------------------------------
# data_tables: a unit of 3 workers
# ---------------------------------------------------------------------------------------------
UNITS = {"u1": ("A", 3), "u2": ("A", 6), "u3": ("B", 6), "u4": ("B", 7)}


def test_data_tables_suppress_a_unit_of_three_workers():
    df = _frame(UNITS, skill_of=lambda u, i: 1 + (i % 5))
    t = data_tables(df)
    units = t.tables["units"].set_index("unit")
    assert units.loc["u1", "workers"] == "<5" and units.loc["u1", "observations"] == "<5"
    assert units.loc["u1", "mean skill"] == "[<5]" and units.loc["u1", "SD"] == "[<5]"
    # the 3 cannot be recovered as authority A's 9 minus u2: u2 is suppressed too
    assert units.loc["u2", "workers"] == "[c]" and units.loc["u2", "mean skill"] == "[c]"
    auth = t.tables["authorities"].set_index("authority")
    assert auth.loc["A", "workers"] == "9"
    # authority B's units are large: printed, with their means (checked against pandas)
    v = df[df.unit == "u4"]["empathy"].astype(float)
    assert units.loc["u4", "workers"] == "7"
    assert units.loc["u4", "mean skill"] == f"{v.mean():.2f}"
    assert units.loc["u4", "SD"] == f"{v.std(ddof=1):.2f}"
    assert t.counts["primary"] >= 2 and t.counts["secondary"] >= 2
    assert t.counts["means_withheld"] >= 1
    assert "3" not in units.loc["u1"].tolist()
    s = t.statement()
    assert "shown as <5" in s and f"{t.counts['primary']} were suppressed as small" in s


def test_data_tables_min_cell_is_configurable():
    df = _frame(UNITS)
    units = data_tables(df, min_cell=1).tables["units"].set_index("unit")
    assert units.loc["u1", "workers"] == "3" and units.loc["u1", "mean skill"] == "3.00"
    assert "turned off" in data_tables(df, min_cell=1).statement()
    units = data_tables(df, min_cell=7).tables["units"].set_index("unit")
    assert units.loc["u2", "workers"] == "<7" and units.loc["u3", "workers"] == "<7"
    assert units.loc["u4", "workers"] == "[c]"  # 7, but B's 13 minus it would give u3's 6
    with pytest.raises(InputError, match="min_cell must be"):
        data_tables(df, min_cell=2)


def test_data_tables_pseudonymise():
    t = data_tables(_frame(UNITS), pseudonymise=True)
    assert t.tables["units"]["unit"].tolist() == ["Unit 1.1", "Unit 1.2", "Unit 2.1", "Unit 2.2"]
    assert t.tables["authorities"]["authority"].tolist() == ["Authority 1", "Authority 2", "all"]


def test_data_tables_refuse_bad_data():
    with pytest.raises(InputError, match="DataFrame"):
        data_tables([1, 2, 3])


# ---------------------------------------------------------------------------------------------
# a small fit on simulated data with a unit of 3 workers
# ---------------------------------------------------------------------------------------------
SMALL_UNIT = "A01-U01"


@pytest.fixture(scope="module")
def small_fit():
    import pyramid as pyr
    from pyramid.errors import DataWarning

    sim = pyr.simulate((2, 2, 6, 1), seed=3, mix={"discussion_observed": 1.0})
    d = sim.data
    drop = d.loc[d["unit"] == SMALL_UNIT, "worker"].unique()[3:]
    d = d[~d["worker"].isin(drop)].reset_index(drop=True)
    assert d.loc[d["unit"] == SMALL_UNIT, "worker"].nunique() == 3
    # the validator's design notes (one observation per worker) are tested in test_validate
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        return pyr.fit(d, model="skill", draws=100, tune=100, chains=2, random_seed=1,
                       progressbar=False, verbose=False)


@pytest.fixture(scope="module")
def written(small_fit, tmp_path_factory):
    out = tmp_path_factory.mktemp("report") / "report.html"
    rep = report(small_fit, out)
    return rep, out


def test_report_is_self_contained(written):
    rep, out = written
    text = out.read_text(encoding="utf-8")
    assert text == rep.html and rep.path == out
    parsed = _Parsed(text)
    tags = [t for t, _ in parsed.tags]
    assert "script" not in tags and "link" not in tags and "iframe" not in tags
    refs = [(t, k, v) for t, a in parsed.tags for k, v in a.items() if k in ("src", "href")]
    assert refs, "the parser found no src/href at all: the check below would be vacuous"
    for tag, k, v in refs:
        assert not v.lower().startswith(("http:", "https:", "//", "ftp:")), (tag, k, v)
        if k == "href":
            assert v.startswith("#"), (tag, v)  # links stay inside the file
    # no URL anywhere in the text either (e.g. in CSS url(...) or @import)
    assert "http://" not in text and "https://" not in text and "url(" not in text
    assert "@import" not in text
    csp = [a for t, a in parsed.tags if t == "meta" and a.get("http-equiv")]
    assert csp and "default-src 'none'" in csp[0]["content"]


def test_report_embeds_the_figure(written):
    rep, _ = written
    imgs = [a["src"] for t, a in _Parsed(rep.html).tags if t == "img"]
    assert len(imgs) == 1
    prefix = "data:image/png;base64,"
    assert imgs[0].startswith(prefix)
    png = base64.b64decode(imgs[0][len(prefix):])
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 20_000


def test_report_suppresses_the_unit_of_three_workers(written, small_fit):
    rep, _ = written
    parsed = _Parsed(rep.html)
    units = {r[1]: r for r in parsed.table_with("authority", "unit")[1:]}
    assert set(units) == set(small_fit.data["unit"].astype(str))
    assert units[SMALL_UNIT][2:] == ["<5", "<5", "[<5]", "[<5]"]
    # its sibling unit is hidden too, so authority A01's total cannot give the 3 away
    assert units["A01-U02"][2:] == ["[c]", "[c]", "[c]", "[c]"]
    assert all(v not in ("<5", "[c]") for v in units["A02-U01"][2:])
    c = rep.data.counts
    assert c["primary"] >= 2 and c["secondary"] >= 2
    assert f"{c['primary']} were suppressed as small and {c['secondary']} to protect them" in \
        " ".join(rep.html.split())


def test_report_sections(written, small_fit):
    rep, _ = written
    text = " ".join(rep.html.split())
    for section in ("1. The data", "2. The model and its priors", "3. Diagnostics",
                    "4. Comparisons", "5. Figure 4 with the model", "6. Caveats"):
        assert section in text
    assert rep.origin == "simulated" and "SIMULATED data" in text
    assert "observational" in text
    # the comparison table is pyramid.compare's, one row a contrast
    cmp = _Parsed(rep.html).table_with("contrast")
    assert len(cmp) - 1 == len(rep.comparisons) > 0
    # the priors are the prior set's, in words: every class the fit used
    prior_rows = _Parsed(rep.html).table_with("parameter")
    assert {r[0] for r in prior_rows[1:]} >= {"intercept", "sigma", "clinician", "sd_unit"}
    # every failed check shows its advice
    failed = small_fit.diagnostics[~small_fit.diagnostics["passed"].astype(bool)]
    for advice in failed["advice"]:
        assert str(advice) in text


def test_report_escapes_user_strings(small_fit):
    rep = report(small_fit, title='<script>alert("x")</script> & <b>co</b>',
                 data_label="reconstructed", pseudonymise=True)
    assert "<script>" not in rep.html and "&lt;script&gt;" in rep.html
    assert "&amp; &lt;b&gt;co&lt;/b&gt;" in rep.html
    assert rep.path is None and rep.origin == "reconstructed" and "RECONSTRUCTION" in rep.html
    assert SMALL_UNIT not in rep.html and "Unit 1.1" in rep.html


def test_report_refuses_bad_input(small_fit, tmp_path):
    with pytest.raises(InputError, match="FitResult"):
        report(pd.DataFrame({"a": [1]}))
    with pytest.raises(InputError, match=r"\.html"):
        report(small_fit, tmp_path / "r.pdf")
    with pytest.raises(InputError, match="data_label"):
        report(small_fit, data_label="real")
    with pytest.raises(InputError, match="min_cell"):
        report(small_fit, min_cell=0)


def test_cli_report(small_fit, tmp_path, capsys):
    from pyramid.cli import main

    nc = tmp_path / "fit.nc"
    small_fit.save(nc)
    out = tmp_path / "out" / "report.html"
    assert main(["report", str(nc), "--out", str(out), "--title", "My project"]) == 0
    cap = capsys.readouterr()
    assert "wrote the report" in cap.err + cap.out
    text = out.read_text(encoding="utf-8")
    assert "<title>My project</title>" in text and "data:image/png;base64," in text
    assert main(["report", str(nc), "--out", str(tmp_path / "r.txt")]) == 2
    assert ".html" in capsys.readouterr().err
    assert main(["report", str(tmp_path / "missing.nc"), "--out", str(out)]) == 2
    assert "no results file" in capsys.readouterr().err
    assert main(["report", str(nc), "--out", str(out), "--min-cell", "2"]) == 2
    assert "min_cell" in capsys.readouterr().err
    assert main(["report", "--help"]) == 0


def test_report_shows_effect_sizes_and_the_variance_partition(written):
    """Issue 20: the report's comparisons carry effect sizes in the EEF convention, and the
    variance partition of the fitted and the unconditional model."""
    rep, _ = written
    text = rep.html
    assert "Education Endowment Foundation" in text and "P(ES&gt;0.2)" in text
    assert rep.comparisons["es"].notna().all()
    assert "How the variance splits" in text and "unconditional model" in text
    assert "intraclass" in text
