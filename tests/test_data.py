"""The photo-patch task: offline images, disjoint train/test regions, balance, determinism."""
import doctest

import numpy as np
import pytest
import skimage.data
import torch

from chattn import data
from chattn.data import PHOTOS, load_photo, make_dataset, normalize, denormalize, patch_coordinates


def test_every_photo_loads_offline_as_rgb_in_unit_range():
    shapes = set()
    for name in PHOTOS:
        img = load_photo(name)
        raw = np.asarray(getattr(skimage.data, name)())
        assert img.dtype == torch.float32 and img.shape == (3,) + raw.shape[:2]
        assert 0.0 <= img.min() and img.max() <= 1.0
        if raw.ndim == 2:           # grey sources are repeated over RGB
            assert torch.equal(img[0], img[1]) and torch.equal(img[1], img[2])
            assert torch.allclose(img[0] * 255, torch.from_numpy(raw).float())
        shapes.add(tuple(img.shape))
    assert len(PHOTOS) == len(set(PHOTOS)) == 8


def test_load_photo_returns_a_copy():
    a = load_photo("coffee")
    a.zero_()
    assert load_photo("coffee").max() > 0


@pytest.mark.parametrize("split,default", [("train", 400), ("test", 200)])
def test_shapes_dtypes_and_balance(split, default):
    x, y = make_dataset(split)
    assert x.shape == (8 * default, 3, 32, 32) and x.dtype == torch.float32
    assert y.dtype == torch.int64 and y.bincount(minlength=8).tolist() == [default] * 8
    x, y = make_dataset(split, patch=16, per_class=7)
    assert x.shape == (56, 3, 16, 16) and y.bincount().tolist() == [7] * 8


def test_train_and_test_regions_are_disjoint_with_a_gap_of_one_patch():
    for patch in (16, 32, 48):
        tr = patch_coordinates("train", patch, per_class=300)
        te = patch_coordinates("test", patch, per_class=300)
        for k, name in enumerate(PHOTOS):
            h, w = load_photo(name).shape[1:]
            a, b = tr[tr[:, 0] == k], te[te[:, 0] == k]
            # every patch lies inside its image
            for c in (a, b):
                assert c[:, 1].min() >= 0 and (c[:, 1] + patch).max() <= h
                assert c[:, 2].min() >= 0 and (c[:, 2] + patch).max() <= w
            # the rightmost train column and the leftmost test column are > patch apart
            last_train_col = (a[:, 2] + patch - 1).max().item()
            first_test_col = b[:, 2].min().item()
            assert first_test_col - last_train_col > patch, (name, patch)


def test_patches_hold_the_pixels_their_coordinates_name():
    x, y = make_dataset("test", per_class=5, seed=3)
    coords = patch_coordinates("test", per_class=5, seed=3)
    assert torch.equal(coords[:, 0], y)
    for i in range(0, 40, 3):
        k, t, l = coords[i].tolist()
        expected = normalize(load_photo(PHOTOS[k])[:, t:t + 32, l:l + 32])
        assert torch.allclose(x[i], expected)


def test_same_seed_same_tensors_other_seed_other_patches():
    a = make_dataset("train", per_class=20, seed=5)
    data._dataset.cache_clear()                     # rebuilt, not served from the cache
    b = make_dataset("train", per_class=20, seed=5)
    c = make_dataset("train", per_class=20, seed=6)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not torch.equal(a[0], c[0])


def test_cached_dataset_is_not_shared_with_the_caller():
    x, _ = make_dataset("test", per_class=3)
    x.zero_()
    assert make_dataset("test", per_class=3)[0].abs().sum() > 0


def test_normalisation_uses_train_region_statistics():
    mean, std = data.channel_stats()
    pixels = torch.cat([load_photo(n)[:, :, :int(0.6 * load_photo(n).shape[2])].reshape(3, -1) for n in PHOTOS], 1)
    assert torch.allclose(mean, pixels.mean(1)) and torch.allclose(std, pixels.std(1))
    x, _ = make_dataset("train")
    assert x.mean((0, 2, 3)).abs().max() < 0.15 and (x.std((0, 2, 3)) - 1).abs().max() < 0.15
    img = load_photo("rocket")
    assert torch.allclose(denormalize(normalize(img)), img, atol=1e-6)
    assert torch.allclose(normalize(img)[0], (img[0] - mean[0]) / std[0])


def test_augment_is_seeded_and_with_no_crop_or_jitter_is_a_flip():
    x, _ = make_dataset("train", per_class=4)
    a = data.augment(x, torch.Generator().manual_seed(1))
    b = data.augment(x, torch.Generator().manual_seed(1))
    assert torch.equal(a, b) and a.shape == x.shape and not torch.equal(a, x)
    f = data.augment(x, torch.Generator().manual_seed(2), pad=0, jitter=0)
    flips = set()
    for xi, fi in zip(x, f):
        options = [xi, xi.flip(2), xi.flip(1), xi.flip(1).flip(2)]
        hit = [torch.equal(fi, o) for o in options]
        assert any(hit)
        flips.add(hit.index(True))
    assert len(flips) > 1


def test_augment_crop_shifts_content_and_jitter_keeps_range():
    x, _ = make_dataset("train", per_class=4)
    a = data.augment(x, torch.Generator().manual_seed(0), pad=4, jitter=0.1)
    img = denormalize(a)
    assert img.min() >= -1e-5 and img.max() <= 1 + 1e-5


@pytest.mark.parametrize("call,arg", [
    (lambda: make_dataset("val"), "split"),
    (lambda: make_dataset("train", patch=0), "patch"),
    (lambda: make_dataset("train", patch=200), "patch"),
    (lambda: make_dataset("train", per_class=0), "per_class"),
    (lambda: load_photo("lena"), "name"),
    (lambda: normalize(torch.zeros(1, 32, 32)), "img"),
])
def test_bad_input_names_the_argument(call, arg):
    with pytest.raises(ValueError, match=arg):
        call()


def test_wrong_types_raise_typeerror():
    with pytest.raises(TypeError, match="per_class"):
        make_dataset("train", per_class=2.5)
    with pytest.raises(TypeError, match="img"):
        normalize(np.zeros((3, 4, 4)))


def test_docstring_examples():
    result = doctest.testmod(data, extraglobs={"torch": torch}, verbose=False)
    assert result.attempted > 0 and result.failed == 0
