"""chattn.analysis.stats against scipy: the t distribution, the paired t, Holm, and the table."""
import math
import random

import pytest

scipy_stats = pytest.importorskip("scipy.stats")   # a test dependency (requirements-test.txt)

from chattn.analysis import stats
from chattn.analysis.stats import (ComparisonTable, compare, holm, incomplete_beta, paired_differences,
                                   paired_t, t_cdf, t_quantile, t_sf)

DFS = [0.5, 1, 2, 2.5, 3, 4, 5, 9, 30, 100, 1000]
TS = [-1e4, -40, -5, -2.3, -1, -0.1, -1e-8, 0, 1e-8, 0.3, 1, 2, 4.3, 12.7, 100, 1e4]


def test_scipy_is_not_needed_by_the_package():
    source = open(stats.__file__).read()
    assert "scipy" not in source.replace("no scipy", "")


def exact_cdf(t, df):
    """Closed forms where they exist (scipy.stats.t.cdf(-1e-8, 1) is off by 1.6e-9: its Cauchy
    is exact, 0.5 + atan(t)/pi), else scipy."""
    if df == 1:
        return scipy_stats.cauchy.cdf(t)
    if df == 2:
        return 0.5 + t / (2 * math.sqrt(2 + t * t))
    return scipy_stats.t.cdf(t, df)


@pytest.mark.parametrize("df", DFS)
def test_t_cdf_matches_scipy(df):
    for t in TS:
        assert t_cdf(t, df) == pytest.approx(exact_cdf(t, df), abs=1e-10), t
        # the upper tail keeps its relative precision far out
        if abs(t) > 1:
            assert t_sf(t, df) == pytest.approx(scipy_stats.t.sf(t, df), rel=1e-9, abs=1e-300), t


@pytest.mark.parametrize("df", DFS)
def test_t_quantile_matches_scipy(df):
    for p in [1e-6, 0.001, 0.025, 0.3, 0.5, 0.7, 0.975, 0.995, 0.999999]:
        expected = scipy_stats.t.ppf(p, df)
        assert t_quantile(p, df) == pytest.approx(expected, abs=1e-10 * max(1.0, abs(expected))), p


def test_t_quantile_inverts_t_cdf():
    for df in (1, 2, 7):
        for t in (-3.0, -0.5, 0.25, 2.0, 9.0):
            assert t_quantile(t_cdf(t, df), df) == pytest.approx(t, abs=1e-9)


def test_incomplete_beta_matches_scipy():
    special = pytest.importorskip("scipy.special")
    rng = random.Random(0)
    for _ in range(200):
        a, b, x = rng.uniform(0.1, 50), rng.uniform(0.1, 50), rng.random()
        assert incomplete_beta(a, b, x) == pytest.approx(special.betainc(a, b, x), abs=1e-10)
    assert incomplete_beta(2, 3, 0) == 0.0 and incomplete_beta(2, 3, 1) == 1.0


def test_t_extremes():
    assert t_cdf(math.inf, 3) == 1.0 and t_cdf(-math.inf, 3) == 0.0
    assert t_sf(1e200, 2) == 0.0
    assert t_quantile(0.5, 4) == 0.0


def test_paired_differences_use_only_common_seeds():
    seeds, d = paired_differences({0: 93.0, 1: 94.0, 2: 92.0}, {2: 92.5, 0: 92.0, 3: 91.0})
    assert seeds == (0, 2)
    assert d == pytest.approx((1.0, -0.5))


def test_paired_t_matches_scipy():
    rng = random.Random(1)
    for n in (2, 3, 5, 8):
        seeds = list(range(n))
        a = {s: rng.gauss(93, 1) for s in seeds}
        b = {s: a[s] - rng.gauss(0.5, 0.7) for s in seeds}
        c = paired_t(a, b)
        expected = scipy_stats.ttest_rel([a[s] for s in seeds], [b[s] for s in seeds])
        assert (c.n, c.df) == (n, n - 1)
        assert c.t == pytest.approx(expected.statistic, rel=1e-10)
        assert c.p == pytest.approx(expected.pvalue, rel=1e-9)
        d = [a[s] - b[s] for s in seeds]
        low, high = scipy_stats.t.interval(0.95, n - 1, loc=sum(d) / n, scale=scipy_stats.sem(d))
        assert c.ci == pytest.approx((low, high), abs=1e-9)
        assert c.std == pytest.approx(scipy_stats.tstd(d), rel=1e-12)


def test_paired_t_sees_what_an_unpaired_test_misses():
    # the seed effect is large and shared: paired, the difference is clear; unpaired, it is not
    plain = {0: 92.0, 1: 95.0, 2: 89.0}
    module = {0: 93.0, 1: 96.1, 2: 89.9}
    assert paired_t(module, plain).p < 0.01
    assert scipy_stats.ttest_ind(list(module.values()), list(plain.values())).pvalue > 0.5


def test_paired_t_edge_cases_are_explained_not_nan():
    none = paired_t({0: 1.0}, {1: 1.0})
    assert none.n == 0 and none.mean is None and none.t is None and "no seed" in none.why
    one = paired_t({0: 93.0, 1: 94.0}, {0: 92.0})
    assert one.n == 1 and one.mean == 1.0 and one.t is None and one.p is None and one.why
    flat = paired_t({0: 93.5, 1: 94.5, 2: 92.5}, {0: 92.9, 1: 93.9, 2: 91.9})   # Δ = 0.6 at every seed
    assert flat.t is None and flat.p is None and flat.std == 0.0 and "undefined" in flat.why
    assert flat.mean == pytest.approx(0.6)


def test_holm_matches_the_definition_and_statsmodels_values():
    # worked example: sorted 0.001, 0.01, 0.04, 0.3 -> 4*0.001, 3*0.01, max(0.03, 2*0.04), max(0.08, 0.3)
    assert holm([0.04, 0.001, 0.3, 0.01]) == pytest.approx([0.08, 0.004, 0.3, 0.03])
    assert holm([0.5, 0.6]) == [1.0, 1.0]                 # capped at 1
    assert holm([]) == []
    rng = random.Random(2)
    for m in (1, 2, 5, 11):
        ps = [rng.random() ** 3 for _ in range(m)]
        adjusted = holm(ps)
        order = sorted(range(m), key=ps.__getitem__)
        assert all(adjusted[i] >= ps[i] for i in range(m))
        assert all(adjusted[order[j]] <= adjusted[order[j + 1]] for j in range(m - 1))   # monotone
        assert all(adjusted[i] <= 1 for i in range(m))
        # scipy's false_discovery_control has no Holm; compare with the textbook formula
        for j, i in enumerate(order):
            assert adjusted[i] == pytest.approx(min(1, max((m - l) * ps[order[l]] for l in range(j + 1))))


@pytest.mark.parametrize("bad, error", [("0.1", TypeError), ([0.1, 1.5], ValueError),
                                        ([0.1, float("nan")], ValueError), ([True], TypeError)])
def test_holm_rejects_bad_input(bad, error):
    with pytest.raises(error, match="p_values"):
        holm(bad)


def test_bad_input_names_the_argument():
    with pytest.raises(ValueError, match="df"):
        t_cdf(1.0, 0)
    with pytest.raises(ValueError, match="p must be strictly between"):
        t_quantile(1.0, 3)
    with pytest.raises(TypeError, match="values"):
        paired_t([1, 2], {0: 1.0})
    with pytest.raises(TypeError, match=r"reference\[1\]"):
        paired_t({0: 1.0}, {1: "a"})
    with pytest.raises(ValueError, match="confidence"):
        paired_t({0: 1.0}, {0: 1.0}, confidence=95)
    with pytest.raises(ValueError, match="reference 'plain' is not among"):
        compare({"se": {0: 1.0}}, "plain")
    with pytest.raises(ValueError, match=r"runs\['se'\] has no run"):
        compare({"plain": {0: 1.0}, "se": {}}, "plain")
    with pytest.raises(TypeError, match="reference must be a label"):
        compare({"plain": {0: 1.0}}, None)


PLAIN = {0: 92.38, 1: 92.94, 2: 92.56}
RUNS = {"none": PLAIN,
        "gsop": {0: 95.76, 1: 96.69, 2: 95.50},        # +3.38, +3.75, +2.94: separates
        "se": {0: 92.00, 1: 93.50, 2: 92.40},          # noise
        "eca": {0: 93.10, 1: 93.40},                   # two seeds: 1 df
        "gct": {0: 93.0}}                               # one seed: untestable


def table() -> ComparisonTable:
    return compare(RUNS, "none", {"none": 57064, "gsop": 123032}, what="module", title="photo patches")


def test_table_rows_and_holm_over_the_testable_rows():
    t = table()
    assert [r.label for r in t.rows] == ["none", "gsop", "se", "eca", "gct"]
    assert t.reference.comparison is None
    testable = [t.row(n) for n in ("gsop", "se", "eca")]
    assert [r.holm_p for r in testable] == pytest.approx(holm([r.comparison.p for r in testable]))
    assert t.row("gct").holm_p is None
    assert t.row("gsop").comparison.differences == pytest.approx((3.38, 3.75, 2.94))
    assert t.row("se").std == pytest.approx(scipy_stats.tstd(list(RUNS["se"].values())))
    assert [r.label for r in t.separated()] == ["gsop"]
    with pytest.raises(KeyError, match="no row 'dia'"):
        t.row("dia")


def test_table_text_and_html():
    t = table()
    text, page = str(t), t._repr_html_()
    header = text.splitlines()[1]
    for column in ("module", "params", "mean ± std", "Δ", "95 % CI", "t", "df", "Holm"):
        assert column in header and column in page
    assert "123,032" in text and "+3.36 [" in text
    assert "nan" not in text.lower() and "inf" not in text.lower()
    assert "nan" not in page.lower() and "<table" in page and "overflow-x:auto" in page
    assert "gct: one seed pair only" in text
    assert "eca: 2 seed pairs; seed 2 has a run on one side only (unpaired, left out)." in text     # missing seeds
    assert "gct: 1 seed pair; seeds 1, 2 have a run on one side only (unpaired, left out)." in text
    assert "gsop: 3 seed pairs" not in text
    assert max(len(line) for line in text.splitlines()[:7]) <= 90     # compact enough for a phone's box


def test_conclusions_are_generated_from_the_table():
    t = table()
    sentences = t.conclusions()
    gsop = t.row("gsop").comparison
    assert sentences[0].startswith("gsop is above none by +3.36 points")
    assert f"{gsop.ci[0]:+.2f} to {gsop.ci[1]:+.2f}" in sentences[0]
    assert f"Holm-adjusted p = {t.row('gsop').holm_p:.3f}" in sentences[0]
    assert any(s.startswith("No measurable difference from none") and "se (" in s and "eca (" in s
               for s in sentences)
    assert any(s.startswith("gct cannot be tested") for s in sentences)
    one_df = [s for s in sentences if "1 degree of freedom" in s]
    assert len(one_df) == 1 and "wide" in one_df[0] and "(eca)" in one_df[0] and "±12.7" in one_df[0]
    joined = " ".join(sentences).lower()
    assert "equal" not in joined.replace("not evidence that they are equal", "")
    assert "as accurate as" not in joined and "nan" not in joined
    # a stricter level moves gsop to "no measurable difference"
    strict = t.conclusions(alpha=1e-6)
    assert not strict[0].startswith("gsop is above")
    # between gsop's own p and its Holm-adjusted p: separate alone, not over the table (3 tested: gct cannot be)
    between = (gsop.p + t.row("gsop").holm_p) / 2
    alone = [s for s in t.conclusions(alpha=between) if s.startswith("Tested alone")]
    assert alone == [f"Tested alone, gsop would separate from none (p = {gsop.p:.3f}); over the 3 comparisons "
                     f"of this table, Holm's correction gives p = {t.row('gsop').holm_p:.3f}."]


def test_conclusions_without_two_seeds_say_nothing_about_one_df():
    t = compare({"a": {0: 1.0, 1: 2.0, 2: 3.5}, "b": {0: 1.5, 1: 2.1, 2: 3.4}}, "a")
    assert not any("degree of freedom" in s for s in t.conclusions())
    with pytest.raises(ValueError, match="alpha"):
        t.conclusions(alpha=0)


def test_docstring_examples():
    import doctest
    assert doctest.testmod(stats, verbose=False).failed == 0
