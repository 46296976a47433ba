"""chattn.viz: diagrams traced from the modules, and the helpers the chapters share."""
import doctest

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib.text import Text  # noqa: E402

import chattn  # noqa: E402
from chattn import viz  # noqa: E402
from chattn.models import small_resnet  # noqa: E402


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def x64():
    return torch.randn(2, 64, 8, 8, generator=torch.Generator().manual_seed(0))


def test_docstring_examples():
    torch.manual_seed(0)
    result = doctest.testmod(viz, extraglobs={"torch": torch, "chattn": chattn, **vars(viz)})
    assert result.attempted >= 6 and result.failed == 0


# ------------------------------------------------------------------------------ trace

@pytest.mark.parametrize("name", chattn.available())
def test_trace_every_module_squeezes_excites_and_scales(name):
    module = chattn.create(name, 64)
    steps = viz.trace(module, x64())
    roles = [s.role for s in steps]
    # the frame, in this order: a squeeze first, the excitation after it, the scale last
    assert roles[0] == "squeeze" and roles[-1] == "scale", roles
    assert "excitation" in roles
    first_ex, last_sq = roles.index("excitation"), max(i for i, r in enumerate(roles) if r == "squeeze")
    assert last_sq < first_ex < roles.index("scale")
    # every step reads from earlier steps or X, and has shapes
    for i, s in enumerate(steps):
        assert s.parents and all(-1 <= p < i for p in s.parents), (i, s)
        assert len(s.in_shapes) == len(s.parents) and s.out_shape is not None, s
    # the scale reads X itself, and what it returns has X's shape
    assert viz.INPUT in steps[-1].parents or any(viz.INPUT in s.parents for s in steps if s.role == "scale")
    assert steps[-1].out_shape == (2, 64, 8, 8)


def test_trace_shapes_come_from_the_run_not_from_text():
    se = chattn.create("se", 32, reduction=4)
    steps = viz.trace(se, torch.randn(3, 32, 5, 6))
    assert [(s.label, s.in_shapes[0], s.out_shape) for s in steps[:2]] == [
        ("global_avg_pool", (3, 32, 5, 6), (3, 32)), ("fc: MLP", (3, 32), (3, 32))]
    assert steps[1].detail == "Linear · ReLU · Linear · Sigmoid"
    # GSoP's reduced covariance is att_dim x att_dim, whatever C is
    steps = viz.trace(chattn.create("gsop", 64, att_dim=16), x64())
    cov = next(s for s in steps if s.label == "covariance_pool")
    assert cov.out_shape == (2, 16, 16) and cov.role == "squeeze"


def test_trace_modules_without_a_plain_split():
    labels = lambda name: [(s.label, s.role) for s in viz.trace(chattn.create(name, 64), x64())]
    assert labels("gct") == [("channel_embedding", "squeeze"), ("× alpha", "squeeze"),
                             ("gct_gate", "excitation"), ("×", "scale")]
    assert labels("srm") == [("style_pool", "squeeze"), ("style_integration", "excitation"), ("×", "scale")]
    assert labels("soca")[:3] == [("covariance_pool", "squeeze"), ("newton_schulz_sqrt", "squeeze"),
                                  ("mean(dim=1)", "squeeze")]
    dia = viz.trace(chattn.create("dia", 64), x64())
    assert dia[1].label == "lstm: DIALSTMCell" and dia[1].out_shape == ((2, 64), (2, 64))   # (h, c)
    bil = viz.trace(chattn.create("bilinear", 64), x64())
    tri = next(i for i, s in enumerate(bil) if s.label == "bilinear_triangle")
    assert bil[tri].out_shape == (2, 10, 8, 8)                          # c = 4: 4*5/2 products per pixel
    assert sum(tri in s.parents for s in bil) == 2                      # two branches: GAP and per pixel
    enc = viz.trace(chattn.create("enc", 64), x64())
    assert enc[-1].label == "× · + · ReLU" and enc[-1].role == "scale"  # Y = ReLU(X + X·γ)


def test_trace_leaves_the_module_as_it_was():
    from chattn.squeeze import global_avg_pool
    import chattn.modules.se as se_file

    se = chattn.create("srm", 64).train()
    before = {k: v.clone() for k, v in se.state_dict().items()}
    viz.trace(se, x64())
    assert se.training
    assert all(torch.equal(before[k], v) for k, v in se.state_dict().items())   # BN stats untouched
    assert se_file.global_avg_pool is global_avg_pool                           # functions restored
    assert not se._forward_hooks and not se._forward_pre_hooks


def test_trace_bad_input():
    with pytest.raises(TypeError, match="module"):
        viz.trace("se", x64())
    with pytest.raises(ValueError, match="x must be"):
        viz.trace(chattn.create("se", 64), torch.randn(2, 64))
    with pytest.raises(ValueError, match="channels"):
        viz.diagram(torch.nn.Identity())


# ---------------------------------------------------------------------------- diagram

@pytest.mark.parametrize("name", chattn.available())
def test_diagram_draws_every_step_with_its_shapes(name):
    module = chattn.create(name, 64)
    fig = viz.diagram(module)
    texts = [t.get_text() for t in fig.findobj(Text)]
    steps = viz.trace(module, x64())
    for s in steps:
        assert any(t.startswith(s.label) for t in texts), (s.label, texts)
    assert "2×64×8×8" in texts
    shown = " ".join(texts)
    for s in steps:
        for shape in s.in_shapes:
            assert "×".join(map(str, shape)) in shown
    chattn.interactive.check_figure_text(fig)                  # no nan/inf in its text


def test_frame_diagram_is_se_drawn_from_compose():
    fig = viz.frame_diagram(64, 16)
    texts = [t.get_text() for t in fig.findobj(Text)]
    assert any(t.startswith("global_avg_pool") for t in texts)
    assert any(t.startswith("excite: MLP") for t in texts)
    assert any("Compose" in t for t in texts)


# ---------------------------------------------------------------------------- helpers

def test_n_params_and_block_label():
    assert viz.n_params(chattn.create("se", 256)) == 2 * 256 * 16
    assert viz.n_params(chattn.create("gct", 64)) == 3 * 64
    with pytest.raises(TypeError, match="module"):
        viz.n_params(3)
    assert viz.block_label(2, 0) == "stage 2, block 1"


def test_attention_calls_find_modules_by_type():
    torch.manual_seed(0)
    x = torch.randn(2, 3, 32, 32)
    se = small_resnet("se").eval()
    inputs, logits = viz.attention_inputs(se, x)
    assert logits.shape == (2, 8)
    assert [tuple(u.shape[1:]) for u in inputs] == [(32, 32, 32)] * 2 + [(64, 16, 16)] * 2 + [(128, 8, 8)] * 2
    # the recorded input is what the module gates: its output is input * attention(input)
    calls, _ = viz.attention_calls(se, x)
    for c in calls:
        torch.testing.assert_close(c.output, c.input * c.module.attention(c.input))
    # DIA: one module per stage, called by each of its blocks
    dia_calls, _ = viz.attention_calls(small_resnet("dia").eval(), x)
    assert len(dia_calls) == 6 and len({id(c.module) for c in dia_calls}) == 3
    # GCT: one gate per convolution (and the stem), however the attributes are named
    gct_calls, _ = viz.attention_calls(small_resnet("gct").eval(), x)
    assert len(gct_calls) > 6 and all(isinstance(c.module, chattn.GCT) for c in gct_calls)


def test_class_means_and_specificity():
    v = torch.tensor([[1.0, 0.0], [3.0, 0.0], [5.0, 1.0]])
    y = torch.tensor([0, 0, 1])
    torch.testing.assert_close(viz.class_means(v, y), torch.tensor([[2.0, 0.0], [5.0, 1.0]]))
    with pytest.raises(ValueError, match="classes"):
        viz.class_means(v, y, num_classes=3)
    with pytest.raises(TypeError, match="labels"):
        viz.class_means(v, y.float())
    assert viz.class_specificity(torch.eye(2)[[0, 0, 1, 1]], torch.tensor([0, 0, 1, 1])) == pytest.approx(1.0)
    assert viz.class_specificity(torch.ones(4, 3), torch.tensor([0, 0, 1, 1])) == 0.0


def test_nearest_mean_accuracy():
    g = torch.Generator().manual_seed(0)
    y = torch.arange(4).repeat_interleave(20)
    centres = torch.eye(4) * 10
    f_train = centres[y] + torch.randn(80, 4, generator=g)
    f_test = centres[y] + torch.randn(80, 4, generator=g)
    assert viz.nearest_mean_accuracy(f_train, y, f_test, y) == 1.0
    noise = torch.randn(80, 4, generator=g)
    assert viz.nearest_mean_accuracy(noise, y, torch.randn(80, 4, generator=g), y) < 0.6
    with pytest.raises(ValueError, match="features"):
        viz.nearest_mean_accuracy(f_train, y, f_test[:, :3], y)


def test_test_crop():
    from chattn.data import load_photo, split_columns

    crop = viz.test_crop("chelsea", 128)
    start, stop = split_columns("chelsea", "test")
    img = load_photo("chelsea")
    top = (img.shape[1] - 128) // 2
    assert torch.equal(crop, img[:, top:top + 128, start:start + 128])
    mid = viz.test_crop("chelsea", 64, centre=True)
    left = (start + stop - 64) // 2
    assert torch.equal(mid, img[:, (img.shape[1] - 64) // 2:(img.shape[1] - 64) // 2 + 64, left:left + 64])
    with pytest.raises(ValueError, match="name"):
        viz.test_crop("nope")
    with pytest.raises(ValueError, match="size"):
        viz.test_crop("chelsea", 10_000)


def test_descriptors_are_what_the_squeeze_sees():
    enc, gsop = chattn.create("enc", 64, ncodes=8).eval(), chattn.create("gsop", 64, att_dim=16).eval()
    x = x64()
    u = viz.descriptors(enc, x)
    torch.testing.assert_close(enc.encoding[3].assignments(u), enc.assignments(x))
    z = viz.descriptors(gsop, x)
    torch.testing.assert_close(chattn.squeeze.covariance_pool(z), gsop.covariance(x))
    with pytest.raises(TypeError, match="EncModule or a GSoP"):
        viz.descriptors(chattn.create("se", 64), x)


def test_show_refuses_a_figure_that_prints_nan():
    fig, ax = plt.subplots()
    ax.set_title(f"sd of log energy {float('nan'):.2f}")
    with pytest.raises(ValueError, match="not finite"):
        viz.show()
    assert not plt.get_fignums()                    # closed, never shown
    fig, ax = plt.subplots()
    ax.set_title("sd of log energy 0.52")
    viz.show()                                      # a finite figure passes (Agg: nothing to show)


# ------------------------------------------------------------------------------ sweeps (issue 8)
# (tests/test_pretrained.py checks the shipped sweep itself; here, what the plot and table draw)

def made_up_points():
    """Three sweep points with known numbers; the middle one trained with one seed only."""
    from pathlib import Path
    from chattn.pretrained import SweepPoint
    return [SweepPoint(2, [0.90, 0.92, 0.94], 0.92, 0.02, 100_072, 18_372_608, Path("a")),
            SweepPoint(8, [0.95], 0.95, 0.0, 67_912, 18_308_288, None),
            SweepPoint(32, [0.80, 0.90, 0.85], 0.85, 0.05, 59_752, 18_292_224, Path("c"))]


def test_sweep_plot_draws_one_bar_per_value_rings_the_chosen_one_and_labels_the_cost():
    from matplotlib.collections import PathCollection
    from chattn import pretrained
    from chattn.interactive import check_figure_text
    points = made_up_points()
    fig, ax = plt.subplots()
    viz.sweep_plot(ax, "se", 8, points=points)
    bars = ax.containers
    assert len(bars) == 3                                   # one errorbar per value
    for i, (bar, p) in enumerate(zip(bars, points)):
        (x,), (y,) = bar.lines[0].get_data()
        assert (x, y) == (i, pytest.approx(100 * p.mean))
        if p.std:                                           # the bar spans mean ± std
            segment = bar.lines[2][0].get_segments()[0]
            assert sorted(segment[:, 1]) == pytest.approx([100 * (p.mean - p.std), 100 * (p.mean + p.std)])
    dots = [c for c in ax.collections if isinstance(c, PathCollection)]
    seeds = [c for c in dots if c.get_sizes()[0] < 100]
    assert [sorted(c.get_offsets()[:, 1].tolist()) for c in seeds] == [
        pytest.approx(sorted(100 * a for a in p.accuracies)) for p in points]     # every seed a dot
    (ring,) = [c for c in dots if c.get_sizes()[0] >= 100]
    assert ring.get_offsets().tolist() == [[1, pytest.approx(95.0)]] and ring.get_facecolors().size == 0
    labels = [t.get_text() for t in ax.get_xticklabels()]
    assert labels == ["2\n100,072 p.\n18.373", "8\n67,912 p.\n18.308", "32\n59,752 p.\n18.292"]
    assert "reduction" in ax.get_xlabel() and "MFLOPs" in ax.get_xlabel()
    assert ax.get_title() == "reduction = 8: 95.0% (1 seed)" and "accuracy" in ax.get_ylabel()
    # the plain ResNet's band: mean ± sample std of its shipped runs
    import statistics
    plain = [100 * r["test_accuracy"] for r in pretrained.records() if r["attn"] == "none"]
    (band,) = ax.patches                                    # axhspan: a Rectangle in y data units
    assert (band.get_y(), band.get_y() + band.get_height()) == (pytest.approx(statistics.fmean(plain) - statistics.stdev(plain)),
                                    pytest.approx(statistics.fmean(plain) + statistics.stdev(plain)))
    check_figure_text(fig)                                  # one seed: std 0, no nan
    fig, ax = plt.subplots()
    viz.sweep_plot(ax, "se", 32, points=points)             # another value: the ring moves
    (ring,) = [c for c in ax.collections if isinstance(c, PathCollection) and c.get_sizes()[0] >= 100]
    assert ring.get_offsets().tolist() == [[2, pytest.approx(85.0)]]


def test_sweep_plot_of_the_shipped_sweep():
    from chattn import pretrained
    points = pretrained.sweep("eca")
    fig, ax = plt.subplots()
    viz.sweep_plot(ax, "eca", points[-1].value)
    assert len(ax.containers) == len(points) >= 1
    assert [t.get_text().splitlines()[0] for t in ax.get_xticklabels()] == [str(p.value) for p in points]
    assert ax.get_xlabel().startswith("k_size")


def test_sweep_table_has_a_row_per_value():
    table = viz.sweep_table("se", made_up_points()).splitlines()
    assert table[0].split() == ["reduction", "seeds", "test", "acc", "(%)", "params", "MFLOPs"]
    assert [row.split() for row in table[1:]] == [
        ["2", "3", "92.0", "±", "2.0", "100,072", "18.373"],
        ["8", "1", "95.0", "±", "0.0", "67,912", "18.308"],
        ["32", "3", "85.0", "±", "5.0", "59,752", "18.292"]]
    from chattn import pretrained
    assert len(viz.sweep_table("eca").splitlines()) == 1 + len(pretrained.sweep("eca"))


@pytest.mark.parametrize("call,error,words", [
    (lambda ax: viz.sweep_plot(ax, "se", 4, points=made_up_points()), ValueError, r"value must be one of .*\[2, 8, 32\]"),
    (lambda ax: viz.sweep_plot(ax, "se", "8", points=made_up_points()), ValueError, "value"),
    (lambda ax: viz.sweep_plot(ax, "gct", 8, points=made_up_points()), ValueError, "attn.*swept"),
    (lambda ax: viz.sweep_plot(ax, None, 8), TypeError, "attn"),
    (lambda ax: viz.sweep_plot(ax, "se", 8, points=[]), ValueError, "no sweep points"),
    (lambda ax: viz.sweep_table("cbam"), ValueError, "attn"),
])
def test_sweep_plot_and_table_bad_input(call, error, words):
    fig, ax = plt.subplots()
    with pytest.raises(error, match=words):
        call(ax)
    assert not ax.containers and not ax.collections        # nothing half-drawn

# ---------------------------------------------------------------------------- sweeps: labels

def _points(params, flops, accuracies):
    import statistics
    from chattn.pretrained import SweepPoint
    return [SweepPoint(v, acc, statistics.fmean(acc), statistics.stdev(acc) if len(acc) > 1 else 0.0,
                       n, f, None) for v, n, f, acc in zip((1, 3, 5, 7, 9), params, flops, accuracies)]


def test_sweep_plot_labels_tell_close_costs_apart_and_do_not_overlap():
    # ECA-like costs: parameters 12 apart, FLOPs 1,792 apart; narrow axes as in a three-panel frame
    points = _points([57_070 + 12 * i for i in range(5)], [18_290_000 + 1_792 * i for i in range(5)],
                     [[0.95, 0.93, 0.91]] * 5)
    fig, ax = plt.subplots(figsize=(4.2, 3))
    viz.sweep_plot(ax, "eca", 5, points)
    fig.canvas.draw()
    ticks = [t for t in ax.get_xticklabels() if t.get_text()]
    assert len({t.get_text() for t in ticks}) == 5                       # every value's cost differs
    assert all(f"{p.params:,d}" in t.get_text() for p, t in zip(points, ticks))
    boxes = [t.get_window_extent() for t in ticks]
    assert not any(a.overlaps(b) for a, b in zip(boxes, boxes[1:]))      # neighbours do not collide
    assert "k_size" in ax.get_xlabel()
    assert ax.get_title() == "k_size = 5: 93.0 ± 2.0% over 3 seeds"


def test_sweep_plot_one_seed_has_no_spread_and_a_bad_value_is_named():
    points = _points([1, 2, 3, 4, 5], [10, 20, 30, 40, 50], [[0.9], [0.8, 0.9, 1.0], [0.9], [0.9], [0.9]])
    fig, ax = plt.subplots()
    viz.sweep_plot(ax, "eca", 1, points)
    assert ax.get_title() == "k_size = 1: 90.0% (1 seed)"
    with pytest.raises(ValueError, match="value must be one of"):
        viz.sweep_plot(ax, "eca", 4, points)
    table = viz.sweep_table("eca", points).splitlines()
    assert table[1].split()[:2] == ["1", "1"] and table[2].split()[2:5] == ["90.0", "±", "10.0"]
    assert [row.split()[-1] for row in table[1:]] == ["0.000", "0.000", "0.000", "0.000", "0.000"]


def test_dia_diagram_shows_the_state_from_and_to_the_neighbouring_blocks():
    dia = chattn.create("dia", 64)
    state = (torch.rand(2, 64), torch.randn(2, 64))
    steps = viz.trace(dia, torch.randn(2, 64, 8, 8), state)
    cell = [s for s in steps if viz.STATE in s.parents]
    assert [s.label for s in cell] == ["lstm: DIALSTMCell"]
    assert cell[0].out_shape == ((2, 64), (2, 64))                     # (h, c) goes on
    assert all(viz.STATE not in s.parents for s in viz.trace(dia, torch.randn(2, 64, 8, 8)))
    texts = [t.get_text() for t in viz.diagram(dia).findobj(Text)]
    assert any("previous block" in t for t in texts) and any("next block" in t for t in texts)
    assert not any("previous block" in t for t in
                   (t.get_text() for t in viz.diagram("se").findobj(Text)))
    plt.close("all")
