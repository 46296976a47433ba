"""chattn.viz: diagrams traced from the modules (the chapters' helpers: tests/test_analysis.py)."""
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


def test_show_refuses_a_figure_that_prints_nan():
    fig, ax = plt.subplots()
    ax.set_title(f"sd of log energy {float('nan'):.2f}")
    with pytest.raises(ValueError, match="not finite"):
        viz.show()
    assert not plt.get_fignums()                    # closed, never shown
    fig, ax = plt.subplots()
    ax.set_title("sd of log energy 0.52")
    viz.show()                                      # a finite figure passes (Agg: nothing to show)


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
