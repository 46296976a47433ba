"""chattn.analysis: the chapters' helpers, the gates of trained networks, the sweeps and the tables
that compare the shipped runs (the statistics themselves: tests/test_stats.py)."""
import doctest
import statistics

import matplotlib
import pytest
import torch

import chattn
from chattn import analysis, pretrained
from chattn.analysis import gates, stats, trained
from chattn.analysis.trained import SweepPoint
from chattn.data import make_dataset
from chattn.models import small_resnet
from conftest import write_record

matplotlib.use("Agg")
from matplotlib import pyplot as plt  # noqa: E402  (after the backend)


@pytest.fixture(autouse=True)
def no_figure_left_open():
    yield
    plt.close("all")


@pytest.mark.parametrize("module", [analysis, gates, trained])
def test_docstring_examples(module):
    torch.manual_seed(0)
    result = doctest.testmod(module, extraglobs={"torch": torch}, verbose=False)
    assert result.attempted > 0 and result.failed == 0


def test_the_moved_names_say_where_they_went():
    from chattn import viz
    with pytest.raises(AttributeError, match=r"chattn.analysis.sweep_plot"):
        viz.sweep_plot
    with pytest.raises(AttributeError, match=r"chattn.data.test_crop"):
        viz.test_crop
    with pytest.raises(AttributeError, match=r"chattn.analysis.gate_statistics"):
        pretrained.gate_statistics
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        viz.nope


# ---------------------------------------------------------------------------- helpers

def test_n_params_and_block_label():
    assert analysis.n_params(chattn.create("se", 256)) == 2 * 256 * 16
    assert analysis.n_params(chattn.create("gct", 64)) == 3 * 64
    with pytest.raises(TypeError, match="module"):
        analysis.n_params(3)
    assert analysis.block_label(2, 0) == "stage 2, block 1"


def test_attention_calls_find_modules_by_type():
    torch.manual_seed(0)
    x = torch.randn(2, 3, 32, 32)
    se = small_resnet("se").eval()
    inputs, logits = analysis.attention_inputs(se, x)
    assert logits.shape == (2, 8)
    assert [tuple(u.shape[1:]) for u in inputs] == [(32, 32, 32)] * 2 + [(64, 16, 16)] * 2 + [(128, 8, 8)] * 2
    # the recorded input is what the module gates: its output is input * attention(input)
    calls, _ = analysis.attention_calls(se, x)
    for c in calls:
        torch.testing.assert_close(c.output, c.input * c.module.attention(c.input))
    # DIA: one module per stage, called by each of its blocks
    dia_calls, _ = analysis.attention_calls(small_resnet("dia").eval(), x)
    assert len(dia_calls) == 6 and len({id(c.module) for c in dia_calls}) == 3
    # GCT: one gate per convolution (and the stem), however the attributes are named
    gct_calls, _ = analysis.attention_calls(small_resnet("gct").eval(), x)
    assert len(gct_calls) > 6 and all(isinstance(c.module, chattn.GCT) for c in gct_calls)
    with pytest.raises(TypeError, match="model"):
        analysis.attention_calls(3, x)


def test_class_means_and_specificity():
    v = torch.tensor([[1.0, 0.0], [3.0, 0.0], [5.0, 1.0]])
    y = torch.tensor([0, 0, 1])
    torch.testing.assert_close(analysis.class_means(v, y), torch.tensor([[2.0, 0.0], [5.0, 1.0]]))
    with pytest.raises(ValueError, match="classes"):
        analysis.class_means(v, y, num_classes=3)
    with pytest.raises(TypeError, match="labels"):
        analysis.class_means(v, y.float())
    assert analysis.class_specificity(torch.eye(2)[[0, 0, 1, 1]], torch.tensor([0, 0, 1, 1])) == pytest.approx(1.0)
    assert analysis.class_specificity(torch.ones(4, 3), torch.tensor([0, 0, 1, 1])) == 0.0


def test_class_specificity_is_zero_for_class_blind_gates_and_one_for_class_gates():
    y = torch.arange(4).repeat_interleave(5)
    onehot = torch.eye(4)[y]
    assert analysis.class_specificity(onehot, y) == pytest.approx(1.0)
    same = torch.rand(5, 6).repeat(4, 1)                 # every class sees the same five gate vectors
    assert analysis.class_specificity(same, y) == pytest.approx(0.0, abs=1e-12)
    mixed = onehot + torch.rand(20, 4)
    eta2 = analysis.class_specificity(mixed, y)
    assert 0 < eta2 < 1
    # the definition, written out: between-class sum of squares over the total
    mu = mixed.double().mean(0)
    between = sum(5 * (mixed[y == k].double().mean(0) - mu).pow(2).sum() for k in range(4))
    assert eta2 == pytest.approx(float(between / (mixed.double() - mu).pow(2).sum()), rel=1e-12)
    with pytest.raises(ValueError, match="labels"):
        analysis.class_specificity(onehot, y[:3])
    with pytest.raises(ValueError, match="values"):
        analysis.class_specificity(onehot[:, 0], y)


def test_nearest_mean_accuracy():
    g = torch.Generator().manual_seed(0)
    y = torch.arange(4).repeat_interleave(20)
    centres = torch.eye(4) * 10
    f_train = centres[y] + torch.randn(80, 4, generator=g)
    f_test = centres[y] + torch.randn(80, 4, generator=g)
    assert analysis.nearest_mean_accuracy(f_train, y, f_test, y) == 1.0
    noise = torch.randn(80, 4, generator=g)
    assert analysis.nearest_mean_accuracy(noise, y, torch.randn(80, 4, generator=g), y) < 0.6
    with pytest.raises(ValueError, match="features"):
        analysis.nearest_mean_accuracy(f_train, y, f_test[:, :3], y)


def test_descriptors_are_what_the_squeeze_sees():
    enc, gsop = chattn.create("enc", 64, ncodes=8).eval(), chattn.create("gsop", 64, att_dim=16).eval()
    x = torch.randn(2, 64, 8, 8, generator=torch.Generator().manual_seed(0))
    u = analysis.descriptors(enc, x)
    torch.testing.assert_close(enc.encoding[3].assignments(u), enc.assignments(x))
    z = analysis.descriptors(gsop, x)
    torch.testing.assert_close(chattn.squeeze.covariance_pool(z), gsop.covariance(x))
    with pytest.raises(TypeError, match="EncModule or a GSoP"):
        analysis.descriptors(chattn.create("se", 64), x)


# ------------------------------------------------------------------------- gate statistics

@pytest.fixture(scope="module")
def test_patches():
    return make_dataset("test", per_class=25)


def test_gate_statistics_match_gates_computed_by_hand_se(test_patches):
    x, y = test_patches
    net = pretrained.load("se")
    result = analysis.gate_statistics(net, x, y, batch_size=64)     # several batches
    assert [(b.stage, b.index) for b in result.blocks] == [(1, 0), (1, 1), (2, 0), (2, 1), (3, 0), (3, 1)]
    assert [b.label for b in result.blocks][:2] == ["stage 1, block 1", "stage 1, block 2"]
    assert [b.class_means.shape for b in result.blocks] == [(8, c) for c in (32, 32, 64, 64, 128, 128)]
    assert all(0 <= b.specificity <= 1 for b in result.blocks)
    assert result.stages[2] == pytest.approx((result.blocks[2].specificity + result.blocks[3].specificity) / 2)
    with torch.no_grad():                                # block (1, 0) by hand
        b = net.stages[0].blocks[0]
        h = net.stem(x)
        h = torch.relu(b.bn2(b.conv2(torch.relu(b.bn1(b.conv1(h))))))
        g = b.attn.attention(b.bn3(b.conv3(h)))[:, :, 0, 0]
    assert torch.allclose(result.blocks[0].class_means, torch.stack([g[y == k].mean(0) for k in range(8)]), atol=1e-6)
    assert result.blocks[0].specificity == pytest.approx(analysis.class_specificity(g, y), abs=1e-6)
    assert result.blocks[0].counts.tolist() == [25] * 8
    assert net.training is False


def test_gate_statistics_of_dia_use_the_state_passed_along_the_stage(test_patches):
    x, y = test_patches
    net = pretrained.load("dia")
    result = analysis.gate_statistics(net, x, y)
    with torch.no_grad():
        stage = net.stages[0]
        h = net.stem(x)
        h, state = stage.blocks[0](h, None)             # block (1, 0) and the LSTM state it passes on
        b = stage.blocks[1]
        z = b.bn3(b.conv3(torch.relu(b.bn2(b.conv2(torch.relu(b.bn1(b.conv1(h))))))))
        with_state = stage.dia.attention(z, state)[:, :, 0, 0]
        without = stage.dia.attention(z)[:, :, 0, 0]
    means = result.blocks[1].class_means
    assert torch.allclose(means, torch.stack([with_state[y == k].mean(0) for k in range(8)]), atol=1e-6)
    assert not torch.allclose(means, torch.stack([without[y == k].mean(0) for k in range(8)]), atol=1e-4)


@pytest.mark.parametrize("attn", ["bilinear", "enc", "gct", "srm"])
def test_gate_statistics_for_other_gates(attn, test_patches):
    x, y = test_patches
    result = analysis.gate_statistics(pretrained.load(attn), x[::5], y[::5])
    means = torch.cat([b.class_means.flatten() for b in result.blocks])
    assert torch.isfinite(means).all() and len(result.blocks) == 6
    lo, hi = {"bilinear": (0.5, 1), "enc": (1, 2), "gct": (0, 2), "srm": (0, 1)}[attn]    # each gate's range
    assert lo <= means.min() and means.max() <= hi


def test_gate_statistics_of_gct_are_the_gates_before_conv1(test_patches):
    # GCT gates the input of every convolution; a block's gate is the one on its input (before conv1)
    x, y = test_patches
    net = pretrained.load("gct")
    result = analysis.gate_statistics(net, x, y)
    assert [b.class_means.shape[1] for b in result.blocks] == [32, 32, 32, 64, 64, 128]   # input widths
    with torch.no_grad():
        h = net.stages[0].blocks[0](net.stem(net.stem_attn(x)))           # the input of block (1, 1)
        g = net.stages[0].blocks[1].attn["conv1"].attention(h)[:, :, 0, 0]
    assert torch.allclose(result.blocks[1].class_means, torch.stack([g[y == k].mean(0) for k in range(8)]), atol=1e-6)
    assert result.blocks[1].specificity == pytest.approx(analysis.class_specificity(g, y), abs=1e-6)


def test_gate_statistics_absent_class_is_nan_and_bad_input_is_named(test_patches):
    x, y = test_patches
    keep = y != 3
    result = analysis.gate_statistics(pretrained.load("se"), x[keep], y[keep])
    assert torch.isnan(result.blocks[0].class_means[3]).all() and result.blocks[0].counts[3] == 0
    assert torch.isfinite(result.blocks[0].class_means[[0, 1, 2, 4]]).all()
    with pytest.raises(ValueError, match="attention"):
        analysis.gate_statistics(pretrained.load(None), x, y)
    with pytest.raises(ValueError, match="y"):
        analysis.gate_statistics(pretrained.load("se"), x, y[:-1])
    with pytest.raises(ValueError, match="y"):
        analysis.gate_statistics(pretrained.load("se"), x, y + 8)
    with pytest.raises(TypeError, match="model"):
        analysis.gate_statistics(torch.nn.Linear(2, 2), x, y)


# ---------------------------------------------------------------------------------- sweeps

def made_up_points():
    """Three sweep points with known numbers; the middle one trained with one seed only."""
    from pathlib import Path
    return [SweepPoint(2, [0.90, 0.92, 0.94], 0.92, 0.02, 100_072, 18_372_608, Path("a")),
            SweepPoint(8, [0.95], 0.95, 0.0, 67_912, 18_308_288, None),
            SweepPoint(32, [0.80, 0.90, 0.85], 0.85, 0.05, 59_752, 18_292_224, Path("c"))]


def test_sweep_points_are_the_records_on_disk():
    from chattn.models.resnet import flops
    for attn in ("se", "eca"):
        points = analysis.sweep(attn)
        key, values = pretrained.SWEEPS[attn]
        assert [p.value for p in points] == [v for v in values if any(
            r["value"] == v for r in pretrained.sweep_records(attn))]
        for p in points:
            runs = [r for r in pretrained.sweep_records(attn) if r["value"] == p.value]
            assert p.accuracies == [r["test_accuracy"] for r in runs] and p.seeds == [r["seed"] for r in runs]
            assert p.mean == pytest.approx(statistics.fmean(p.accuracies))
            assert p.std == (pytest.approx(statistics.stdev(p.accuracies)) if len(runs) > 1 else 0.0)
            net = pretrained.load(attn, **{key: p.value})
            assert p.params == sum(q.numel() for q in net.parameters())
            assert p.flops == flops(net, (1, 3, 32, 32)) and p.weights == pretrained.weights_path(attn, **{key: p.value})
        params = [p.params for p in points]          # cost follows the option
        assert params == (sorted(params, reverse=True) if attn == "se" else sorted(params))


def test_sweep_counts_flops_once_per_network():
    trained._flops.cache_clear()
    analysis.sweep("se")
    first = trained._flops.cache_info()
    analysis.sweep("se")
    again = trained._flops.cache_info()
    assert first.misses == len(analysis.sweep("se")) and again.misses == first.misses and again.hits > first.hits


def test_sweep_plot_draws_one_bar_per_value_rings_the_chosen_one_and_labels_the_cost():
    from matplotlib.collections import PathCollection
    from chattn.interactive import check_figure_text
    points = made_up_points()
    fig, ax = plt.subplots()
    analysis.sweep_plot(ax, "se", 8, points=points, plain=[0.91, 0.93, 0.92])
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
    assert ax.get_title() == "r = 8: 95.0% (1 seed)" and "accuracy" in ax.get_ylabel()
    (band,) = ax.patches                                    # the plain network's mean ± sample std
    assert (band.get_y(), band.get_y() + band.get_height()) == (pytest.approx(92.0 - 1.0), pytest.approx(92.0 + 1.0))
    check_figure_text(fig)                                  # one seed: std 0, no nan
    fig, ax = plt.subplots()
    analysis.sweep_plot(ax, "se", 32, points=points, plain=[])     # another value: the ring moves; no band
    (ring,) = [c for c in ax.collections if isinstance(c, PathCollection) and c.get_sizes()[0] >= 100]
    assert ring.get_offsets().tolist() == [[2, pytest.approx(85.0)]] and not ax.patches


def test_sweep_plot_band_is_the_grid_of_the_sweeps_recipe():
    runs = pretrained.sweep_records("se")
    recipes = {trained._recipe(r) for r in runs}
    plain = [100 * r["test_accuracy"] for r in pretrained.records()
             if r["attn"] == "none" and trained._recipe(r) in recipes]
    fig, ax = plt.subplots()
    analysis.sweep_plot(ax, "se", 8)
    if plain:
        (band,) = ax.patches
        assert band.get_y() == pytest.approx(statistics.fmean(plain) - statistics.stdev(plain))
    else:
        assert not ax.patches
    # a record of another recipe (other epochs) is not the sweep's
    assert trained._recipe({**runs[0], "epochs": runs[0]["epochs"] + 1}) not in recipes


def test_sweep_figure_fits_the_column_with_legible_text():
    from matplotlib.text import Text
    fig = analysis.sweep_figure("eca", 3)
    fig.canvas.draw()
    width = fig.get_window_extent().width          # at the figure's dpi
    assert width * 80 / fig.dpi <= 688              # at the build's 80 dpi
    sizes = [t.get_fontsize() for t in fig.findobj(Text) if t.get_text().strip() and t.get_visible()]
    assert min(sizes) >= 10


def test_sweep_table_has_a_row_per_value():
    table = analysis.sweep_table("se", made_up_points()).splitlines()
    assert table[0].split() == ["reduction", "seeds", "test", "acc", "(%)", "params", "MFLOPs"]
    assert [row.split() for row in table[1:]] == [
        ["2", "3", "92.0", "±", "2.0", "100,072", "18.373"],
        ["8", "1", "95.0", "±", "0.0", "67,912", "18.308"],
        ["32", "3", "85.0", "±", "5.0", "59,752", "18.292"]]


@pytest.mark.parametrize("call,error,words", [
    (lambda ax: analysis.sweep_plot(ax, "se", 4, points=made_up_points()), ValueError, r"value must be one of .*\[2, 8, 32\]"),
    (lambda ax: analysis.sweep_plot(ax, "se", "8", points=made_up_points()), ValueError, "value"),
    (lambda ax: analysis.sweep_plot(ax, "gct", 8, points=made_up_points()), ValueError, "attn.*swept"),
    (lambda ax: analysis.sweep_plot(ax, None, 8), TypeError, "attn"),
    (lambda ax: analysis.sweep_plot(ax, "se", 8, points=[]), ValueError, "no sweep points"),
    (lambda ax: analysis.sweep_table("cbam"), ValueError, "attn"),
    (lambda ax: analysis.sweep(3), TypeError, "attn"),
    (lambda ax: analysis.compare_sweep("gct"), ValueError, "swept modules"),
    (lambda ax: analysis.compare_sweep("se", task="recoloured"), ValueError, "task='recoloured'"),
    (lambda ax: analysis.compare_sweep("se", task="imagenet"), ValueError, "task"),
    (lambda ax: analysis.compare_grid("imagenet"), ValueError, "task"),
    (lambda ax: analysis.compare_control("none"), ValueError, "attn"),
])
def test_sweep_and_table_bad_input(call, error, words):
    fig, ax = plt.subplots()
    with pytest.raises(error, match=words):
        call(ax)
    assert not ax.containers and not ax.collections        # nothing half-drawn


# ---------------------------------------------------------------------------------- tables

def test_reference_values_are_the_chapters_defaults():
    assert {a: analysis.reference_value(a) for a in pretrained.SWEEPS} == {
        "se": 4, "eca": 3, "fca": 4, "bilinear": 16, "rcan_ca": 4, "dia": pretrained.default_option("dia", "reduction"),
        "soca": 4}


@pytest.mark.parametrize("attn", sorted(pretrained.SWEEPS))
def test_compare_sweep_pairs_each_value_with_the_reference_by_seed(attn):
    key, values = pretrained.SWEEPS[attn]
    table = analysis.compare_sweep(attn)
    reference = analysis.reference_value(attn)
    runs = pretrained.sweep_records(attn)
    assert table.reference.label == f"{trained.SYMBOL[key]} = {reference}"
    assert [r.label for r in table.compared] == [f"{trained.SYMBOL[key]} = {v}" for v in values
                                                 if v != reference and any(r["value"] == v for r in runs)]
    base = {r["seed"]: 100 * r["test_accuracy"] for r in runs if r["value"] == reference}
    for row in table.compared:
        value = values[[f"{trained.SYMBOL[key]} = {v}" for v in values].index(row.label)]
        mine = {r["seed"]: 100 * r["test_accuracy"] for r in runs if r["value"] == value}
        expected = stats.paired_t(mine, base)
        assert row.comparison.mean == pytest.approx(expected.mean) and row.comparison.n == len(set(mine) & set(base))
        assert row.parameters == next(r["params"] for r in runs if r["value"] == value)
    testable = [r for r in table.compared if r.comparison.p is not None]
    assert [r.holm_p for r in testable] == pytest.approx(stats.holm([r.comparison.p for r in testable]))
    assert table.conclusions()                                   # sentences, generated


@pytest.mark.parametrize("task", ["patches", "recoloured"])
def test_compare_grid_is_every_module_against_the_plain_network(task):
    table = analysis.compare_grid(task)
    records = pretrained.records(task)
    assert table.reference.label == "plain" and [r.label for r in table.compared] == chattn.available()
    assert "Holm" in str(table).splitlines()[1]
    plain = {r["seed"]: 100 * r["test_accuracy"] for r in records if r["attn"] == "none"}
    for row in table.compared:
        mine = {r["seed"]: 100 * r["test_accuracy"] for r in records if r["attn"] == row.label}
        assert row.comparison.differences == pytest.approx(tuple(mine[s] - plain[s] for s in sorted(mine)))
        assert row.parameters == next(r["params"] for r in records if r["attn"] == row.label)
    assert len([r for r in table.compared if r.holm_p is not None]) == 11


def test_the_comparisons_read_the_runs_of_another_epoch_count():
    """epochs=: the E = 24 grid, while the book still reads chattn.runs.EPOCHS (its runs arrive
    over several sessions; a comparison of the seeds shipped so far)."""
    records = pretrained.records("patches", epochs=24)
    table = analysis.compare_grid("patches", epochs=24)
    from chattn.runs import EPOCHS

    assert "24 epochs" in table.title and f"{EPOCHS['patches']} epochs" in analysis.compare_grid("patches").title
    plain = {r["seed"]: 100 * r["test_accuracy"] for r in records if r["attn"] == "none"}
    assert table.reference.label == "plain" and len(plain) >= 2
    for row in table.compared:
        mine = {r["seed"]: 100 * r["test_accuracy"] for r in records if r["attn"] == row.label}
        assert row.comparison.differences == pytest.approx(tuple(mine[s] - plain[s] for s in sorted(mine)))
    with pytest.raises(ValueError, match="epochs"):
        analysis.compare_grid("patches", epochs=7)


def test_compare_control_finds_a_plain_network_of_the_modules_size(monkeypatch):
    grid = pretrained.records("recoloured")
    gsop = next(r["params"] for r in grid if r["attn"] == "gsop")
    plain = [r for r in grid if r["attn"] == "none"]
    wide = [{**r, "params": int(gsop * 1.05), "model": {**r["model"], "width": 48},
             "test_accuracy": r["test_accuracy"] + 0.01 * (1 + r["seed"])} for r in plain]
    too_wide = [{**r, "params": int(gsop * 1.5), "model": {**r["model"], "width": 64}} for r in plain]
    monkeypatch.setattr(pretrained, "control_records", lambda task, epochs=None: wide + too_wide)
    table = analysis.compare_control("gsop", "recoloured")
    assert table.reference.label == "plain, width 48" and table.reference.parameters == int(gsop * 1.05)
    assert [r.label for r in table.compared] == ["gsop", "plain"]
    assert table.row("plain").comparison.differences == pytest.approx(tuple(-1.0 - r["seed"] for r in plain))
    monkeypatch.setattr(pretrained, "control_records", lambda task, epochs=None: too_wide)
    with pytest.raises(ValueError, match="no capacity control within ±10%"):
        analysis.compare_control("gsop", "recoloured")
    other_lr = [{**r, "lr": 2 * r["lr"]} for r in wide]            # of the size, but another recipe
    monkeypatch.setattr(pretrained, "control_records", lambda task, epochs=None: other_lr)
    with pytest.raises(ValueError, match="5 of that size with another recipe"):
        analysis.compare_control("gsop", "recoloured")


def test_the_shipped_controls_match_their_modules_with_the_grids_seeds():
    """The recoloured grid's capacity controls (issue 18): DIANet's and GSoP's, each a plain network
    within ±10 % of the module's parameters, the grid's seeds, its recipe."""
    grid = pretrained.records("recoloured")
    for attn, width in [("dia", 44), ("gsop", 48)]:
        table = analysis.compare_control(attn, "recoloured")
        assert table.reference.label == f"plain, width {width}"
        assert abs(table.reference.parameters / table.row(attn).parameters - 1) <= 0.10
        seeds = sorted(r["seed"] for r in grid if r["attn"] == attn)
        assert len(table.reference.runs) == len(seeds) == 5
        for row in table.compared:                      # every seed paired, none left out
            assert len(row.comparison.differences) == 5


# ---------------------------------------------------------------------------------- the epoch count E

def made_up_curve(tests: dict, train: float = 0.9) -> dict:
    """{N: records} with the given test accuracies (fractions) per N, seeds 0, 1, ... in order."""
    return {n: [{"seed": s, "test_accuracy": a, "train_accuracy": train} for s, a in enumerate(accs)]
            for n, accs in tests.items()}


def choose(tests: dict, train: float = 0.9):
    return analysis.choose_epochs("patches", analysis.curve("patches", made_up_curve(tests, train)))


def test_curve_is_mean_sample_std_and_train_mean_per_epoch_count_in_percent():
    records = made_up_curve({6: [0.90, 0.92, 0.97], 3: [0.80]})
    records[6][0]["train_accuracy"] = 0.6
    points = analysis.curve("patches", records)
    assert [p.epochs for p in points] == [3, 6]
    assert points[0].std is None and points[0].mean == pytest.approx(80.0)
    assert points[1].seeds == (0, 1, 2) and points[1].test == pytest.approx((90.0, 92.0, 97.0))
    assert points[1].std == pytest.approx(statistics.stdev([90.0, 92.0, 97.0]))
    assert points[1].train_mean == pytest.approx(80.0)
    table = analysis.curve_table(points=points).splitlines()
    assert [row.split() for row in table[1:]] == [["3", "1", "80.00", "(1", "seed)", "90.00"],
                                                  ["6", "3", "93.00", "±", "3.61", "80.00"]]


def test_the_curve_shipped_is_read_from_the_records():
    for task in ("patches", "recoloured"):
        shipped = pretrained.curve_records(task)
        points = analysis.curve(task)
        assert [p.epochs for p in points] == sorted(shipped)
        for p in points:
            assert p.mean == pytest.approx(100 * statistics.fmean(r["test_accuracy"] for r in shipped[p.epochs]))


def test_e_is_the_smallest_n_whose_doubling_changes_the_mean_by_less_than_its_std():
    # 3 -> 6: +10 points, std 1.41; 6 -> 12: +0.5, std 2.83 (qualifies); 12 -> 24: +0.1 (qualifies too)
    choice = choose({3: [0.79, 0.81], 6: [0.88, 0.92], 12: [0.90, 0.91], 24: [0.905, 0.907]})
    assert choice.epochs == 6
    assert [(s.epochs, s.qualifies) for s in choice.steps] == [(3, False), (6, True), (12, True)]
    assert choice.steps[1].change == pytest.approx(0.5) and choice.steps[1].std == pytest.approx(2 * 2 ** 0.5)
    text = " ".join(choice.conclusions())
    assert "E = 6 epochs" in text and "+0.50 points" in text and "2.83 points over 2 seeds" in text
    assert "3 → 6 epochs +10.00 (std 1.41)" in text and "rough std" in text
    assert "90.0 % of its own training patches" in text


def test_a_later_doubling_that_still_counts_moves_e_past_an_earlier_flat_one():
    # 3 -> 6: +1.5 within the std 10.6 (two scattered seeds), 6 -> 12: +6.5, far above std 1.41
    choice = choose({3: [0.80, 0.95], 6: [0.88, 0.90], 12: [0.95, 0.96]})
    assert [(s.epochs, s.qualifies) for s in choice.steps] == [(3, True), (6, False)]
    assert choice.epochs is None
    assert choice.reason.startswith("The doubling from 6 epochs still counts: 6 → 12 epochs changed the mean by +6.50")
    later = choose({3: [0.80, 0.95], 6: [0.88, 0.90], 12: [0.95, 0.96], 24: [0.955, 0.955]})
    assert later.epochs == 12            # 12 -> 24 is flat, and no doubling after it counts


def test_a_drop_counts_like_a_gain_and_no_n_qualifies_while_every_doubling_moves_the_mean():
    choice = choose({3: [0.80, 0.81], 6: [0.90, 0.91], 12: [0.85, 0.86]})     # +10 then -5, std 0.71
    assert choice.epochs is None and not any(s.qualifies for s in choice.steps)
    assert "6 → 12 epochs changed the mean by -5.00, not less than the std 0.71" in choice.reason
    assert "Train 24 epochs to test 12" in choice.reason
    assert choice.conclusions() == [f"patches: no epoch count qualifies yet. {choice.reason}"]


def test_a_change_equal_to_the_std_does_not_qualify():
    # 3 seeds at N: 50, 62.5, 75 % -> std 12.5 exactly; 2N moves the mean by exactly 12.5
    tie = choose({3: [0.5, 0.625, 0.75], 6: [0.75, 0.75]})
    assert tie.steps[0].std == 12.5 and tie.steps[0].change == 12.5
    assert tie.epochs is None
    below = choose({3: [0.5, 0.625, 0.75], 6: [0.74, 0.74]})
    assert below.epochs == 3
    assert "over 3 seeds" in " ".join(below.conclusions()) and "rough" not in " ".join(below.conclusions())


def test_one_seed_has_no_std_so_its_n_cannot_qualify():
    choice = choose({3: [0.80], 6: [0.80, 0.81], 12: [0.805, 0.805]})      # 3 -> 6 changes by 0.5 only
    assert choice.steps[0].std is None and not choice.steps[0].qualifies
    assert choice.epochs == 6
    assert "3 → 6 epochs +0.50 (std none: one seed)" in " ".join(choice.conclusions())
    alone = choose({3: [0.80], 6: [0.80]})
    assert alone.epochs is None and "3 epochs: one seed, no std" in alone.reason


def test_no_n_with_its_double_and_no_curve():
    assert "no epoch count together with its double" in choose({3: [0.8, 0.9], 5: [0.8, 0.9]}).reason
    assert choose({}).reason.startswith("No curve is shipped")
    assert choose({}).conclusions() == ["patches: no epoch count qualifies yet. No curve is shipped."]


def test_the_shipped_curves_choice_follows_the_rule():
    for task in ("patches", "recoloured"):
        choice = analysis.choose_epochs(task)
        points = {p.epochs: p for p in analysis.curve(task)}
        flat = {n for n, p in points.items() if 2 * n in points and p.std is not None
                and abs(points[2 * n].mean - p.mean) < p.std}
        doublings = {n for n in points if 2 * n in points}
        settled = [n for n in doublings if all(m in flat for m in doublings if m >= n)]
        assert choice.epochs == min(settled, default=None)


@pytest.mark.parametrize("call,error,words", [
    (lambda: analysis.curve("imagenet"), ValueError, "task"),
    (lambda: analysis.curve("patches", {"3": []}), ValueError, "epoch counts"),
    (lambda: analysis.curve("patches", {0: []}), ValueError, "epoch counts"),
    (lambda: choose({3: [0.8, 0.9], 6: [0.8, 0.9]}).point(5), ValueError, r"epochs must be one of .*\[3, 6\]"),
])
def test_curve_bad_input(call, error, words):
    with pytest.raises(error, match=words):
        call()


# ---------------------------------------------------------------------------------- where a sweep's runs come from

def test_describe_sweep_gives_the_command_the_seeds_and_where_the_default_comes_from(tmp_path, monkeypatch):
    from chattn import runs

    monkeypatch.setattr(runs, "WEIGHTS_DIR", tmp_path)
    grid = runs.ship_dir(epochs=24)
    for seed in range(5):
        write_record(grid, "se", seed, 0.9, epochs=24)                    # the grid's SE, r = 4
    for r, seeds in [(2, 3), (8, 3), (32, 2)]:
        for seed in range(seeds):
            write_record(grid / "sweep", "se", seed, 0.9, {"reduction": r}, epochs=24)
    text = analysis.describe_sweep("se", epochs=24)
    assert text.startswith("The sweep's runs: `python -m chattn.train --sweep se:reduction=2,8,32 --seeds 3 "
                           "--epochs 24`, 2 to 3 seeds per value")
    assert "*r* = 4 is not trained again: its runs are the grid's" in text and "(5 seeds," in text
    write_record(grid / "sweep", "se", 2, 0.9, {"reduction": 32}, epochs=24)
    write_record(grid / "sweep", "se", 0, 0.9, {"reduction": 4}, epochs=24)  # the sweep trains r = 4 again
    text = analysis.describe_sweep("se", epochs=24)
    assert "--sweep se:reduction=2,4,8,32 --seeds 3" in text and "1 to 3 seeds per value" in text
    assert "*r* = 4, the value of the network above, is trained again" in text and "grid's" not in text
    write_record(grid / "sweep", "eca", 0, 0.9, {"k_size": 3}, epochs=24)  # ECA's default (psi) is no value
    assert analysis.describe_sweep("eca", epochs=24) == (
        "The sweep's runs: `python -m chattn.train --sweep eca:k_size=3 --seeds 1 --epochs 24`, 1 seed per "
        "value, the recipe of the network above.")
    with pytest.raises(ValueError, match="no run of fca's sweep is shipped at epochs=24"):
        analysis.describe_sweep("fca", epochs=24)
    with pytest.raises(ValueError, match="swept modules"):
        analysis.describe_sweep("gct")


def test_describe_grid_gives_the_command_and_the_seeds(tmp_path, monkeypatch):
    from chattn import runs

    monkeypatch.setattr(runs, "WEIGHTS_DIR", tmp_path)
    grid = runs.ship_dir("recoloured", epochs=48)
    for attn in ("none", "se", "gsop"):
        for seed in range(5):
            write_record(grid, attn, seed, 0.8, epochs=48)
    assert analysis.describe_grid("recoloured", epochs=48) == (
        "The grid's runs: `python -m chattn.train --all --task recoloured --seeds 5 --epochs 48`, the plain "
        "network and 2 modules, each with the same 5 seeds (0 to 4).")
    (grid / f"{runs.stem('gsop', 4)}.json").unlink()            # a grid still training
    text = analysis.describe_grid("recoloured", epochs=48)
    assert "4 to 5 seeds each (the grid is not complete)" in text and "pairs only the seeds" in text
    patches = runs.ship_dir("patches", epochs=24)
    for seed in (0, 2):                                            # not contiguous: listed
        write_record(patches, "none", seed, 0.9, epochs=24)
    assert analysis.describe_grid("patches", epochs=24) == (
        "The grid's runs: `python -m chattn.train --all --seeds 3 --epochs 24`, the plain network, each with the "
        "same 2 seeds (0 and 2).")
    with pytest.raises(ValueError, match="no grid is shipped"):
        analysis.describe_grid("patches", epochs=96)


@pytest.mark.parametrize("task", ["patches", "recoloured"])
def test_describe_grid_of_the_shipped_grids_matches_their_records(task):
    records = pretrained.records(task)
    text = analysis.describe_grid(task)
    assert f"--seeds {max(r['seed'] for r in records) + 1} --epochs {records[0]['epochs']}`" in text
    assert ("--task recoloured" in text) == (task == "recoloured")
    assert f"{len({r['attn'] for r in records}) - 1} modules" in text


@pytest.mark.parametrize("attn", sorted(pretrained.SWEEPS))
def test_describe_sweep_of_the_shipped_sweeps_matches_their_records(attn):
    key, values = pretrained.SWEEPS[attn]
    own = [r for r in pretrained.sweep_records(attn) if r["source"] == "sweep"]
    text = analysis.describe_sweep(attn)
    trained_values = ",".join(str(v) for v in values if any(r["value"] == v for r in own))
    assert f"--sweep {attn}:{key}={trained_values} --seeds {max(r['seed'] for r in own) + 1} " in text
    assert f"--epochs {own[0]['epochs']}`" in text
