"""The book's own Sphinx extension: static sliders, light pages, and two fixes to the build.

0. Set ``CHATTN_STATIC=1`` (unless set) so that the executed notebooks emit static sliders, and
   ``MATPLOTLIBRC`` to ``book/_ext/matplotlibrc`` (figures sized for the page's width); load
   ``page_weight`` beside this file (slider frames as files, small images, no icon script, only
   the MathJax components and static files the pages use; see its docstring).

1. Resolve references to chattn's top-level names (``chattn.create``, ``chattn.SE``...). The API
   page documents every object where it is defined (``chattn.registry.create``,
   ``chattn.modules.se.SE``), following the package's taxonomy; docstrings and chapters write the
   short public name. When such a reference has no target, look the object up in the imported
   package and resolve it to its home.

2. Drop sphinx-thebe's scripts when thebe is off (the book runs in Colab, not Binder).
   jupyter-book always loads sphinx-thebe, whose configuration script is added twice and throws
   "Identifier 'THEBE_JS_URL' has already been declared" on every page; it also names a CDN.
"""
import importlib
import os


def _home(target: str):
    parts = target.split(".")
    try:
        obj = importlib.import_module(parts[0])
    except ImportError:
        return None
    for i, name in enumerate(parts[1:], start=1):
        if not hasattr(obj, name):
            return None
        obj = getattr(obj, name)
        if hasattr(obj, "__module__") and hasattr(obj, "__qualname__"):
            rest = parts[i + 1:]
            return ".".join([obj.__module__, obj.__qualname__, *rest])
    return None


def resolve(app, env, node, contnode):
    target = node.get("reftarget", "")
    if node.get("refdomain") != "py" or not target.lstrip("~").startswith("chattn."):
        return None
    home = _home(target.lstrip("~"))
    if home is None or home == target:
        return None
    return env.get_domain("py").resolve_xref(env, node["refdoc"], app.builder, node["reftype"],
                                             home, node, contnode)


def _is_thebe(script) -> bool:
    name = str(getattr(script, "filename", script) or "")
    body = str(getattr(script, "attributes", {}).get("body", ""))
    return "sphinx-thebe" in name or "THEBE_JS_URL" in body


def drop_thebe(app, pagename, templatename, context, doctree):
    launch = app.config.html_theme_options.get("launch_buttons", {})
    if launch.get("thebe"):
        return
    context["script_files"] = [s for s in context.get("script_files", []) if not _is_thebe(s)]
    context["css_files"] = [s for s in context.get("css_files", []) if not _is_thebe(s)]


def setup(app):
    # Notebooks executed by this build draw sliders as static frames (chattn.interactive), even
    # when the build is started without scripts/book.sh; CHATTN_STATIC=0 keeps live widgets.
    os.environ.setdefault("CHATTN_STATIC", "1")
    os.environ.setdefault("MATPLOTLIBRC", os.path.join(os.path.dirname(__file__), "matplotlibrc"))
    app.setup_extension("page_weight")
    app.connect("missing-reference", resolve)
    app.connect("html-page-context", drop_thebe)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
