"""chattn.export: every shipped network in ONNX (the grid's twelve and every network of the
reduction-ratio / kernel-size sweeps), run by onnxruntime, equals torch (logits and gates).

The networks come from the book build's cache (``_build/.photograph/<hash>``, written by
``book/_ext/chattn_photograph.py`` from the same package) when it is current, else they are
exported here (the default exporter, TorchScript; one test exports with dynamo). Inputs: patches of
the test regions of the book's photographs.
"""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from chattn import data, export, pretrained
from chattn.models import resnet50, small_resnet

ROOT = Path(__file__).resolve().parents[1]
TOL = 1e-4
LETTERS = {"reduction": "r", "k_size": "k"}
# the sweep networks: (key, attn, options), as the book's extension names them (se_r8, eca_k3, ...)
# every sweep value with its own network (at the grid's default value the grid's network is offered)
SWEEP_NETWORKS = [(f"{attn}_{LETTERS[option]}{v}", attn, {option: v})
                  for attn, (option, _) in pretrained.SWEEPS.items() for v in pretrained.own_sweep_values(attn)]
NETWORKS = [(attn, attn, {}) for attn in ["none", "se", "enc", "gsop", "fca", "bilinear", "eca", "rcan_ca", "dia",
                                          "srm", "gct", "soca"]] + SWEEP_NETWORKS


def _extension():
    spec = importlib.util.spec_from_file_location("chattn_photograph", ROOT / "book/_ext/chattn_photograph.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def onnx_files(tmp_path_factory):
    """``{key: path}`` of every shipped network in ONNX."""
    cache = ROOT / "_build" / ".photograph" / _extension()._package_hash()
    if (cache / "manifest.json").is_file():
        manifest = json.loads((cache / "manifest.json").read_text())
        return {n["key"]: cache / n["file"] for n in manifest["networks"]}
    out = tmp_path_factory.mktemp("onnx")
    files, threads = {}, torch.get_num_threads()
    torch.set_num_threads(1)                                            # as the extension exports
    try:
        for key, attn, options in _extension().networks():
            export.to_onnx(pretrained.load(attn, **options), out / f"{key}.onnx")
            files[key] = out / f"{key}.onnx"
    finally:
        torch.set_num_threads(threads)
    return files


@pytest.mark.built         # after the book build in scripts/test.sh: reads its ONNX files (_build/.photograph)
def test_every_shipped_network_is_exported(onnx_files):
    assert [key for key, _, _ in _extension().networks()] == [key for key, _, _ in NETWORKS]
    assert sorted(onnx_files) == sorted(key for key, _, _ in NETWORKS)
    assert sorted(pretrained.shipped()) == sorted(key for key, _, options in NETWORKS if not options)
    for key, attn, options in SWEEP_NETWORKS:           # each its own trained network, not the grid's
        assert pretrained.weights_path(attn, **options).is_file(), key
        assert pretrained.weights_path(attn, **options) != pretrained.weights_path(attn), key


def _matches_torch(path, net) -> None:
    import onnxruntime as ort

    x, _ = data.make_dataset("test", per_class=3)                       # (24, 3, 32, 32), 8 photographs
    want = export.gates(net, x)
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1                                    # small networks, a shared CPU
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    assert names == list(want)                                          # logits, then every gate, in order
    assert session.get_inputs()[0].name == "x"
    got = dict(zip(names, session.run(None, {"x": x.numpy()})))
    for name, w in want.items():
        assert got[name].shape == tuple(w.shape), name
        assert np.abs(got[name] - w.numpy()).max() <= TOL, name
    assert len(names) > 1 or net.attn_name is None
    # a dynamic batch: one patch, and 64 (a chunk of the page), give the same logits as in the batch of 24
    one = session.run(["logits"], {"x": x[5:6].numpy()})[0]
    assert np.abs(one - want["logits"][5:6].numpy()).max() <= TOL
    many = session.run(["logits"], {"x": torch.cat([x, x, x[:16]]).numpy()})[0]
    assert np.abs(many[24:48] - want["logits"].numpy()).max() <= TOL


@pytest.mark.built         # as above: the build's ONNX files, else every shipped network exported again
@pytest.mark.parametrize("key,attn,options", NETWORKS, ids=[key for key, _, _ in NETWORKS])
def test_onnxruntime_matches_torch(onnx_files, key, attn, options, one_thread):
    _matches_torch(onnx_files[key], pretrained.load(attn, **options))


@pytest.mark.slow          # torch.export + onnxscript: a minute of CPU
def test_dynamo_exporter_matches_torch(tmp_path, one_thread):
    """The other exporter of to_onnx writes the same outputs (a trained network with spatial gates)."""
    net = pretrained.load("bilinear")
    names = export.to_onnx(net, tmp_path / "bilinear.onnx", exporter="dynamo")
    assert names == export.gate_names(net)
    _matches_torch(tmp_path / "bilinear.onnx", net)


def test_gate_names_follow_the_blocks(one_thread):
    net = small_resnet("dia").eval()
    names = export.gate_names(net)
    assert names == ["logits"] + [f"gate.stage{s}.block{b}" for s in (1, 2, 3) for b in (1, 2)]
    gct = export.gate_names(small_resnet("gct").eval())
    assert gct[:5] == ["logits", "gate.stem", "gate.stage1.block1.conv1", "gate.stage1.block1.conv2",
                       "gate.stage1.block1.conv3"]
    assert "gate.stage2.block1.downsample" in gct
    assert export.gate_names(small_resnet(None)) == ["logits"]
    # resnet50 names its blocks the same way (4 stages of 3, 4, 6, 3)
    wide = export.gates(resnet50("eca").eval(), torch.randn(2, 3, 64, 64))
    assert list(wide)[1:4] == ["gate.stage1.block1", "gate.stage1.block2", "gate.stage1.block3"]
    assert list(wide)[-1] == "gate.stage4.block3" and len(wide) == 1 + 16


def test_gates_are_what_the_module_computes(one_thread):
    net = small_resnet("bilinear").eval()
    x = torch.randn(3, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    out = export.gates(net, x)
    seen = []
    block = net.stages[1].blocks[0]
    h = block.bn3.register_forward_hook(lambda m, a, o: seen.append(block.attn.attention(o)))
    with torch.no_grad():
        logits = net(x)
    h.remove()
    assert torch.equal(out["logits"], logits)
    assert torch.equal(out["gate.stage2.block1"], seen[0])
    assert out["gate.stage2.block1"].shape == (3, 64, 16, 16)                  # bilinear: a gate over space
    assert net.training is False


def test_to_onnx_bad_input(tmp_path):
    net = small_resnet("se")
    with pytest.raises(TypeError, match="model"):
        export.to_onnx("se", tmp_path / "a.onnx")
    with pytest.raises(TypeError, match="path"):
        export.to_onnx(net, 3)
    with pytest.raises(ValueError, match="path"):
        export.to_onnx(net, tmp_path / "missing" / "a.onnx")
    with pytest.raises(ValueError, match="example"):
        export.to_onnx(net, tmp_path / "a.onnx", example=torch.randn(1, 3, 32, 32))
    with pytest.raises(ValueError, match="example"):
        export.to_onnx(net, tmp_path / "a.onnx", example=torch.randn(2, 1, 32, 32))
    with pytest.raises(ValueError, match="opset"):
        export.to_onnx(net, tmp_path / "a.onnx", opset=11)
    with pytest.raises(ValueError, match="exporter must be one of"):
        export.to_onnx(net, tmp_path / "a.onnx", exporter="jit")
    with pytest.raises(ValueError, match="parameters"):
        export.to_onnx(torch.nn.Identity(), tmp_path / "a.onnx")
    assert not (tmp_path / "a.onnx").exists()


def test_image_patches_cut_as_chattn_data():
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (70, 100, 3), dtype=np.uint8)
    x, grid = export.image_patches(img)
    assert grid == (2, 3) and x.shape == (6, 3, 32, 32) and x.dtype == torch.float32
    t = torch.from_numpy(img).permute(2, 0, 1).float() / 255
    assert torch.allclose(x[4], data.normalize(t[:, 32:64, 32:64]), atol=1e-6)   # row 1, column 1
    assert torch.allclose(x[2], data.normalize(t[:, 0:32, 64:96]), atol=1e-6)    # row 0, column 2
    grey, _ = export.image_patches(img[:, :, 0])
    assert torch.allclose(data.denormalize(grey)[:, 0], data.denormalize(grey)[:, 2], atol=1e-6)
    opaque = np.concatenate([img, np.full((70, 100, 1), 255, np.uint8)], 2)
    assert torch.equal(export.image_patches(opaque)[0], x)
    # the same pixels as a training patch of chattn.data give the same tensor
    photo = (data.load_photo("chelsea") * 255).round().byte().permute(1, 2, 0).numpy()
    k, top, left = data.patch_coordinates("test", per_class=1)[4].tolist()
    assert data.PHOTOS[k] == "chelsea"
    want = data.make_dataset("test", per_class=1)[0][4]
    got, _ = export.image_patches(np.ascontiguousarray(photo[top:top + 32, left:left + 32]))
    assert torch.allclose(got[0], want, atol=1e-6)


def test_image_patches_composites_transparent_pixels_onto_the_background():
    rng = np.random.default_rng(1)
    img = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
    alpha = rng.integers(0, 256, (64, 64, 1), dtype=np.uint8)
    alpha[:32] = 0                                                   # the top row of patches: transparent
    x, _ = export.image_patches(np.concatenate([img, alpha], 2))
    white = data.normalize(torch.ones(3, 32, 32))
    assert torch.equal(x[0], white) and torch.equal(x[1], white)     # not black: white, the default
    black, _ = export.image_patches(np.concatenate([img, alpha], 2), background=0)
    assert torch.equal(black[0], data.normalize(torch.zeros(3, 32, 32)))
    c = torch.from_numpy(img).float() / 255
    a = torch.from_numpy(alpha).float() / 255
    want = (c * a + (1 - a) * 1.0).permute(2, 0, 1)                  # c·α + background·(1 − α)
    assert torch.allclose(data.denormalize(x[3]), want[:, 32:, 32:], atol=1e-6)
    for bad in (-1, 256, 1.5, True, "white"):
        with pytest.raises(ValueError, match="background"):
            export.image_patches(img, background=bad)


def test_image_patches_bad_input():
    with pytest.raises(ValueError, match="smaller than one 32x32 patch"):
        export.image_patches(np.zeros((31, 100, 3), np.uint8))
    with pytest.raises(TypeError, match="uint8"):
        export.image_patches(np.zeros((64, 64, 3), np.float32))
    with pytest.raises(TypeError, match="image"):
        export.image_patches([[0]])
    with pytest.raises(ValueError, match="shape"):
        export.image_patches(np.zeros((64, 64, 2), np.uint8))


def test_docstring_examples():
    import doctest
    torch.manual_seed(0)
    result = doctest.testmod(export, extraglobs={"torch": torch, "np": np}, verbose=False)
    assert result.attempted >= 4 and result.failed == 0
