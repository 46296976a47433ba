r"""How fast is each module? ``python -m chattn.bench``.

Times the forward pass (eval mode, ``torch.no_grad``, float32, CPU) of the eleven modules on one
input ``X`` of shape ``(B, C, H, W)`` and reports two ratios:

* **x floor**: time / the memory floor, one ``x.mean((2, 3))`` plus one ``x * s``. Any channel
  attention reads X at least once to squeeze it and once more to scale it, and writes Y: a
  module at 1.0x costs no more than that.
* **x naive**: time / a direct transcription of the formula, written as a reader would type it
  from the paper or the official code (``torch.var`` for SRM's style, the explicit M x M
  centering matrix :math:`\bar I` for GSoP's and SoCA's covariance, the full per-pixel outer
  product and the diagonal loop for bilinear attention, the B x N x K x D residual tensor for
  the Encoding layer). Below 1.0 the package is faster than the transcription.

Both transcriptions and modules share the same parameters and compute the same output
(:func:`check_naive` verifies it). All candidates are timed round-robin in one run: each round
runs every candidate once, in a rotated order, and the table reports the median over rounds, so
a noisy neighbour slows every candidate alike. The default clock is the process CPU time, which
a busy machine does not inflate; ``--clock wall`` measures elapsed time. On glibc, ``main`` first
keeps freed blocks of up to 32 MiB in the heap (:func:`steady_malloc`): otherwise whether an
output buffer of X's size is served from the heap or from fresh, page-faulting ``mmap`` memory
depends on what the previous candidate freed, and that, not the module, decides its time
(``--default-malloc`` keeps the allocator as it is).

Usage::

    python -m chattn.bench [--batch 32] [--channels 256] [--size 28] [--repeats 30] [--threads 1]
                           [--clock cpu|wall] [--budget 10] [--default-malloc]
"""
from __future__ import annotations

import argparse
import ctypes
import ctypes.util
import math
import statistics
import time
from typing import Callable

import torch
from torch.nn import functional as F

from . import _validate
from .registry import available, create

__all__ = ["build", "NAIVE", "floor", "check_naive", "CLOCKS", "steady_malloc", "measure", "run",
           "format_table", "main"]

# What the default table is held to: time / floor (None: no timing target).
TARGETS = {"se": 1.3, "eca": 1.3, "rcan_ca": 1.3, "fca": 1.3, "dia": 1.3, "srm": 3.0, "gct": 1.3}


def build(name: str, channels: int, size: int, seed: int = 0) -> torch.nn.Module:
    """Module ``name`` for ``(B, channels, size, size)`` inputs, in eval mode, its parameters
    moved off their initial values (GCT's gate, SRM's ``cfc`` start at trivial values).

    Args:
        name: a registered module name (see :func:`chattn.registry.available`).
        channels: C.
        size: H = W of the inputs (FcaNet's DCT filters are built for it).
        seed: seed of the N(0, 0.1²) noise added to every parameter, default 0.
    """
    options = {"dct_h": size, "dct_w": size} if name == "fca" else {}
    module = create(name, channels, **options).eval()
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(0.1 * torch.randn(p.shape, generator=gen))
    return module


def floor(x: torch.Tensor) -> torch.Tensor:
    """The memory floor: one squeeze read, one scale read + write.

    Args:
        x: the input, ``(B, C, H, W)``.

    Returns:
        ``x * x.mean((2, 3))``, ``(B, C, H, W)``.
    """
    s = x.mean((2, 3))                       # (B, C)
    return x * s[:, :, None, None]           # (B, C, H, W)


# --- direct transcriptions of the formulas, sharing the module's parameters ---------------------

def _gap(x):
    return F.adaptive_avg_pool2d(x, 1).view(x.size(0), x.size(1))     # (B, C)


def naive_se(m):
    fc1, fc2 = m.fc[0], m.fc[2]

    def f(x):
        y = _gap(x)
        y = torch.sigmoid(F.linear(F.relu(F.linear(y, fc1.weight, fc1.bias)), fc2.weight, fc2.bias))
        return x * y.view(x.size(0), x.size(1), 1, 1).expand_as(x)
    return f


def naive_enc(m):
    conv, bn, _, enc, bn_k = m.encoding[:5]

    def f(x):
        u = F.relu(bn(conv(x)))
        b, d = u.shape[:2]
        xs = u.view(b, d, -1).transpose(1, 2)                          # (B, N, D)
        r = xs.unsqueeze(2) - enc.codewords[None, None]                # (B, N, K, D) residuals
        a = torch.softmax(enc.scale.view(1, 1, -1) * r.pow(2).sum(3), dim=2)   # (B, N, K)
        e = (a.unsqueeze(3) * r).sum(1)                                # (B, K, D)
        e = F.relu(bn_k(e)).mean(1)                                    # (B, D)
        gamma = torch.sigmoid(F.linear(e, m.fc[0].weight, m.fc[0].bias))
        return F.relu(x + x * gamma.view(b, d, 1, 1))
    return f


def _centering(m_pos, like):
    """MPN-COV's :math:`\\bar I = \\frac1M I - \\frac1{M^2} 1 1^\\top`, M x M."""
    return (-1.0 / m_pos / m_pos) * torch.ones(m_pos, m_pos, dtype=like.dtype) \
        + (1.0 / m_pos) * torch.eye(m_pos, dtype=like.dtype)


def _covpool(z):
    b, c, h, w = z.shape
    z = z.reshape(b, c, h * w)
    i_hat = _centering(h * w, z).expand(b, h * w, h * w)
    return z.bmm(i_hat).bmm(z.transpose(1, 2))                         # (B, C, C)


def naive_gsop(m):
    def f(x):
        z = F.relu(m.bn_for_DR(m.conv_for_DR(F.relu(x))))
        cov = _covpool(z)
        d = cov.size(1)
        q = m.row_conv_group(m.row_bn(cov.view(x.size(0), d, d, 1)))
        a = torch.sigmoid(m.fc_adapt_channels(q))
        return x * a
    return f


def naive_fca(m):
    pool, fc1, fc2 = m.dct_layer, m.fc[0], m.fc[2]

    def f(x):
        xp = x
        if x.shape[2:] != pool.weight.shape[1:]:
            xp = F.adaptive_avg_pool2d(x, pool.weight.shape[1:])
        y = torch.sum(xp * pool.weight, dim=[2, 3])
        y = torch.sigmoid(F.linear(F.relu(F.linear(y, fc1.weight)), fc2.weight))
        return x * y.view(x.size(0), x.size(1), 1, 1).expand_as(x)
    return f


def naive_bilinear(m):
    def f(x):
        r = m.dimReduceLayer1(x)
        b, c, h, w = r.shape
        p = r.permute(0, 2, 3, 1).contiguous().view(-1, c)
        outer = torch.bmm(p.unsqueeze(2), p.unsqueeze(1))              # (BHW, c, c)
        t = torch.cat([torch.diagonal(outer, offset=-i, dim1=1, dim2=2) for i in range(c)], dim=1)
        t = t.view(b, h, w, -1).permute(0, 3, 1, 2).contiguous()       # (B, c(c+1)/2, H, W)
        inner = m.dimReduceLayer3(F.adaptive_avg_pool2d(t, 1))
        outer_att = m.dimReduceLayer2(t)
        return torch.sigmoid(inner * outer_att) * x
    return f


def naive_eca(m):
    conv = m.conv

    def f(x):
        y = F.adaptive_avg_pool2d(x, 1)
        y = F.conv1d(y.squeeze(-1).transpose(-1, -2), conv.weight, padding=conv.padding)
        y = torch.sigmoid(y.transpose(-1, -2).unsqueeze(-1))
        return x * y.expand_as(x)
    return f


def naive_rcan_ca(m):
    down, up = m.conv_du[0], m.conv_du[2]

    def f(x):
        y = F.adaptive_avg_pool2d(x, 1)
        y = torch.sigmoid(F.conv2d(F.relu(F.conv2d(y, down.weight, down.bias)), up.weight, up.bias))
        return x * y
    return f


def naive_dia(m):
    cell = m.lstm

    def small(seq, v):
        return F.linear(F.relu(F.linear(v, seq[0].weight, seq[0].bias)), seq[2].weight, seq[2].bias)

    def f(x):
        mt = _gap(x)
        h0 = torch.zeros_like(mt)
        c0 = torch.zeros_like(mt)
        gates = small(cell.w_ih[0].seq, mt) + small(cell.w_hh[0].seq, h0)
        i, fg, g, o = gates.chunk(4, 1)
        c = torch.sigmoid(fg) * c0 + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.sigmoid(c)
        return x * h.view(x.size(0), x.size(1), 1, 1)
    return f


def naive_srm(m, eps: float = 1e-5):
    def f(x):
        b, c = x.shape[:2]
        mean = x.view(b, c, -1).mean(-1).unsqueeze(-1)
        std = (x.view(b, c, -1).var(-1) + eps).sqrt().unsqueeze(-1)
        t = torch.cat((mean, std), -1)                                 # (B, C, 2)
        z = (t * m.cfc[None]).sum(-1)[:, :, None, None]
        return x * torch.sigmoid(m.bn(z))
    return f


def naive_gct(m):
    def f(x):
        emb = (x.pow(2).sum((2, 3), keepdim=True) + m.epsilon).pow(0.5) * m.alpha
        norm = m.gamma / (emb.pow(2).mean(dim=1, keepdim=True) + m.epsilon).pow(0.5)
        return x * (1.0 + torch.tanh(emb * norm + m.beta))
    return f


def naive_soca(m):
    down, up = m.conv_du[0], m.conv_du[2]

    def f(x):
        b, c = x.shape[:2]
        cov = _covpool(x)                                              # (B, C, C)
        i3 = 3.0 * torch.eye(c, dtype=x.dtype).expand(b, c, c)
        tr = cov.diagonal(dim1=1, dim2=2).sum(1).view(b, 1, 1)
        y, z = cov / tr, torch.eye(c, dtype=x.dtype).expand(b, c, c)
        for _ in range(m.iterN - 1):
            t = 0.5 * (i3 - z.bmm(y))
            y, z = y.bmm(t), t.bmm(z)
        y = 0.5 * y.bmm(i3 - z.bmm(y)) * tr.sqrt()
        s = y.mean(1).view(b, c, 1, 1)
        w = torch.sigmoid(F.conv2d(F.relu(F.conv2d(s, down.weight, down.bias)), up.weight, up.bias))
        return x * w
    return f


NAIVE: dict[str, Callable] = {
    "se": naive_se, "enc": naive_enc, "gsop": naive_gsop, "fca": naive_fca, "bilinear": naive_bilinear,
    "eca": naive_eca, "rcan_ca": naive_rcan_ca, "dia": naive_dia, "srm": naive_srm, "gct": naive_gct,
    "soca": naive_soca,
}


def _output(y):
    return y[0] if isinstance(y, tuple) else y      # DIA returns (y, state)


def check_naive(name: str, x: torch.Tensor, module=None, rtol: float = 1e-4, atol: float = 1e-5):
    """Assert that the transcription of ``name`` computes the module's output on ``x``.

    Args:
        name: a module name with a transcription in ``NAIVE``.
        x: the input, ``(B, C, H, W)``.
        module: the module to compare with; default: :func:`build` ``(name, C, H)``.
        rtol: relative tolerance of ``torch.testing.assert_close``.
        atol: absolute tolerance of ``torch.testing.assert_close``.

    Raises:
        AssertionError: the two outputs differ.
    """
    module = module if module is not None else build(name, x.shape[1], x.shape[2])
    with torch.no_grad():
        torch.testing.assert_close(NAIVE[name](module)(x), _output(module(x)), rtol=rtol, atol=atol)


CLOCKS = {"cpu": time.process_time, "wall": time.perf_counter}


def steady_malloc() -> bool:
    """glibc only: serve allocations up to 32 MiB from the heap and never trim it
    (``mallopt(M_MMAP_THRESHOLD, 32 MiB)``, ``mallopt(M_TRIM_THRESHOLD, 1 GiB)``), so a repeated
    allocation of the same size reuses memory instead of page-faulting fresh pages. Changes the
    whole process; returns False (and changes nothing) where ``mallopt`` is not available."""
    try:
        mallopt = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").mallopt
    except (OSError, AttributeError):
        return False
    m_trim_threshold, m_mmap_threshold = -1, -3             # <malloc.h>
    return bool(mallopt(m_mmap_threshold, 32 << 20)) and bool(mallopt(m_trim_threshold, 1 << 30))


def measure(candidates: dict[str, Callable], x: torch.Tensor, repeats: int, clock: str = "cpu",
            budget: float = 10.0) -> dict[str, float]:
    """Median time (s) of ``fn(x)`` for each candidate, timed round-robin: every round runs each
    candidate once, the starting candidate rotating from round to round.

    ``clock``: ``"cpu"`` (process CPU time, user + system: what the computation costs, unaffected
    by other processes waiting for the same cores; with several threads it sums their work) or
    ``"wall"`` (elapsed time). A candidate whose warm-up call exceeds ``budget / repeats`` seconds
    joins only every k-th round, so it costs about ``budget`` seconds, but never fewer than 3
    rounds (or ``repeats`` if smaller).

    Args:
        candidates: name -> callable taking ``x``; all are timed on the same input.
        x: the input, ``(B, C, H, W)``.
        repeats: the number of rounds (a positive int).
        clock: ``"cpu"`` or ``"wall"`` (a key of ``CLOCKS``), default ``"cpu"``.
        budget: seconds a slow candidate may cost in all, default 10.

    Returns:
        name -> median time of one call, in seconds.
    """
    repeats = _validate.positive_int(repeats, "repeats")
    budget = _validate.positive_float(budget, "budget")
    tick = CLOCKS[_validate.one_of(clock, "clock", CLOCKS)]
    names = list(candidates)
    times = {n: [] for n in names}
    every = {}
    with torch.no_grad():
        for n, fn in candidates.items():                 # warm-up: allocator, kernels, caches
            t0 = tick()
            fn(x)
            every[n] = max(1, min((repeats - 1) // 2, math.ceil((tick() - t0) * repeats / budget)))
        for r in range(repeats):
            k = r % len(names)
            for n in names[k:] + names[:k]:
                if r % every[n]:
                    continue
                t0 = tick()
                candidates[n](x)
                times[n].append(tick() - t0)
    return {n: statistics.median(t) for n, t in times.items()}


def run(batch: int = 32, channels: int = 256, size: int = 28, repeats: int = 30,
        names: list[str] | None = None, seed: int = 0, clock: str = "cpu",
        budget: float = 10.0) -> tuple[float, list[dict]]:
    """Time every module and its transcription against the floor on one ``(B, C, size, size)``
    input.

    Args:
        batch: B, default 32.
        channels: C (at least 16), default 256.
        size: H = W (at least 7, FcaNet's DCT), default 28.
        repeats: the number of rounds; the median is reported. Default 30.
        names: the modules to time; default: every registered one.
        seed: seed of the input and of the modules' parameters, default 0.
        clock: ``"cpu"`` or ``"wall"``, as in :func:`measure`.
        budget: seconds per slow candidate, as in :func:`measure`.

    Returns:
        The floor time in seconds, and one row per module, a dict with ``name``, ``time`` (s),
        ``floor_ratio``, ``naive_time`` (s), ``naive_ratio`` and ``target``.
    """
    batch = _validate.positive_int(batch, "batch")
    channels = _validate.positive_int(channels, "channels", minimum=16)
    size = _validate.positive_int(size, "size", minimum=7)      # FcaNet's DCT is at least 7 x 7
    names = list(available() if names is None else names)
    for n in names:
        if n not in NAIVE:
            raise ValueError(f"names: no transcription for {n!r}; known: {sorted(NAIVE)}")
    torch.manual_seed(seed)
    x = torch.randn(batch, channels, size, size)
    candidates: dict[str, Callable] = {"floor": floor}
    for n in names:
        module = build(n, channels, size, seed)
        candidates[n] = module
        candidates[f"{n} (naive)"] = NAIVE[n](module)
    t = measure(candidates, x, repeats, clock, budget)
    rows = [{"name": n, "time": t[n], "floor_ratio": t[n] / t["floor"], "naive_time": t[f"{n} (naive)"],
             "naive_ratio": t[n] / t[f"{n} (naive)"], "target": TARGETS.get(n)} for n in names]
    return t["floor"], rows


def format_table(floor_time: float, rows: list[dict], header: str = "") -> str:
    """The table :func:`main` prints, one line per module.

    Args:
        floor_time: the floor's time, in seconds (the first result of :func:`run`).
        rows: the rows of :func:`run`.
        header: a first line, default none.
    """
    lines = [header] if header else []
    lines.append(f"floor (x.mean((2,3)) + x * s): {floor_time * 1e3:.3f} ms")
    lines.append(f"{'module':<10}{'ms':>10}{'x floor':>10}{'target':>9}{'naive ms':>11}{'x naive':>10}")
    for r in rows:
        target = "" if r["target"] is None else (f"<={r['target']:g}" + (" ok" if r["floor_ratio"]
                                                                          <= r["target"] else " !"))
        lines.append(f"{r['name']:<10}{r['time'] * 1e3:>10.3f}{r['floor_ratio']:>10.2f}{target:>9}"
                     f"{r['naive_time'] * 1e3:>11.3f}{r['naive_ratio']:>10.2f}")
    lines.append("x floor = module / floor;  x naive = module / transcription (< 1: the package is faster)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> list[dict]:
    """The command line ``python -m chattn.bench``: time the modules and print the table.

    Args:
        argv: the command-line arguments (see the module's usage); default: ``sys.argv[1:]``.

    Returns:
        The rows of :func:`run`.
    """
    parser = argparse.ArgumentParser(prog="python -m chattn.bench", description=__doc__.split("\n")[0])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--channels", type=int, default=256)
    parser.add_argument("--size", type=int, default=28, help="H = W")
    parser.add_argument("--repeats", type=int, default=30, help="rounds; the median is reported")
    parser.add_argument("--threads", type=int, default=1, help="torch.set_num_threads")
    parser.add_argument("--clock", choices=sorted(CLOCKS), default="cpu",
                        help="cpu: process CPU time (robust on a shared machine); wall: elapsed time")
    parser.add_argument("--budget", type=float, default=10.0,
                        help="seconds per slow candidate: it is sampled in fewer rounds (at least 3)")
    parser.add_argument("--default-malloc", action="store_true",
                        help="do not tune glibc malloc (see steady_malloc)")
    args = parser.parse_args(argv)
    malloc = "default" if args.default_malloc or not steady_malloc() else "steady"
    threads = torch.get_num_threads()
    torch.set_num_threads(_validate.positive_int(args.threads, "threads"))
    try:
        floor_time, rows = run(args.batch, args.channels, args.size, args.repeats,
                               clock=args.clock, budget=args.budget)
    finally:
        torch.set_num_threads(threads)
    header = (f"B={args.batch} C={args.channels} {args.size}x{args.size} float32, CPU, "
              f"{args.threads} thread(s), {args.clock} clock, {malloc} malloc, median of {args.repeats} "
              f"interleaved rounds, torch {torch.__version__}")
    print(format_table(floor_time, rows, header))
    bad = [r["name"] for r in rows if not (math.isfinite(r["floor_ratio"]) and math.isfinite(r["naive_ratio"]))]
    if bad:
        raise RuntimeError(f"non-finite timings for {bad}")
    return rows


if __name__ == "__main__":
    main()
