r"""One procedure for comparing trained configurations: seed-paired differences, Student's t and
Holm's correction. Pure functions on numbers (no torch, no scipy).

Every run of a seed shares its batch order and augmentation across configurations, so two
configurations are compared **in pairs**: for each seed :math:`i` that both have,

.. math::
    d_i = a_i - b_i, \qquad \bar d = \frac1n \sum_i d_i, \qquad
    s_d = \sqrt{\frac{1}{n-1} \sum_i (d_i - \bar d)^2},

with :math:`a` the configuration and :math:`b` the reference (Bouthillier et al., 2021). Under
the null hypothesis of no difference, :math:`t = \bar d / (s_d / \sqrt n)` follows Student's t on
:math:`n - 1` degrees of freedom; the 95 % confidence interval of the mean difference is
:math:`\bar d \pm t_{0.975,\,n-1}\, s_d / \sqrt n`, and the two-sided p is
:math:`P(|T_{n-1}| \ge |t|)`.

One table makes :math:`m` comparisons with one reference; **Holm's step-down correction**
(Holm, 1979) controls the chance of any false separation at :math:`\alpha`: with the p sorted,
:math:`p_{(1)} \le \dots \le p_{(m)}`, the adjusted p are

.. math::
    \tilde p_{(j)} = \min\Bigl(1,\ \max_{l \le j}\ (m - l + 1)\, p_{(l)}\Bigr).

Example::

    >>> from chattn.analysis.stats import paired_t, holm
    >>> c = paired_t({0: 95.0, 1: 96.0, 2: 95.5}, {0: 93.0, 1: 93.5, 2: 93.0})
    >>> round(c.mean, 3), c.df, round(c.t, 2)
    (2.333, 2, 14.0)
    >>> holm([0.01, 0.04, 0.03])
    [0.03, 0.06, 0.06]
"""
from __future__ import annotations

import html
import math
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

__all__ = ["incomplete_beta", "t_cdf", "t_sf", "t_quantile", "paired_differences", "paired_t",
           "PairedComparison", "holm", "Row", "ComparisonTable", "compare"]


# --- Student's t distribution, from the regularised incomplete beta function ----------------------

def _beta_fraction(a: float, b: float, x: float) -> float:
    """The continued fraction of :math:`I_x(a, b)` (modified Lentz; Numerical Recipes §6.4)."""
    tiny, eps = 1e-300, 1e-16
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1.0)
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 10_000):
        m2 = 2 * m
        for numerator in (m * (b - m) * x / ((a + m2 - 1) * (a + m2)),              # even step
                          -(a + m) * (a + b + m) * x / ((a + m2) * (a + m2 + 1))):  # odd step
            d = 1.0 + numerator * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + numerator / c
            c = c if abs(c) > tiny else tiny
            h *= d * c
        if abs(d * c - 1.0) < eps:
            return h
    raise ArithmeticError(f"incomplete beta: the continued fraction did not converge (a={a}, b={b}, x={x})")


def incomplete_beta(a: float, b: float, x: float) -> float:
    r"""The regularised incomplete beta function

    .. math::
        I_x(a, b) = \frac{1}{B(a, b)} \int_0^x u^{a-1} (1-u)^{b-1}\, du,

    by its continued fraction, evaluated where it converges fast (:math:`x < (a+1)/(a+b+2)`) and
    through :math:`I_x(a, b) = 1 - I_{1-x}(b, a)` elsewhere.

    Args:
        a: first shape parameter, > 0.
        b: second shape parameter, > 0.
        x: the upper limit, in [0, 1].
    """
    a, b, x = _real(a, "a"), _real(b, "b"), _real(x, "x")
    if a <= 0 or b <= 0:
        raise ValueError(f"a and b must be > 0, got a={a}, b={b}")
    if not 0.0 <= x <= 1.0:
        raise ValueError(f"x must be in [0, 1], got {x}")
    return _incomplete_beta(a, b, x, 1.0 - x)


def _incomplete_beta(a: float, b: float, x: float, y: float) -> float:
    """:math:`I_x(a, b)` with ``y = 1 - x`` given separately, exact where x is close to 1."""
    if x <= 0.0 or y <= 0.0:
        return 0.0 if x <= 0.0 else 1.0
    log_front = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log(y)
    if x < (a + 1.0) / (a + b + 2.0):
        return math.exp(log_front) * _beta_fraction(a, b, x) / a
    return 1.0 - math.exp(log_front) * _beta_fraction(b, a, y) / b


def t_sf(t: float, df: float) -> float:
    r"""Upper tail :math:`P(T_\nu > t)` of Student's t on :math:`\nu` = ``df`` degrees of freedom:
    :math:`\tfrac12 I_{\nu/(\nu+t^2)}(\nu/2, 1/2)` for :math:`t \ge 0`, by symmetry otherwise.
    Accurate in the far tail (small p keep their relative precision).

    Args:
        t: the statistic (any real number, ±inf included).
        df: degrees of freedom, > 0.
    """
    t, df = _real(t, "t", finite=False), _positive(df, "df")
    if math.isnan(t):
        raise ValueError("t must be a number, got nan")
    if math.isinf(t):
        return 0.0 if t > 0 else 1.0
    # P(T > |t|) = I_x(df/2, 1/2) / 2 at x = df / (df + t²); 1 - x = t² / (df + t²) kept exact
    t2 = t * t
    if math.isinf(t2):
        return 0.0 if t > 0 else 1.0
    tail = 0.5 * _incomplete_beta(df / 2.0, 0.5, df / (df + t2), t2 / (df + t2))
    return tail if t >= 0 else 1.0 - tail


def t_cdf(t: float, df: float) -> float:
    r"""Distribution function :math:`P(T_\nu \le t)` of Student's t on ``df`` degrees of freedom.

    Args:
        t: the statistic (any real number, ±inf included).
        df: degrees of freedom, > 0.
    """
    return t_sf(-_real(t, "t", finite=False), df)


def t_quantile(p: float, df: float) -> float:
    r"""The quantile :math:`t_{p,\nu}`, the t with :math:`P(T_\nu \le t) = p`: the inverse of
    :func:`t_cdf`, by bracketing and bisection to the last bit, then one Newton step.

    Args:
        p: probability, strictly between 0 and 1.
        df: degrees of freedom, > 0.
    """
    p, df = _real(p, "p"), _positive(df, "df")
    if not 0.0 < p < 1.0:
        raise ValueError(f"p must be strictly between 0 and 1, got {p}")
    if p == 0.5:
        return 0.0
    if p < 0.5:
        return -t_quantile(1.0 - p, df) if 1.0 - p < 1.0 else -math.inf
    upper = 1.0 - p                                           # find t with t_sf(t) = upper
    lo, hi = 0.0, 1.0
    while t_sf(hi, df) > upper:
        lo, hi = hi, hi * 2.0
        if hi > 1e300:
            return math.inf
    for _ in range(2000):
        mid = 0.5 * (lo + hi)
        if mid in (lo, hi):
            break
        lo, hi = (mid, hi) if t_sf(mid, df) > upper else (lo, mid)
    return 0.5 * (lo + hi)


# --- paired comparisons -------------------------------------------------------------------------

def paired_differences(values: Mapping, reference: Mapping) -> tuple[tuple, tuple[float, ...]]:
    """The seeds both ``values`` and ``reference`` have, sorted, and the differences
    ``values[seed] - reference[seed]`` at those seeds.

    Args:
        values: seed -> measurement of the configuration (e.g. test accuracy in %).
        reference: seed -> measurement of the reference, same unit.

    Example::

        >>> paired_differences({0: 93.0, 1: 94.0, 2: 92.0}, {0: 92.5, 2: 92.0, 3: 91.0})
        ((0, 2), (0.5, 0.0))
    """
    values, reference = _runs(values, "values"), _runs(reference, "reference")
    seeds = tuple(sorted(set(values) & set(reference)))
    return seeds, tuple(values[s] - reference[s] for s in seeds)


@dataclass(frozen=True)
class PairedComparison:
    """A configuration against a reference, paired by seed (see the module's docstring). Values
    that are undefined are ``None`` (never nan), and ``why`` says why. ``n`` pairs, ``df = n - 1``
    (0 without a pair)."""
    #: The seeds both have, sorted.
    seeds: tuple
    #: :math:`d_i`, configuration minus reference at each of those seeds.
    differences: tuple[float, ...]
    #: :math:`\bar d`; ``None`` without a pair.
    mean: float | None
    #: :math:`s_d`, the sample std of the differences; ``None`` with fewer than two pairs.
    std: float | None
    #: The confidence interval of the mean difference, ``(low, high)``.
    ci: tuple[float, float] | None
    #: The paired t; ``None`` with fewer than two pairs or when every difference is the same.
    t: float | None
    #: Its two-sided p, ``None`` where t is.
    p: float | None
    #: The level of ``ci``.
    confidence: float = 0.95
    #: Why t is undefined, in words ("" when it is defined).
    why: str = ""

    @property
    def n(self) -> int:
        return len(self.seeds)

    @property
    def df(self) -> int:
        return max(self.n - 1, 0)


def paired_t(values: Mapping, reference: Mapping, confidence: float = 0.95) -> PairedComparison:
    r"""Seed-paired comparison of ``values`` with ``reference``: mean difference
    :math:`\bar d`, its confidence interval, the paired t on :math:`n-1` df and its two-sided p.

    Args:
        values: seed -> measurement of the configuration.
        reference: seed -> measurement of the reference (only seeds both have are used).
        confidence: level of the interval, strictly between 0 and 1 (default 95 %).

    Returns: :class:`PairedComparison`.
    """
    confidence = _real(confidence, "confidence")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be strictly between 0 and 1, got {confidence}")
    seeds, d = paired_differences(values, reference)
    n = len(d)
    if n == 0:
        return PairedComparison(seeds, d, None, None, None, None, None, confidence,
                                "no seed in common with the reference")
    mean = math.fsum(d) / n
    if n == 1:
        return PairedComparison(seeds, d, mean, None, None, None, None, confidence,
                                "one seed pair only, so there is no spread to test against")
    std = math.sqrt(math.fsum((x - mean) ** 2 for x in d) / (n - 1))
    half = t_quantile(0.5 + confidence / 2.0, n - 1) * std / math.sqrt(n)
    ci = (mean - half, mean + half)
    if std <= 1e-12 * max(1.0, abs(mean)):
        return PairedComparison(seeds, d, mean, 0.0, (mean, mean), None, None, confidence,
                                f"its {n} differences are all equal (zero spread), so t is undefined")
    t = mean / (std / math.sqrt(n))
    return PairedComparison(seeds, d, mean, std, ci, t, 2.0 * t_sf(abs(t), n - 1), confidence)


def holm(p_values: Sequence[float]) -> list[float]:
    r"""Holm's step-down adjusted p (see the module's docstring), in the order given: monotone in
    the sorted p and capped at 1. Reject hypothesis j at level :math:`\alpha` iff its adjusted p
    is :math:`< \alpha`.

    Args:
        p_values: the p of the m comparisons of one table, each in [0, 1].

    Example::

        >>> holm([0.04, 0.001, 0.5])
        [0.08, 0.003, 0.5]
    """
    if isinstance(p_values, (str, bytes)) or not isinstance(p_values, Sequence):
        raise TypeError(f"p_values must be a sequence of numbers, got {type(p_values).__name__}")
    ps = [_real(p, f"p_values[{i}]") for i, p in enumerate(p_values)]
    for i, p in enumerate(ps):
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"p_values[{i}] must be in [0, 1], got {p}")
    m = len(ps)
    adjusted = [0.0] * m
    running = 0.0
    for rank, i in enumerate(sorted(range(m), key=ps.__getitem__)):
        running = max(running, min(1.0, (m - rank) * ps[i]))
        adjusted[i] = running
    return adjusted


# --- the table ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Row:
    """One configuration of a :class:`ComparisonTable`, with the mean and sample std of its runs
    (``std`` is None with fewer than two seeds)."""
    #: What the row is ("gsop", "r = 8").
    label: str
    #: Its parameter count, or None.
    parameters: int | None
    #: seed -> measurement (in %).
    runs: dict
    #: The :class:`PairedComparison` with the reference; None on the reference's row.
    comparison: PairedComparison | None = None
    #: The Holm-adjusted p; None where p is undefined.
    holm_p: float | None = None

    @property
    def mean(self) -> float:
        return math.fsum(self.runs.values()) / len(self.runs)

    @property
    def std(self) -> float | None:
        n = len(self.runs)
        if n < 2:
            return None
        mean = self.mean
        return math.sqrt(math.fsum((v - mean) ** 2 for v in self.runs.values()) / (n - 1))


@dataclass(frozen=True)
class ComparisonTable:
    """Every configuration against one reference, paired by seed, Holm-corrected over the rows.

    Build it with :func:`compare`. ``rows[0]`` is the reference. It shows itself as an HTML table
    in Jupyter and as text with ``print``; :meth:`conclusions` says in sentences what it shows.
    Measurements are in percent, so differences are in (percentage) points.
    """
    #: The reference's row first, then one per compared configuration.
    rows: tuple[Row, ...]
    #: The caption.
    title: str = ""
    #: What a row is, for the header and the sentences ("module", "reduction r").
    what: str = "configuration"
    #: The family-wise level of :meth:`conclusions` and :meth:`separated`.
    alpha: float = 0.05
    #: Extra footnotes.
    notes: tuple[str, ...] = field(default=())

    @property
    def reference(self) -> Row:
        return self.rows[0]

    @property
    def compared(self) -> tuple[Row, ...]:
        return self.rows[1:]

    def row(self, label: str) -> Row:
        """The row of ``label`` (KeyError naming the labels if there is none).

        Args:
            label: a row's label.
        """
        for r in self.rows:
            if r.label == label:
                return r
        raise KeyError(f"no row {label!r}; rows: {[r.label for r in self.rows]}")

    def separated(self, alpha: float | None = None) -> list[Row]:
        """Rows whose Holm-adjusted p is below ``alpha``.

        Args:
            alpha: the family-wise level (default: the table's).
        """
        alpha = self.alpha if alpha is None else alpha
        return [r for r in self.compared if r.holm_p is not None and r.holm_p < alpha]

    # the columns, shared by the text and the HTML
    HEADER = ("{what}", "params", "n", "mean ± std", "Δ, points [95 % CI]", "t", "df", "p", "Holm p")

    def _cells(self, r: Row) -> list[str]:
        c = r.comparison
        std = "–" if r.std is None else f"{r.std:.2f}"
        cells = [r.label, "–" if r.parameters is None else f"{r.parameters:,}", str(len(r.runs)),
                 f"{r.mean:.2f} ± {std}"]
        if c is None:
            return cells + ["reference", "", "", "", ""]
        delta = "–" if c.mean is None else f"{c.mean:+.2f}"
        if c.ci is not None and c.std:
            delta += f" [{c.ci[0]:+.1f}, {c.ci[1]:+.1f}]"
        return cells + [delta, "–" if c.t is None else f"{c.t:+.1f}", str(c.df),
                        _p(c.p), _p(r.holm_p)]

    def _header(self) -> list[str]:
        head = list(self.HEADER)
        head[0] = self.what
        head[4] = f"Δ, points [{_percent(self._confidence())} CI]"
        return head

    def _confidence(self) -> float:
        return next((r.comparison.confidence for r in self.compared), 0.95)

    def __str__(self) -> str:
        table = [self._header()] + [self._cells(r) for r in self.rows]
        widths = [max(len(line[j]) for line in table) for j in range(len(table[0]))]
        lines = ["  ".join(cell.ljust(w) if j == 0 else cell.rjust(w)
                           for j, (cell, w) in enumerate(zip(line, widths))).rstrip()
                 for line in table]
        out = ([self.title] if self.title else []) + lines + [f"* {n}" for n in self._footnotes()]
        return "\n".join(out)

    def _repr_html_(self) -> str:
        def line(tag, cells):
            return "<tr>" + "".join(
                f'<{tag} style="text-align:{"left" if j == 0 else "right"};padding:1px 5px;'
                f'white-space:nowrap">{html.escape(c)}</{tag}>' for j, c in enumerate(cells)) + "</tr>"
        caption = f"<caption>{html.escape(self.title)}</caption>" if self.title else ""
        body = line("th", self._header()) + "".join(line("td", self._cells(r)) for r in self.rows)
        notes = "".join(f"<br>{html.escape(n)}" for n in self._footnotes())
        return (f'<div class="chattn-table" style="overflow-x:auto"><table style="font-size:90%">{caption}'
                f"{body}</table><small>{notes[4:]}</small></div>")

    def _footnotes(self) -> list[str]:
        tested = sum(r.holm_p is not None for r in self.compared)
        notes = [f"Δ: {self.what} minus {self.reference.label}, paired by seed; t on df = pairs − 1; "
                 f"Holm p: Holm-adjusted over the {tested} comparison{'s' * (tested != 1)} with a p."]
        reference = set(self.reference.runs)
        for r in self.compared:
            alone = sorted(set(r.runs) ^ reference, key=str)
            if alone:
                n = r.comparison.n
                notes.append(f"{r.label}: {n} seed pair{'s' * (n != 1)}; seed{'s' * (len(alone) > 1)} "
                             f"{', '.join(map(str, alone))} ha{'ve' if len(alone) > 1 else 's'} a run on "
                             f"one side only (unpaired, left out).")
        notes += [f"{r.label}: {r.comparison.why}." for r in self.compared if r.comparison.why]
        return notes + list(self.notes)

    def conclusions(self, alpha: float | None = None) -> list[str]:
        """What the table shows, in sentences generated from its numbers: the rows that separate
        from the reference at Holm-adjusted p < ``alpha`` (with Δ and its interval), the others as
        "no measurable difference" (which is not equivalence), the rows that cannot be tested,
        and, when a comparison rests on two seeds, that its one degree of freedom makes the
        interval wide.

        Args:
            alpha: family-wise level (default: the table's, 0.05).
        """
        alpha = self.alpha if alpha is None else _real(alpha, "alpha")
        if not 0.0 < alpha < 1.0:
            raise ValueError(f"alpha must be strictly between 0 and 1, got {alpha}")
        ref, level = self.reference.label, _percent(self._confidence())
        tested = [r for r in self.compared if r.holm_p is not None]
        separated = [r for r in tested if r.holm_p < alpha]
        rest = [r for r in tested if r.holm_p >= alpha]
        untestable = [r for r in self.compared if r.holm_p is None]
        out = []
        for r in separated:
            c = r.comparison
            word = "above" if c.mean > 0 else "below"
            out.append(f"{r.label} is {word} {ref} by {c.mean:+.2f} points ({level} CI {c.ci[0]:+.2f} "
                       f"to {c.ci[1]:+.2f}; paired over {c.n} seeds, t = {c.t:.1f} on {c.df} df, "
                       f"Holm-adjusted p = {_p(r.holm_p)} < {alpha:g}).")
        if rest:
            items = [f"{r.label} ({r.comparison.mean:+.2f}, {r.comparison.ci[0]:+.1f} to "
                     f"{r.comparison.ci[1]:+.1f})" for r in rest]
            out.append(f"No measurable difference from {ref} at Holm-adjusted p < {alpha:g} for "
                       f"{_and(items)} (Δ in points and its {level} CI). This is not evidence that they "
                       f"are equal: the intervals show how large a difference these seeds still allow.")
        for r in rest:
            if r.comparison.p < alpha:
                out.append(f"Tested alone, {r.label} would separate from {ref} (p = {_p(r.comparison.p)}); over "
                           f"the {len(tested)} comparisons of this table, Holm's correction gives p = {_p(r.holm_p)}.")
        if not tested:
            out.append(f"No {self.what} could be tested against {ref}.")
        for r in untestable:
            c = r.comparison
            mean = "" if c.mean is None else f" (Δ = {c.mean:+.2f} points over {c.n} seed{'s' * (c.n != 1)})"
            out.append(f"{r.label} cannot be tested against {ref}{mean}; {c.why}.")
        one_df = [r for r in tested if r.comparison.df == 1]
        if one_df:
            q = t_quantile(0.5 + self._confidence() / 2.0, 1)
            out.append(f"With two seeds, a paired comparison has 1 degree of freedom: the {level} "
                       f"interval spans ±{q:.1f} standard errors, so it is wide, and only a large, "
                       f"consistent difference can separate ({_and([r.label for r in one_df])}).")
        return out


def compare(runs: Mapping[str, Mapping], reference: str, parameters: Mapping[str, int] | None = None, *,
            title: str = "", what: str = "configuration", alpha: float = 0.05, confidence: float = 0.95,
            notes: Sequence[str] = ()) -> ComparisonTable:
    """Compare every configuration of ``runs`` with the ``reference`` one, paired by seed, with
    Holm's correction over the comparisons.

    Args:
        runs: label -> (seed -> measurement in %), the reference's among them; row order is kept.
        reference: the label of the reference configuration in ``runs``.
        parameters: label -> parameter count (optional; shown in the table).
        title: caption of the table.
        what: what a row is, for the header and the sentences ("module", "reduction r", ...).
        alpha: family-wise level of :meth:`ComparisonTable.conclusions`.
        confidence: level of the intervals.
        notes: extra footnotes shown under the table.

    Example::

        >>> table = compare({"plain": {0: 92.4, 1: 92.9, 2: 92.6},
        ...                  "gsop": {0: 95.8, 1: 96.7, 2: 95.5}}, "plain", what="module")
        >>> round(table.row("gsop").comparison.mean, 2)
        3.37
    """
    if not isinstance(runs, Mapping):
        raise TypeError(f"runs must be a mapping label -> (seed -> value), got {type(runs).__name__}")
    if not isinstance(reference, str):
        raise TypeError(f"reference must be a label (str), got {type(reference).__name__}")
    if reference not in runs:
        raise ValueError(f"reference {reference!r} is not among the labels of runs: {list(runs)}")
    parameters = {} if parameters is None else parameters
    if not isinstance(parameters, Mapping):
        raise TypeError(f"parameters must be a mapping label -> int, got {type(parameters).__name__}")
    _real(alpha, "alpha")
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be strictly between 0 and 1, got {alpha}")
    checked = {}
    for label, r in runs.items():
        if not isinstance(label, str):
            raise TypeError(f"runs' labels must be str, got {label!r}")
        checked[label] = _runs(r, f"runs[{label!r}]")
        if not checked[label]:
            raise ValueError(f"runs[{label!r}] has no run")
    labels = [reference] + [label for label in runs if label != reference]
    comparisons = {label: paired_t(checked[label], checked[reference], confidence) for label in labels[1:]}
    testable = [label for label in labels[1:] if comparisons[label].p is not None]
    adjusted = dict(zip(testable, holm([comparisons[label].p for label in testable])))
    rows = tuple(Row(label, parameters.get(label), checked[label],
                     comparisons.get(label), adjusted.get(label)) for label in labels)
    return ComparisonTable(rows, title, what, alpha, tuple(notes))


# --- small helpers ------------------------------------------------------------------------------

def _real(value, name: str, finite: bool = True) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__} ({value!r})")
    value = float(value)
    if finite and not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    return value


def _positive(value, name: str) -> float:
    value = _real(value, name, finite=False)
    if not value > 0:
        raise ValueError(f"{name} must be > 0, got {value}")
    return value


def _runs(runs, name: str) -> dict:
    """``runs`` as a dict seed -> float, checked."""
    if not isinstance(runs, Mapping):
        raise TypeError(f"{name} must be a mapping seed -> value, got {type(runs).__name__}")
    return {seed: _real(v, f"{name}[{seed!r}]") for seed, v in runs.items()}


def _p(p: float | None) -> str:
    if p is None:
        return "–"
    return f"{p:.3f}" if p >= 0.001 else "<0.001"


def _percent(confidence: float) -> str:
    return f"{100 * confidence:g} %"


def _and(items) -> str:
    items = list(items)
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]
