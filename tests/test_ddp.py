"""Training on more than one process: ``torchrun -m chattn.train`` with DistributedDataParallel (gloo
on CPU), synchronised BatchNorm, and a folder of images.

The 2-process run is compared with one process on the same global batch. Why the two must agree:
the DistributedSampler gives each rank every other sample of the same shuffled order, so the two
ranks' batches together are the single process's batch; augmentation draws follow the position in
the global batch; with ``--sync-bn all`` every BatchNorm normalises with the statistics of the
global batch (a per-rank BatchNorm would see 8 samples instead of 16 and compute another
function); and DDP's average of the two ranks' gradients of their mean losses is the gradient of
the global mean loss. What remains is float rounding (sums taken in another order). SGD keeps it
there; Adam's first steps (``m / sqrt(v)``, about ``sign(g)``) would turn the rounding of
near-zero gradient entries into full-size steps, so the comparison uses ``--optimizer sgd``. Both
runs use the contiguous memory layout (channels-last float32 gradients on CPU differ by more than
rounding; see ``chattn.train``).
"""
import json
import os
import subprocess
import sys
import time

import numpy as np
import pytest
import torch
from PIL import Image

import chattn
from chattn import data, distributed, train
from chattn.models.small import small_resnet

RUN = ["--attn", "srm", "--quiet", "--threads", "1", "--epochs", "1", "--per-class", "8",
       "--test-per-class", "4", "--batch-size", "16", "--optimizer", "sgd", "--lr", "0.05"]


pytestmark = pytest.mark.usefixtures("one_thread")     # tests/conftest.py


@pytest.mark.slow
def test_two_processes_compute_what_one_process_computes(tmp_path):
    start = time.perf_counter()
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                           "-m", "chattn.train", *RUN, "--sync-bn", "all", "--out", str(tmp_path)],
                          capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    ddp_seconds = time.perf_counter() - start
    # only rank 0 wrote: one record, one weights file
    assert sorted(p.name for p in tmp_path.iterdir()) == ["small_resnet_srm_seed0.json",
                                                         "small_resnet_srm_seed0.safetensors"]
    assert proc.stdout.count("srm       seed 0") == 1
    rec = json.loads((tmp_path / "small_resnet_srm_seed0.json").read_text())
    assert (rec["world_size"], rec["device"], rec["sync_bn"], rec["bn_synchronised"]) == (2, "cpu", "all", True)
    bns = [n for n, m in small_resnet("srm").named_modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert rec["synchronised_bn"] == bns and len(bns) == 27          # every BatchNorm, SRM's included
    # both ranks end with the same weights (each rank hashed its own state_dict)
    assert len(rec["rank_weights_sha256"]) == 2 and len(set(rec["rank_weights_sha256"])) == 1

    model, single = train.train_run("srm", epochs=1, per_class=8, test_per_class=4, batch_size=16,
                                    optimizer="sgd", lr=0.05, progress=False, channels_last=False)
    assert single["world_size"] == 1 and single["bn_synchronised"] is False
    assert len(rec["loss_curve"]) == len(single["loss_curve"]) == 4
    # Same losses: the first steps to rounding; later ones drift apart as rounding differences
    # (two half-batch gradients averaged vs one full batch) are amplified by training (measured
    # on a fresh clone: step 3 equal to 5e-7, step 4 off by 8e-5 relative).
    np.testing.assert_allclose(rec["loss_curve"][:2], single["loss_curve"][:2], rtol=1e-5)
    np.testing.assert_allclose(rec["loss_curve"], single["loss_curve"], rtol=1e-3)
    from safetensors.torch import load_file
    saved = load_file(str(tmp_path / rec["weights"]))
    torch.manual_seed(0)
    init = small_resnet("srm").state_dict()                 # the runs' initial weights (seed 0)
    for key, value in model.state_dict().items():
        # The two runs' weights differ by a few percent of their update at most: rounding (two
        # half-batch gradients averaged vs one full batch) grows over the 4 steps. Measured: < 1 %
        # on an AVX512 CPU, 1.5 % (stem.0.weight) on this AMD EPYC (AVX2). A DDP bug (gradients
        # not averaged, BatchNorm not synchronised) moves them by tens of percent.
        if value.is_floating_point():
            moved = (value - init[key]).abs().max().item()
            assert (saved[key] - value).abs().max().item() <= 0.05 * moved + 1e-7, key
    assert rec["test_accuracy"] == pytest.approx(single["test_accuracy"], abs=1 / 32)
    print(f"2-process DDP run: {ddp_seconds:.1f} s")


def test_sync_batchnorm_replaces_the_pooled_statistics_batchnorms():
    for attn in ("srm", "gsop", "enc", "bilinear"):
        net = small_resnet(attn)
        names = distributed.sync_batchnorm(net, "attention")
        assert names and all(".attn." in n for n in names), attn
        modules = dict(net.named_modules())
        assert all(isinstance(modules[n], distributed.SyncBatchNorm) for n in names)
        assert not isinstance(net.stem[1], distributed.SyncBatchNorm)           # the backbone's stay
    assert distributed.sync_batchnorm(small_resnet("se"), "attention") == []
    assert distributed.sync_batchnorm(small_resnet("se"), "none") == []
    with pytest.raises(ValueError, match="which"):
        distributed.sync_batchnorm(small_resnet("se"), "some")


def test_sync_batchnorm_in_one_process_is_batchnorm():
    torch.manual_seed(0)
    plain = small_resnet("srm")
    synced = small_resnet("srm")
    synced.load_state_dict(plain.state_dict())
    distributed.sync_batchnorm(synced, "all")
    assert set(synced.state_dict()) == set(plain.state_dict())           # same keys: same files
    x = torch.randn(4, 3, 32, 32)
    torch.testing.assert_close(synced(x), plain(x))
    torch.testing.assert_close(synced.stem[1].running_var, plain.stem[1].running_var)


def write_folder(root, classes=("cat", "dog"), per_class=4, size=(40, 48)):
    g = np.random.default_rng(0)
    for split in ("train", "val"):
        for i, c in enumerate(classes):
            (root / split / c).mkdir(parents=True)
            for k in range(per_class):
                img = g.integers(0, 256, size + (3,), dtype=np.uint8)
                img[..., i] = 255                                  # a class you can see: a red or green cast
                Image.fromarray(img).save(root / split / c / f"{k}.png")
    (root / "train" / "cat" / "notes.txt").write_text("not an image")


def test_image_folder_reads_the_imagenet_layout_with_pil(tmp_path):
    write_folder(tmp_path)
    train_set = data.ImageFolder(tmp_path / "train", size=32, train=True)
    val_set = data.ImageFolder(tmp_path / "val", size=32, train=False)
    assert train_set.classes == ["cat", "dog"] and len(train_set) == 8       # the .txt is skipped
    x, y = val_set[0]
    assert x.shape == (3, 32, 32) and x.dtype == torch.float32 and y == 0
    # evaluation: the centre crop of the image resized to 37 px on its short side, normalised
    img = Image.open(tmp_path / "val" / "cat" / "0.png").convert("RGB").resize((44, 37), Image.BILINEAR)
    ref = torch.from_numpy(np.asarray(img.crop((6, 2, 38, 34)), dtype=np.float32) / 255).permute(2, 0, 1)
    mean, std = torch.tensor(data.IMAGENET_MEAN)[:, None, None], torch.tensor(data.IMAGENET_STD)[:, None, None]
    torch.testing.assert_close(x, (ref - mean) / std)
    assert val_set[5][1] == 1 and train_set[0][0].shape == (3, 32, 32)
    with pytest.raises(ValueError, match="no images"):
        data.ImageFolder(tmp_path / "train" / "cat")
    with pytest.raises(ValueError, match="not a directory"):
        data.ImageFolder(tmp_path / "missing")


def test_training_on_a_folder_of_images(tmp_path):
    write_folder(tmp_path / "data")
    rc = train.main(["--data", str(tmp_path / "data"), "--attn", "eca", "--patch", "32", "--epochs", "2",
                     "--batch-size", "4", "--workers", "0", "--quiet", "--threads", "1", "--out", str(tmp_path / "out")])
    assert rc == 0
    rec = json.loads((tmp_path / "out" / "small_resnet_eca_seed0.json").read_text())
    assert rec["classes"] == ["cat", "dog"] and rec["model"]["num_classes"] == 2
    assert rec["world_size"] == 1 and rec["data"] == str(tmp_path / "data") and len(rec["loss_curve"]) == 4
    assert 0 <= rec["test_accuracy"] <= 1 and rec["train_accuracy"] is None


def test_cli_checks_the_new_options(tmp_path):
    with pytest.raises(SystemExit):
        train.main(["--attn", "se", "--data", str(tmp_path / "missing"), "--out", str(tmp_path)])
    with pytest.raises(SystemExit):
        train.main(["--attn", "se", "--sync-bn", "some", "--out", str(tmp_path)])
    if not torch.cuda.is_available():
        with pytest.raises(SystemExit):
            train.main(["--attn", "se", "--device", "cuda", "--out", str(tmp_path)])
    with pytest.raises(ValueError, match="optimizer"):
        train.train_run("se", optimizer="lamb", progress=False)
    assert "srm" in distributed.POOLED_BN and set(distributed.POOLED_BN) <= set(chattn.available())


def test_resnet50_on_a_folder_of_images_is_recorded_as_such(tmp_path):
    write_folder(tmp_path / "data", per_class=2)
    rc = train.main(["--data", str(tmp_path / "data"), "--arch", "resnet50", "--attn", "se", "--patch", "32",
                     "--epochs", "1", "--batch-size", "4", "--workers", "0", "--quiet", "--threads", "1",
                     "--optimizer", "sgd", "--lr", "0.01", "--out", str(tmp_path / "out")])
    assert rc == 0
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["resnet50_se_seed0.json", "resnet50_se_seed0.safetensors"]
    rec = json.loads((tmp_path / "out" / "resnet50_se_seed0.json").read_text())
    assert rec["model"] == {"arch": "resnet50", "attn": "se", "num_classes": 2, "options": {}} and rec["arch"] == "resnet50"
    assert rec["params"] == 28_071_976 - 2048 * 998 - 998            # the official total, with a 2-class fc
    assert rec["optimizer"].startswith("SGD")
