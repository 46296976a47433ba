"""Sphinx extension for the page "Your photograph" (``book/photograph.md``).

At build time (HTML builders only):

- ``builder-inited``: every shipped network (:func:`networks`: the grid's twelve of
  :func:`chattn.pretrained.shipped` and the reduction-ratio / kernel-size sweeps of
  :data:`chattn.pretrained.SWEEPS`, loaded with :func:`chattn.pretrained.load`) is exported to ONNX
  with :func:`chattn.export.to_onnx`, the book's photographs are written as PNG, and a manifest
  describes them (for each network its test accuracy over the seeds of its records and its
  parameters: the labels of the page's r / k control). All of it goes to a cache folder,
  ``_build/.photograph/<hash>``, keyed by a hash of ``chattn/`` (code and weights) and this file:
  an unchanged package is not exported again. Nothing of it is committed.
- ``html-page-context``: the manifest is written into the page (no request before the reader acts);
  ``env-get-outdated`` makes Sphinx write the page on every build, so the manifest is never stale.
- ``build-finished``: the networks, the photographs, the page's script and style
  (``book/photograph/*.js|css``) and only the three onnxruntime-web files the page uses
  (``book/photograph/node_modules``, installed by ``npm ci``; see ``scripts/_setup.sh``) are copied
  to ``_static/photograph/`` of the built site.
"""
from __future__ import annotations

import hashlib
import inspect
import json
import shutil
import statistics
import time
from pathlib import Path

HERE = Path(__file__).resolve()
BOOK = HERE.parents[1]
ROOT = BOOK.parent
SOURCE = BOOK / "photograph"                     # the page's script, style and npm manifest
PAGE = "book/photograph"
PLACEHOLDER = '<script type="application/json" id="photograph-manifest">{}</script>'
#: The onnxruntime-web files the page loads: the wasm-only ES module, its loader and the runtime.
ORT_FILES = ("ort.wasm.min.mjs", "ort-wasm-simd-threaded.mjs", "ort-wasm-simd-threaded.wasm")
ASSETS = ("photograph.js", "photograph.css")
MAX_SIDE = 1024                                  # larger images are scaled down to this longer side
LABELS = {"none": "No attention (baseline)", "se": "SE", "enc": "EncNet", "gsop": "GSoP", "fca": "FcaNet",
          "bilinear": "Bilinear", "eca": "ECA", "rcan_ca": "RCAN CA", "dia": "DIANet", "srm": "SRM",
          "gct": "GCT", "soca": "SoCA"}
#: Module attributes that hold the reduction ratio / kernel size the r / k control is about.
SWEPT = {"reduction": "r", "k_size": "k", "kernel_size": "k", "att_dim": "d"}


def _package_hash() -> str:
    import chattn
    pkg = Path(chattn.__file__).resolve().parent
    h = hashlib.sha256()
    for f in sorted(p for p in pkg.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
        h.update(str(f.relative_to(pkg)).encode())
        h.update(f.read_bytes())
    h.update(HERE.read_bytes())
    return h.hexdigest()[:16]


def networks() -> list[tuple[str, str, dict]]:
    """``(key, attn, options)`` of every network the page offers: the grid's (key ``attn``, no
    options), then every value of every sweep of :data:`chattn.pretrained.SWEEPS` (key
    ``"{attn}_{letter}{value}"``, e.g. ``se_r8``, ``eca_k3``) that has its own network
    (:func:`chattn.pretrained.own_sweep_values`: at the grid's default value the grid's network,
    offered once as ``attn``, is that value's)."""
    from chattn import pretrained
    from chattn.analysis.trained import SYMBOL     # a swept option's letter: r, k
    out = [(attn, attn, {}) for attn in pretrained.shipped()]
    for attn, (option, _) in pretrained.SWEEPS.items():
        out += [(f"{attn}_{SYMBOL.get(option, option)}{v}", attn, {option: v})
                for v in pretrained.own_sweep_values(attn)]
    return out


def _shipped_networks():
    """``(key, attn, network)`` for every network of :func:`networks`, loaded through
    chattn.pretrained only. A sweep network whose weights are missing stops the build; only at the
    grid's default value does the grid's network stand in (:func:`chattn.pretrained.weights_path`)."""
    from chattn import pretrained
    for key, attn, options in networks():
        if not pretrained.weights_path(attn, **options).is_file():
            opts = " ".join(f"--opt {k}={v}" for k, v in options.items())
            raise FileNotFoundError(f"chattn_photograph: the network {key} is not shipped (no "
                                    f"{pretrained.weights_path(attn, **options)}); train it with python -m "
                                    f"chattn.train --attn {attn} {opts} --epochs {pretrained.EPOCHS['patches']} --ship")
        yield key, attn, pretrained.load(attn, **options)


def _swept_values(net) -> dict:
    """``{"r": [4, 4, 4], ...}``: per attention module, the values the r / k control is about."""
    from chattn.export import _places
    values: dict[str, list] = {}
    for module in _places(net):      # attention modules in forward order
        for attr, letter in SWEPT.items():
            v = getattr(module, attr, None)
            if isinstance(v, int):
                values.setdefault(letter, []).append(v)
    return values


def _runs(attn: str, options: dict) -> list[dict]:
    """The run records (all seeds) of the network ``(attn, options)``: the grid's for no options,
    else the sweep's at that value."""
    from chattn import pretrained
    if not options:
        return [r for r in pretrained.records() if r["attn"] == attn and not r["model"].get("options")]
    (option, value), = options.items()
    return [r for r in pretrained.sweep_records(attn) if r["value"] == value]


def _sweep(attn: str, options: dict, net) -> dict | None:
    """What the r / k control says of a network of a swept module: the option, its letter, the
    value (``None`` with ``adaptive`` for ECA's grid network, whose k = psi(C) per stage), and
    whether it is the grid's network."""
    from chattn import pretrained
    from chattn.analysis.trained import SYMBOL
    if attn not in pretrained.SWEEPS:
        return None
    option = pretrained.SWEEPS[attn][0]
    value = options.get(option, pretrained.default_option(attn, option))
    per_module = sorted({v for vs in _swept_values(net).values() for v in vs})
    return {"option": option, "letter": SYMBOL.get(option, option), "value": value, "grid": not options,
            "values": sorted(pretrained.SWEEPS[attn][1]), "adaptive": per_module if value is None else None}


def _label(net: dict) -> str:
    """The r / k control's words for a network: ``"r = 8 · 95.6 ± 0.4% (3 seeds) · 67,816 params"``;
    the grid's network says so (``"r = 4, the chapters' network · ..."``, ECA's ``"k = psi(C) = 3, 5 by
    stage, ..."``)."""
    sw, acc = net["sweep"], net["accuracies"]
    value = f"{sw['value']}" if sw["value"] is not None else f"ψ(C) = {', '.join(map(str, sw['adaptive']))} by stage"
    where = ", the chapters' network" if sw["grid"] else ""
    score = (f"{100 * net['accuracy_mean']:.1f} ± {100 * net['accuracy_std']:.1f}% ({len(acc)} seeds)" if len(acc) > 1
             else f"{100 * acc[0]:.1f}% (1 seed)")
    return f"{sw['letter']} = {value}{where} · {score} · {net['params']:,} params"


def _network_entry(tmp: Path, key: str, attn: str, net) -> dict:
    """Export one network to ``tmp/models/<key>.onnx``; its manifest entry."""
    import torch

    from chattn import export

    config = net.config()
    file = f"models/{key}.onnx"
    names = export.to_onnx(net, tmp / file)
    x = torch.zeros(1, 3, config["input_size"], config["input_size"])
    shapes = {k: list(v.shape[1:]) for k, v in export.gates(net, x).items()}
    runs = sorted(_runs(attn, config["options"]), key=lambda r: r["seed"])
    if not runs:
        raise RuntimeError(f"chattn_photograph: no run record for {key} ({attn} {config['options']})")
    accuracies = [r["test_accuracy"] for r in runs]
    entry = {
        "key": key, "attn": attn, "label": LABELS.get(attn, attn), "options": config["options"],
        "swept": _swept_values(net), "sweep": _sweep(attn, config["options"], net),
        "file": file, "bytes": (tmp / file).stat().st_size,
        "outputs": [{"name": n, "shape": shapes[n]} for n in names],
        "test_accuracy": runs[0]["test_accuracy"], "accuracies": accuracies,
        "accuracy_mean": statistics.fmean(accuracies),
        "accuracy_std": statistics.stdev(accuracies) if len(accuracies) > 1 else 0.0,
        "params": runs[0]["params"],
    }
    if entry["sweep"]:
        entry["sweep"]["label"] = _label(entry)
    print(f"chattn_photograph: exported {key} ({len(names) - 1} gates)", flush=True)
    return entry


def _export(cache: Path) -> dict:
    import numpy as np
    import torch
    from PIL import Image

    import chattn
    from chattn import data, export

    tmp = cache.with_name(cache.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    (tmp / "models").mkdir(parents=True)
    (tmp / "photos").mkdir()
    start = time.perf_counter()
    threads = torch.get_num_threads()
    # One thread: the networks are small (batch 2, 32x32) and tracing is Python; on a busy machine
    # torch's intra-op threads wait on each other (one export took 25 s with 2 threads, 4 s with 1).
    torch.set_num_threads(1)
    try:
        networks = [_network_entry(tmp, key, attn, net) for key, attn, net in _shipped_networks()]
    finally:
        torch.set_num_threads(threads)
    print(f"chattn_photograph: {len(networks)} networks exported in {time.perf_counter() - start:.1f} s", flush=True)
    photos = []
    for name in data.PHOTOS:
        img = (data.load_photo(name) * 255).round().byte().permute(1, 2, 0).numpy()   # (H, W, 3)
        grey = bool((img == img[:, :, :1]).all())
        Image.fromarray(np.ascontiguousarray(img[:, :, 0] if grey else img)).save(tmp / "photos" / f"{name}.png")
        photos.append({"name": name, "file": f"photos/{name}.png", "height": img.shape[0], "width": img.shape[1],
                       "bytes": (tmp / "photos" / f"{name}.png").stat().st_size})
    mean, std = data.channel_stats()
    # The grey level behind transparent pixels: chattn.export.image_patches' default, so that the
    # page and the package read an image with alpha alike.
    background = inspect.signature(export.image_patches).parameters["background"].default
    manifest = {"classes": list(data.PHOTOS), "patch": 32, "max_side": MAX_SIDE, "background": background,
                "mean": mean.tolist(), "std": std.tolist(), "networks": networks, "photos": photos,
                "chattn": chattn.__version__, "torch": torch.__version__}
    (tmp / "manifest.json").write_text(json.dumps(manifest, indent=1))
    shutil.rmtree(cache, ignore_errors=True)
    tmp.rename(cache)
    return manifest


def _ort_dir() -> Path:
    return SOURCE / "node_modules" / "onnxruntime-web" / "dist"


def prepare(app) -> None:
    if app.builder.format != "html":
        return
    missing = [f for f in ORT_FILES if not (_ort_dir() / f).is_file()]
    if missing:
        raise RuntimeError(f"onnxruntime-web is not installed ({', '.join(missing)} missing in {_ort_dir()}): "
                           f"run `npm ci` in {SOURCE} (scripts/_setup.sh does it)")
    cache_root = Path(app.outdir).parent / ".photograph"
    cache = cache_root / _package_hash()
    if (cache / "manifest.json").is_file():
        manifest = json.loads((cache / "manifest.json").read_text())
    else:
        for old in cache_root.glob("*"):
            shutil.rmtree(old, ignore_errors=True)
        manifest = _export(cache)
    ort_version = json.loads((_ort_dir().parent / "package.json").read_text())["version"]
    manifest["ort"] = {"version": ort_version, "files": {f: (_ort_dir() / f).stat().st_size for f in ORT_FILES}}
    app._chattn_photograph = (cache, manifest)


def inject(app, pagename, templatename, context, doctree) -> None:
    if pagename != PAGE or not hasattr(app, "_chattn_photograph"):
        return
    body = context.get("body", "")
    if PLACEHOLDER not in body:
        raise RuntimeError(f"{PAGE}: the placeholder {PLACEHOLDER!r} is missing from the page")
    text = json.dumps(app._chattn_photograph[1], separators=(",", ":")).replace("</", "<\\/")
    context["body"] = body.replace(PLACEHOLDER, PLACEHOLDER.replace("{}", text))


def outdated(app, env, added, changed, removed) -> list[str]:
    """Write the page on every build: its manifest comes from the networks, not from its source."""
    return [PAGE] if PAGE in env.found_docs else []


def copy(app, exception) -> None:
    if exception is not None or not hasattr(app, "_chattn_photograph"):
        return
    cache, _ = app._chattn_photograph
    out = Path(app.outdir) / "_static" / "photograph"
    shutil.rmtree(out, ignore_errors=True)
    shutil.copytree(cache, out, ignore=shutil.ignore_patterns("manifest.json"))
    (out / "ort").mkdir()
    for f in ORT_FILES:
        shutil.copy2(_ort_dir() / f, out / "ort" / f)
    licence = _ort_dir().parent / "LICENSE"
    if licence.is_file():
        shutil.copy2(licence, out / "ort" / "LICENSE")
    for f in ASSETS:
        shutil.copy2(SOURCE / f, out / f)


def setup(app):
    app.connect("builder-inited", prepare)
    app.connect("env-get-outdated", outdated)
    app.connect("html-page-context", inject)
    # After the light-site pass of chattn_book (priority 500), which prunes from _static/ what no
    # page names: the runtime and the networks are fetched by the page's script, not named by it.
    app.connect("build-finished", copy, priority=900)
    return {"version": "0.1", "parallel_read_safe": True, "parallel_write_safe": True}
