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


# ---------------------------------------------------------------------------- sweeps

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
