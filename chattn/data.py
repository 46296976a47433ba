r"""A small real-image task: which photograph does a 32x32 patch come from?

Eight images bundled in scikit-image's wheel (no download) are the eight classes: three grey
textures and five colour photographs. Every image is cut in two along its width: patches for
training come from the left part, patches for testing from the right part, with a gap of one
patch width between them, so no test pixel was ever seen in training.

.. code-block:: text

    column  0 ............ b-1 | b ... b+p-1 | b+p ............ W-1
            train region        gap (p = patch)  test region          b = ⌊0.6 W⌋

Patches are float32, normalised per channel with the mean and standard deviation of the train
regions (:func:`channel_stats` computes them; no number is typed in). Everything is built in about a
second and cached in memory. Augmentation (:func:`augment`) runs in torch on batches.

For ImageNet-sized work: :func:`preprocess` (the official networks' evaluation crop and
normalisation, :data:`IMAGENET_MEAN`, :data:`IMAGENET_STD`) and :class:`ImageFolder` (a folder of
images in the ImageNet layout, the papers' training augmentation).

Example::

    >>> from chattn.data import PHOTOS, make_dataset
    >>> x, y = make_dataset("train", per_class=10)
    >>> x.shape, x.dtype, y.bincount().tolist()
    (torch.Size([80, 3, 32, 32]), torch.float32, [10, 10, 10, 10, 10, 10, 10, 10])
"""
from __future__ import annotations

import functools
import math
import random
from pathlib import Path

import numpy as np
import torch

from . import _validate

#: The class names, i.e. the ``skimage.data`` functions that load each image; class index = position.
PHOTOS: tuple[str, ...] = ("brick", "grass", "gravel", "coffee", "chelsea", "astronaut", "rocket",
                           "immunohistochemistry")

#: Fraction of the width (from the left) that holds the train region.
TRAIN_FRACTION = 0.6

#: Default number of patches per class in each split.
PER_CLASS = {"train": 400, "test": 200}

SPLITS = ("train", "test")

#: The tasks, ``"patches"`` (the photographs as they are) and ``"recoloured"`` (every patch with
#: its own random per-channel gain and contrast, :func:`recolour`).
TASKS = ("patches", "recoloured")

#: The ranges f of :func:`recolour`, by name; gain and contrast factors are log-uniform in ``[1/f, f]``.
RECOLOUR = {"gain": 2.0, "contrast": 2.0}


@functools.lru_cache(maxsize=None)
def _photo(name: str) -> torch.Tensor:
    import skimage.data

    img = np.asarray(getattr(skimage.data, name)())             # (H, W) or (H, W, 3), uint8
    if img.ndim == 2:
        img = np.repeat(img[:, :, None], 3, axis=2)              # grey -> RGB
    t = torch.from_numpy(np.ascontiguousarray(img[:, :, :3])).permute(2, 0, 1)   # (3, H, W)
    return t.float().div_(255.0)


def load_photo(name: str) -> torch.Tensor:
    """The image ``skimage.data.<name>()`` as a float tensor ``(3, H, W)`` in ``[0, 1]``
    (grey images repeated over the three channels).

    Args:
        name: one of :data:`PHOTOS`.

    Example::

        >>> load_photo("chelsea").shape
        torch.Size([3, 300, 451])
    """
    _validate.one_of(name, "name", PHOTOS)
    return _photo(name).clone()


def split_columns(name: str, split: str, patch: int = 32) -> tuple[int, int]:
    """Columns ``[start, stop)`` of the region of image ``name`` that ``split`` draws patches from.

    Train: ``[0, b)``; test: ``[b + patch, W)`` with ``b = ⌊0.6 W⌋``. Patches lie entirely
    inside their region, so a train patch and a test patch are always ``patch`` columns apart.
    A ``patch`` that does not fit in both regions raises ValueError.

    Args:
        name: one of :data:`PHOTOS`.
        split: ``'train'`` or ``'test'``.
        patch: the side of the square patches in pixels, default 32.

    Example::

        >>> split_columns("chelsea", "train"), split_columns("chelsea", "test")
        ((0, 270), (302, 451))
    """
    _validate.one_of(name, "name", PHOTOS)
    _validate.one_of(split, "split", SPLITS)
    patch = _validate.positive_int(patch, "patch")
    h, w = _photo(name).shape[1:]
    b = int(TRAIN_FRACTION * w)
    regions = {"train": (0, b), "test": (b + patch, w)}
    for part, (start, stop) in regions.items():     # both, so a patch size serves both splits or none
        if stop - start < patch or h < patch:
            raise ValueError(f"patch={patch} does not fit in the {part} region of {name!r} "
                             f"({h} rows x {max(stop - start, 0)} columns)")
    return regions[split]


@functools.lru_cache(maxsize=None)
def _channel_stats() -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean and std over all pixels of the train regions (gap-independent: ``[0, b)``)."""
    pixels = torch.cat([_photo(n)[:, :, :split_columns(n, "train", 1)[1]].reshape(3, -1) for n in PHOTOS], 1)
    return pixels.mean(1), pixels.std(1)


def channel_stats() -> tuple[torch.Tensor, torch.Tensor]:
    """``(mean, std)``, each ``(3,)``: the statistics :func:`normalize` uses."""
    mean, std = _channel_stats()
    return mean.clone(), std.clone()


def normalize(img: torch.Tensor) -> torch.Tensor:
    r"""``(img - mean) / std`` per channel, with the statistics of :func:`channel_stats`.

    Args:
        img: a float image ``(3, H, W)`` or batch ``(N, 3, H, W)``, values in [0, 1].

    Returns:
        The normalised tensor, of ``img``'s shape.
    """
    mean, std = _stats_like(img, "img")
    return (img - mean) / std


def denormalize(x: torch.Tensor) -> torch.Tensor:
    r"""Inverse of :func:`normalize`: ``x * std + mean`` (back to [0, 1] images, for display).

    Args:
        x: a normalised float image ``(3, H, W)`` or batch ``(N, 3, H, W)``.

    Returns:
        The image(s) in [0, 1] (not clipped), of ``x``'s shape.
    """
    mean, std = _stats_like(x, "x")
    return x * std + mean


def _stats_like(x, name: str):
    if not isinstance(x, torch.Tensor) or not x.is_floating_point():
        raise TypeError(f"{name} must be a floating-point torch.Tensor, got {type(x).__name__}")
    if x.dim() not in (3, 4) or x.shape[-3] != 3:
        raise ValueError(f"{name} must have shape (3, H, W) or (N, 3, H, W), got {tuple(x.shape)}")
    mean, std = _channel_stats()
    return mean.to(x)[:, None, None], std.to(x)[:, None, None]


def patch_coordinates(split: str, patch: int = 32, per_class: int | None = None, seed: int = 0) -> torch.Tensor:
    """Where every patch of :func:`make_dataset` comes from: a long tensor ``(N, 3)`` of
    ``(class, top, left)``, classes in order, ``per_class`` rows each.

    Top-left corners are drawn uniformly (with replacement) inside the split's region with a
    generator seeded by ``(seed, split, class)``.

    Args:
        split: ``'train'`` or ``'test'``.
        patch: the side p of the square patches in pixels, default 32.
        per_class: rows per class; default 400 (train) / 200 (test).
        seed: a non-negative int, default 0.
    """
    _validate.one_of(split, "split", SPLITS)
    patch = _validate.positive_int(patch, "patch")
    per_class = PER_CLASS[split] if per_class is None else _validate.positive_int(per_class, "per_class")
    seed = _validate.positive_int(seed, "seed", minimum=0)
    rows = []
    for k, name in enumerate(PHOTOS):
        start, stop = split_columns(name, split, patch)
        h = _photo(name).shape[1]
        rng = np.random.default_rng([seed, SPLITS.index(split), k])
        top = rng.integers(0, h - patch + 1, per_class)
        left = rng.integers(start, stop - patch + 1, per_class)
        rows.append(np.stack([np.full(per_class, k), top, left], 1))
    return torch.from_numpy(np.concatenate(rows)).long()


@functools.lru_cache(maxsize=16)
def _dataset(split: str, patch: int, per_class: int | None, seed: int, task: str = "patches"):
    coords = patch_coordinates(split, patch, per_class, seed)
    x = torch.stack([_photo(PHOTOS[k])[:, t:t + patch, l:l + patch] for k, t, l in coords.tolist()])
    x = normalize(x)
    if task == "recoloured":      # fixed draws per split, so every run is evaluated on the same tensors
        x = recolour(x, torch.Generator().manual_seed(1_000_003 * seed + SPLITS.index(split)))
    return x, coords[:, 0].clone()


def make_dataset(split: str, patch: int = 32, per_class: int | None = None, seed: int = 0,
                 task: str = "patches"):
    """Patches and labels for ``split`` (``'train'`` or ``'test'``).

    Args:
        split: ``'train'`` (left region) or ``'test'`` (right region).
        patch: side p of the square patches, 32.
        per_class: patches per class; default 400 (train) / 200 (test).
        seed: seed of the patch positions (and of the recolouring); same seed, same tensors.
        task: ``'patches'`` (the photographs as they are) or ``'recoloured'`` (each patch through
            :func:`recolour`, with draws fixed by ``seed`` and ``split``).

    Returns:
        ``x``: float32 ``(N, 3, p, p)``, normalised;  ``y``: int64 ``(N,)`` class indices into
        :data:`PHOTOS`, ``N = 8 · per_class``, classes in blocks (shuffle when training).

    Example::

        >>> x, y = make_dataset("test", per_class=5)
        >>> x.shape, y[:6].tolist()
        (torch.Size([40, 3, 32, 32]), [0, 0, 0, 0, 0, 1])
    """
    _validate.one_of(task, "task", TASKS)
    x, y = _dataset(split, patch, per_class, seed, task)
    return x.clone(), y.clone()


def recolour(x: torch.Tensor, generator: torch.Generator | None = None, gain: float = RECOLOUR["gain"],
             contrast: float = RECOLOUR["contrast"]) -> torch.Tensor:
    r"""Give every sample of a normalised batch ``(N, 3, p, p)`` its own colour balance and contrast.

    On the [0, 1] image, per sample n and channel c, with :math:`m_{nc}` the mean of that
    channel over the patch:

    .. math::
        x'_{nc} = \mathrm{clip}\big(g_{nc}\,(m_{nc} + a_{nc}\,(x_{nc} - m_{nc})),\ 0,\ 1\big),

        \log g_{nc} \sim U(-\log f_g, \log f_g),\ \log a_{nc} \sim U(-\log f_a, \log f_a)

    with :math:`f_g` = ``gain`` and :math:`f_a` = ``contrast`` (2 and 2: each channel's brightness
    and contrast is halved or doubled at the extremes). A grey texture comes out tinted; a
    colour photograph's channel balance no longer tells which photograph it is. The gains differ
    per sample, so a BatchNorm (statistics of the whole batch) cannot undo them; a gate computed
    from the sample itself, per channel, can, except where the clip cut values (about a tenth of
    the pixels of the task's patches at the defaults). The draws come from ``generator``.

    Args:
        x: a normalised batch ``(N, 3, p, p)`` (see :func:`normalize`).
        generator: the source of the random factors; default: torch's global generator.
        gain: :math:`f_g \ge 1`, default 2.
        contrast: :math:`f_a \ge 1`, default 2.

    Returns:
        The recoloured batch, normalised, ``(N, 3, p, p)``.

    Example::

        >>> x, _ = make_dataset("train", per_class=2)
        >>> recolour(x, torch.Generator().manual_seed(0)).shape
        torch.Size([16, 3, 32, 32])
    """
    _validate.feature_map(x)
    if x.shape[1] != 3:
        raise ValueError(f"x must be a batch of RGB patches (N, 3, p, p), got shape {tuple(x.shape)}")
    gain = _validate.positive_float(gain, "gain")
    contrast = _validate.positive_float(contrast, "contrast")
    for value, name in ((gain, "gain"), (contrast, "contrast")):
        if not 1 <= value < math.inf:      # inf: factors 0 and inf, and 0 * inf = nan on flat patches
            raise ValueError(f"{name} must be a finite number >= 1 (factors in [1/{name}, {name}]), got {value}")
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator or None, got {type(generator).__name__}")
    n = x.shape[0]

    def factor(f):
        return torch.exp(math.log(f) * (2 * torch.rand(n, 3, 1, 1, generator=generator) - 1))

    g, a = factor(gain), factor(contrast)
    img = denormalize(x)
    mean = img.mean((2, 3), keepdim=True)
    return normalize((g * (mean + a * (img - mean))).clamp(0, 1))


def augment(x: torch.Tensor, generator: torch.Generator | None = None, pad: int = 4,
            jitter: float = 0.1) -> torch.Tensor:
    r"""Random training augmentation of a normalised batch ``(N, 3, p, p)``, in torch.

    Per sample: a horizontal and a vertical flip (each with probability 1/2), a crop of the
    reflect-padded patch shifted by up to ``pad`` pixels, and a brightness and contrast jitter
    :math:`x' = \mathrm{clip}(a(x - \bar x) + b\bar x, 0, 1)` with :math:`a, b \in [1-j, 1+j]`
    on the [0, 1] image. The draws come from ``generator``, so a seeded generator repeats them.

    Args:
        x: a normalised batch ``(N, 3, p, p)``.
        generator: the source of the random draws; default: torch's global generator.
        pad: the largest shift of the crop in pixels, default 4 (0: no crop).
        jitter: j, the half-width of the brightness and contrast factors, default 0.1 (0: none).

    Returns:
        The augmented batch, normalised, ``(N, 3, p, p)``.

    Example::

        >>> x, _ = make_dataset("train", per_class=2)
        >>> augment(x, torch.Generator().manual_seed(0)).shape
        torch.Size([16, 3, 32, 32])
    """
    _validate.feature_map(x, 3)
    pad = _validate.positive_int(pad, "pad", minimum=0)
    n, _, h, w = x.shape
    g = generator

    def coin():
        return torch.rand(n, generator=g) < 0.5

    x = torch.where(coin()[:, None, None, None], x.flip(3), x)
    x = torch.where(coin()[:, None, None, None], x.flip(2), x)
    if pad:
        padded = torch.nn.functional.pad(x, (pad,) * 4, mode="reflect")
        dy = torch.randint(0, 2 * pad + 1, (n,), generator=g)
        dx = torch.randint(0, 2 * pad + 1, (n,), generator=g)
        rows = (dy[:, None] + torch.arange(h))[:, None, :, None].expand(n, 3, h, w + 2 * pad)
        x = padded.gather(2, rows)
        cols = (dx[:, None] + torch.arange(w))[:, None, None, :].expand(n, 3, h, w)
        x = x.gather(3, cols)
    if jitter:
        img = denormalize(x)
        a = 1 + jitter * (2 * torch.rand(n, 1, 1, 1, generator=g) - 1)    # contrast
        b = 1 + jitter * (2 * torch.rand(n, 1, 1, 1, generator=g) - 1)    # brightness
        mean = img.mean((1, 2, 3), keepdim=True)
        x = normalize((a * (img - mean) + b * mean).clamp(0, 1))
    return x


# --- ImageNet: the official networks' preprocessing, a folder of images ----------------------------

#: The RGB mean of the normalisation every official network was trained with, ``(img - mean) / std`` on [0, 1].
IMAGENET_MEAN = (0.485, 0.456, 0.406)
#: The RGB standard deviation of that normalisation.
IMAGENET_STD = (0.229, 0.224, 0.225)


def preprocess(image, size: int = 224) -> torch.Tensor:
    r"""An RGB image as the official networks were evaluated on it: the short side resized to
    ``size / 0.875`` (256 for 224), the centre ``size`` x ``size`` crop, values in [0, 1], then
    ``(x - IMAGENET_MEAN) / IMAGENET_STD`` per channel.

    Args:
        image: a ``PIL.Image`` or an ``(H, W, 3)`` / ``(H, W)`` uint8 array (e.g. ``skimage.data.chelsea()``).
        size: side of the crop.

    Shape: returns ``(3, size, size)`` float32.

    Example::

        >>> import numpy as np
        >>> preprocess(np.zeros((300, 451, 3), dtype=np.uint8)).shape
        torch.Size([3, 224, 224])
    """
    import numpy as np
    from PIL import Image

    size = _validate.positive_int(size, "size")
    if isinstance(image, np.ndarray):
        if image.dtype != np.uint8 or image.ndim not in (2, 3):
            raise ValueError(f"image must be an (H, W) or (H, W, 3) uint8 array, got {image.dtype} {image.shape}")
        image = Image.fromarray(image)
    if not isinstance(image, Image.Image):
        raise TypeError(f"image must be a PIL.Image or a uint8 numpy array, got {type(image).__name__}")
    img = image.convert("RGB")
    w, h = img.size
    scale = round(size / 0.875) / min(w, h)
    img = img.resize((max(size, round(w * scale)), max(size, round(h * scale))), Image.BILINEAR)
    w, h = img.size
    x0, y0 = (w - size) // 2, (h - size) // 2
    img = img.crop((x0, y0, x0 + size, y0 + size))
    x = torch.from_numpy(np.asarray(img, dtype=np.float32) / 255.0).permute(2, 0, 1)      # (3, S, S)
    return (x - torch.tensor(IMAGENET_MEAN)[:, None, None]) / torch.tensor(IMAGENET_STD)[:, None, None]


IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".ppm", ".webp", ".tif", ".tiff")


class ImageFolder(torch.utils.data.Dataset):
    """Images in ``root/<class>/...`` (any depth), read with PIL; classes are the sorted folder
    names, labels their indices.

    Training (``train=True``): a random crop of 8-100% of the area and aspect 3/4-4/3 resized to
    ``size`` x ``size``, and a horizontal flip with probability 1/2 (the ImageNet recipe of the
    papers). Evaluation: :func:`preprocess` (the short side resized to
    ``size / 0.875``, the centre crop). Then ``(img - IMAGENET_MEAN) / IMAGENET_STD``.

    ``dataset[i]`` is ``(x, y)``: ``x (3, size, size)`` float32, ``y`` an int.

    Args:
        root: the folder (a path or str) holding one sub-folder of images per class.
        size: the side of the square crops in pixels, default 224.
        train: random crops and flips (True, the default) or the evaluation crop (False).
    """

    def __init__(self, root, size: int = 224, train: bool = True):
        self.root = Path(root)
        if not self.root.is_dir():
            raise ValueError(f"data folder {str(self.root)!r} is not a directory")
        self.size = _validate.positive_int(size, "size")
        self.train = bool(train)
        self.classes = sorted(d.name for d in self.root.iterdir() if d.is_dir())
        self.samples = [(p, i) for i, c in enumerate(self.classes) for p in sorted((self.root / c).rglob("*"))
                        if p.suffix.lower() in IMAGE_EXTENSIONS]
        if not self.samples:
            raise ValueError(f"data folder {str(self.root)!r} holds no images in class sub-folders "
                             f"(root/<class>/*{IMAGE_EXTENSIONS[0]}, ...)")

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, i: int):
        import numpy as np
        from PIL import Image
        path, label = self.samples[i]
        with Image.open(path) as im:
            img = im.convert("RGB")
        if not self.train:
            return preprocess(img, self.size), label
        w, h = img.size
        for _ in range(10):                     # a random crop of 8-100% of the area, aspect 3/4-4/3
            area = w * h * random.uniform(0.08, 1.0)
            ratio = math.exp(random.uniform(math.log(3 / 4), math.log(4 / 3)))
            cw, ch = round(math.sqrt(area * ratio)), round(math.sqrt(area / ratio))
            if 0 < cw <= w and 0 < ch <= h:
                x0, y0 = random.randint(0, w - cw), random.randint(0, h - ch)
                break
        else:
            cw = ch = min(w, h)
            x0, y0 = (w - cw) // 2, (h - ch) // 2
        img = img.resize((self.size, self.size), Image.BILINEAR, box=(x0, y0, x0 + cw, y0 + ch))
        if random.random() < 0.5:
            img = img.transpose(Image.FLIP_LEFT_RIGHT)
        x = torch.from_numpy(np.asarray(img, dtype=np.float32) / 255.0).permute(2, 0, 1)    # (3, S, S)
        mean, std = torch.tensor(IMAGENET_MEAN)[:, None, None], torch.tensor(IMAGENET_STD)[:, None, None]
        return (x - mean) / std, label


def seed_worker(worker_id: int):
    """A DataLoader worker's ``worker_init_fn``: seed Python's ``random`` (which ImageFolder's crops
    draw from) from the worker's torch seed, one stream per worker.

    Args:
        worker_id: the worker's index, as the DataLoader passes it (unused: the torch seed differs
            per worker already).
    """
    random.seed(torch.initial_seed() % 2 ** 32)        # PIL crops draw from ``random``: one stream per worker


def test_crop(name: str, size: int = 128, centre: bool = False) -> torch.Tensor:
    """A ``size`` x ``size`` crop of the test region of photograph ``name`` (values in [0, 1]):
    the middle rows, starting at the region's first column, or its middle with ``centre=True``.

    Args:
        name: one of :data:`PHOTOS`.
        size: the crop's side in pixels.
        centre: take the middle of the test region instead of its left edge.

    Shape: ``(3, size, size)``.
    """
    if name not in PHOTOS:
        raise ValueError(f"name must be one of {list(PHOTOS)}, got {name!r}")
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise ValueError(f"size must be a positive int, got {size!r}")
    img = load_photo(name)
    start, stop = split_columns(name, "test")
    if size > img.shape[1] or size > stop - start:
        raise ValueError(f"size={size} is larger than the test region of {name!r}")
    top = (img.shape[1] - size) // 2
    left = (start + stop - size) // 2 if centre else start
    return img[:, top:top + size, left:left + size]


test_crop.__test__ = False      # a helper, not a test (pytest collects test_* names it imports)
