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



# --- the recoloured task -----------------------------------------------------------------------------

def channel_means(x: torch.Tensor) -> torch.Tensor:
    """Per sample and channel, the mean of the [0, 1] image: ``(N, 3)``."""
    return denormalize(x).mean((2, 3))


def test_recolour_is_seeded_and_gives_each_sample_and_channel_its_own_colour():
    x, y = make_dataset("train", per_class=16)
    a = data.recolour(x, torch.Generator().manual_seed(3))
    b = data.recolour(x, torch.Generator().manual_seed(3))
    c = data.recolour(x, torch.Generator().manual_seed(4))
    assert a.shape == x.shape and a.dtype == x.dtype == torch.float32
    assert torch.equal(a, b) and not torch.equal(a, c) and not torch.allclose(a, x, atol=1e-3)
    # the channel-mean ratio recoloured / clean: one per sample and channel, all different
    ratio = channel_means(a) / channel_means(x)
    assert ratio.std(0).min() > 0.1                        # across samples, in every channel
    assert (ratio[:, 0] - ratio[:, 1]).abs().median() > 0.05 and (ratio[:, 1] - ratio[:, 2]).abs().median() > 0.05
    assert torch.equal(x, make_dataset("train", per_class=16)[0])     # the input is not changed in place


def test_recolour_stays_in_the_image_range_and_tints_grey_patches():
    x, y = make_dataset("train", per_class=16)
    img = denormalize(data.recolour(x, torch.Generator().manual_seed(0), gain=4, contrast=4))
    assert img.min() >= -1e-5 and img.max() <= 1 + 1e-5 and torch.isfinite(img).all()
    grey = y == PHOTOS.index("brick")                     # a grey photograph: R = G = B
    clean = denormalize(x[grey])
    assert torch.allclose(clean[:, 0], clean[:, 1], atol=1e-6) and torch.allclose(clean[:, 1], clean[:, 2], atol=1e-6)
    m = channel_means(data.recolour(x[grey], torch.Generator().manual_seed(0)))
    assert ((m.amax(1) - m.amin(1)) / m.mean(1)).min() > 0.05    # every patch comes out tinted
    flat = normalize(torch.full((4, 3, 8, 8), 0.5))        # a flat grey patch: a colour, no texture
    out = denormalize(data.recolour(flat, torch.Generator().manual_seed(0)))
    assert torch.isfinite(out).all() and (out.amax((2, 3)) - out.amin((2, 3))).max() < 1e-5
    assert (out[:, :, 0, 0].amax(1) - out[:, :, 0, 0].amin(1)).min() > 0.02


def test_recolour_with_unit_factors_is_the_identity():
    x, _ = make_dataset("test", per_class=4)
    assert torch.allclose(data.recolour(x, torch.Generator().manual_seed(0), gain=1, contrast=1), x, atol=1e-5)
    # gain alone: each channel times one factor (where nothing clipped); contrast alone keeps the means
    img = denormalize(x)
    out = denormalize(data.recolour(x, torch.Generator().manual_seed(1), contrast=1))
    unclipped = (out < 1 - 1e-4).all(3).all(2)
    scale = out.sum((2, 3)) / img.sum((2, 3))
    assert unclipped.float().mean() > 0.5
    assert torch.allclose(out[unclipped], (scale[:, :, None, None] * img)[unclipped], atol=1e-4)
    assert ((scale[unclipped] >= 0.5 - 1e-4) & (scale[unclipped] <= 2 + 1e-4)).all()   # gain in [1/2, 2]
    out = denormalize(data.recolour(x, torch.Generator().manual_seed(2), gain=1))
    unclipped = ((out > 1e-4) & (out < 1 - 1e-4)).all(3).all(2)
    assert torch.allclose(out.mean((2, 3))[unclipped], img.mean((2, 3))[unclipped], atol=1e-4)
    assert not torch.allclose(out.std((2, 3))[unclipped], img.std((2, 3))[unclipped], atol=1e-2)


def test_batch_statistics_cannot_undo_the_recolouring_but_per_sample_channel_statistics_can():
    """The docstring's claim, on real patches of the task."""
    x, y = make_dataset("train", per_class=64)
    clean = denormalize(x)
    rec = denormalize(data.recolour(x, torch.Generator().manual_seed(0)))
    # 1. the colour balance (log R/G, log B/G of the channel means) of one photograph's patches
    #    varies across samples far more once recoloured; a grey photograph's is 0 before
    def balance(img):
        m = img.mean((2, 3))
        return torch.log(m[:, [0, 2]] / m[:, [1]])
    for k, name in enumerate(PHOTOS):
        before, after = balance(clean[y == k]).std(0), balance(rec[y == k]).std(0)
        assert (after > before + 0.1).all() and (after > 0.4).all(), (name, before, after)
    assert balance(clean[y == PHOTOS.index("grass")]).abs().max() < 1e-5

    # 2. BatchNorm maps each channel by one affine map for the whole batch (its statistics and
    #    its weight and bias). Even the best such map (least squares, per channel, over the batch)
    #    leaves a large part of the clean patches' variance unexplained (two thirds, measured) ...
    def unexplained(src, dst, dims):
        sm, dm = src.mean(dims, keepdim=True), dst.mean(dims, keepdim=True)
        var = ((src - sm) ** 2).mean(dims, keepdim=True).clamp_min(1e-12)      # a flat channel: a = 0
        a = ((src - sm) * (dst - dm)).mean(dims, keepdim=True) / var
        fit = a * (src - sm) + dm
        return (((dst - fit) ** 2).sum() / ((dst - dst.mean((0, 2, 3), keepdim=True)) ** 2).sum()).item()
    assert unexplained(clean, clean, (0, 2, 3)) < 1e-10
    assert unexplained(rec, clean, (0, 2, 3)) > 0.3
    # ... and a real BatchNorm's output of a patch depends on the draw it got
    bn = torch.nn.BatchNorm2d(3, affine=False).train()
    other = denormalize(data.recolour(x, torch.Generator().manual_seed(1)))
    assert (bn(rec) - bn(other)).abs().mean() > 0.3
    # 3. normalising each sample's channel by its own statistics undoes gain and contrast exactly,
    #    wherever the clip did not cut (no pixel of that sample and channel at 0 or 1)
    def per_sample(img):
        return (img - img.mean((2, 3), keepdim=True)) / img.std((2, 3), keepdim=True)
    cut = ((rec < 1e-4) | (rec > 1 - 1e-4)).any(3).any(2)
    assert 0.2 < (~cut).float().mean() < 1
    assert torch.allclose(per_sample(rec)[~cut], per_sample(clean)[~cut], atol=1e-3)
    #    and with gains alone, dividing by the channel's own mean is enough
    gained = denormalize(data.recolour(x, torch.Generator().manual_seed(0), contrast=1))
    cut = (gained > 1 - 1e-4).any(3).any(2)
    undone = gained / gained.mean((2, 3), keepdim=True)
    assert torch.allclose(undone[~cut], (clean / clean.mean((2, 3), keepdim=True))[~cut], atol=1e-3)
    assert unexplained(gained, clean, (2, 3)) < 0.1 < unexplained(gained, clean, (0, 2, 3))


def test_recoloured_dataset_is_deterministic_a_copy_and_not_the_patches():
    x, y = make_dataset("test", per_class=6, task="recoloured")
    data._dataset.cache_clear()                            # rebuilt, not served from the cache
    x2, y2 = make_dataset("test", per_class=6, task="recoloured")
    assert torch.equal(x, x2) and torch.equal(y, y2)
    clean, yc = make_dataset("test", per_class=6)
    assert torch.equal(y, yc) and not torch.allclose(x, clean, atol=1e-3)
    # the same patches underneath: per sample and channel, the clean pattern is there
    cut = ((denormalize(x) < 1e-4) | (denormalize(x) > 1 - 1e-4)).any(3).any(2)
    def per_sample(img):
        img = denormalize(img)
        return (img - img.mean((2, 3), keepdim=True)) / img.std((2, 3), keepdim=True)
    assert torch.allclose(per_sample(x)[~cut], per_sample(clean)[~cut], atol=1e-3)
    # train and test get other draws; another seed, other patches and draws
    assert not torch.equal(make_dataset("train", per_class=6, task="recoloured")[0][:8], x[:8])
    assert not torch.equal(make_dataset("test", per_class=6, seed=1, task="recoloured")[0], x)
    x.zero_()                                              # the caller's copy, not the cache
    assert torch.equal(make_dataset("test", per_class=6, task="recoloured")[0], x2)
    with pytest.raises(ValueError, match="task"):
        make_dataset("test", task="recolored")
    assert data.TASKS == ("patches", "recoloured")


@pytest.mark.parametrize("kwargs,error,arg", [
    (dict(gain=0.5), ValueError, "gain"),
    (dict(contrast=0.9), ValueError, "contrast"),
    (dict(gain=0), ValueError, "gain"),
    (dict(gain=float("inf")), ValueError, "gain"),
    (dict(contrast=float("inf")), ValueError, "contrast"),
    (dict(gain=float("nan")), ValueError, "gain"),
    (dict(gain="2"), TypeError, "gain"),
    (dict(contrast=True), TypeError, "contrast"),
    (dict(generator=0), TypeError, "generator"),
])
def test_recolour_bad_arguments_name_the_argument(kwargs, error, arg):
    x, _ = make_dataset("test", per_class=1)
    with pytest.raises(error, match=arg):
        data.recolour(x, **kwargs)


@pytest.mark.parametrize("x,error", [
    (torch.zeros(3, 8, 8), ValueError), (torch.zeros(2, 1, 8, 8), ValueError),
    (torch.zeros(2, 3, 8, 8, dtype=torch.int64), TypeError), (np.zeros((2, 3, 8, 8)), TypeError),
])
def test_recolour_rejects_what_is_not_a_batch_of_rgb_patches(x, error):
    with pytest.raises(error, match="x"):
        data.recolour(x)

def test_docstring_examples():
    result = doctest.testmod(data, extraglobs={"torch": torch}, verbose=False)
    assert result.attempted > 0 and result.failed == 0


def test_test_crop():
    from chattn.data import load_photo, split_columns, test_crop

    crop = test_crop("chelsea", 128)
    start, stop = split_columns("chelsea", "test")
    img = load_photo("chelsea")
    top = (img.shape[1] - 128) // 2
    assert torch.equal(crop, img[:, top:top + 128, start:start + 128])
    mid = test_crop("chelsea", 64, centre=True)
    left = (start + stop - 64) // 2
    assert torch.equal(mid, img[:, (img.shape[1] - 64) // 2:(img.shape[1] - 64) // 2 + 64, left:left + 64])
    with pytest.raises(ValueError, match="name"):
        test_crop("nope")
    with pytest.raises(ValueError, match="size"):
        test_crop("chelsea", 10_000)
