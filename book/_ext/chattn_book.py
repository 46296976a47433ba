"""The book's own Sphinx extension: static sliders, light pages, and two fixes to the build.

0. Set ``CHATTN_STATIC=1`` (unless set) so that the executed notebooks emit static sliders, and
   ``MATPLOTLIBRC`` to ``book/_ext/matplotlibrc`` (figures sized for the page's width); load
   ``page_weight`` beside this file (slider frames as files, small images, no icon script, only
   the MathJax components and static files the pages use; see its docstring). Give the kernels
   an IPython directory (``_build/.ipython``) whose startup file (``ipython/chattn_figures.py``)
   makes every figure's PNG with :func:`chattn.interactive.figure_png`, so that each PNG carries
   its smallest text size; add the site-wide stylesheet and script (``static/``) and the favicon.

1. Resolve references to chattn's top-level names (``chattn.create``, ``chattn.SE``...). The API
   page documents every object where it is defined (``chattn.registry.create``,
   ``chattn.modules.se.SE``), following the package's taxonomy; docstrings and chapters write the
   short public name. When such a reference has no target, look the object up in the imported
   package and resolve it to its home.

2. Drop sphinx-thebe's scripts when thebe is off (the book runs in Colab, not Binder).
   jupyter-book always loads sphinx-thebe, whose configuration script is added twice and throws
   "Identifier 'THEBE_JS_URL' has already been declared" on every page; it also names a CDN.

3. Keep ``r = 4`` on one line. The chapters' generated sentences list values as ``r = 4``,
   ``E = 24``, ``p = 0.011``; a 390 px phone breaks such a line between ``r`` and ``= 4``. A post
   transform (:class:`NoBreakAroundEquals`) writes no-break spaces around ``=`` between a symbol and
   a number in the prose of every page, after the translation, so both editions get them and the
   messages of the catalogues stay as written. Code, maths and raw HTML are left alone.
"""
import importlib
import os
import re
import shutil
from pathlib import Path

from docutils import nodes
from sphinx.transforms.post_transforms import SphinxPostTransform

HERE = Path(__file__).resolve().parent


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


#: A symbol (a letter, perhaps one more letter, digit or ², a prime) `` = `` a number; not inside a
#: word or a dotted name (``Config.r = 4`` is code).
SYMBOL_EQUALS = re.compile(r"(?<![A-Za-z0-9_.])([A-Za-z\u03b1-\u03c9\u0391-\u03a9][A-Za-z0-9_\u00b2]?[\u2032']?) = "
                           r"(?=[-\u2212+]?\.?[0-9])")
_VERBATIM = (nodes.FixedTextElement, nodes.literal, nodes.math, nodes.raw, nodes.comment)
#: The symbol alone, as an emphasised or inline-maths node holds it (``*r* = 16``, ``$k$ = 3``).
SYMBOL = re.compile(r"\\?([A-Za-z]|alpha|beta|gamma|eta|psi)[A-Za-z0-9_\u00b2]?[\u2032']?")
#: What follows such a node: `` = `` and a number.
EQUALS_NUMBER = re.compile(r"^ = (?=[-\u2212+]?\.?[0-9])")


def keep_symbol_equals_number(text: str) -> str:
    """``text`` with no-break spaces around every ``=`` between a symbol and a number."""
    return SYMBOL_EQUALS.sub("\\1\u00a0=\u00a0", text)


class NoBreakAroundEquals(SphinxPostTransform):
    """:func:`keep_symbol_equals_number` on every text node of prose (item 3 above); and where the
    symbol is a node of its own (``*r* = 16``, ``$k$ = 3``), the `` = `` after it."""
    default_priority = 900

    def run(self, **kwargs):
        for node in list(self.document.findall(nodes.Text)):
            parent = node.parent
            if parent is None or " = " not in node:
                continue
            ancestor = parent
            while ancestor is not None and not isinstance(ancestor, _VERBATIM):
                ancestor = ancestor.parent
            if ancestor is None:
                new = keep_symbol_equals_number(str(node))
                at = parent.index(node)
                before = parent[at - 1] if at > 0 else None
                if isinstance(before, (nodes.emphasis, nodes.strong, nodes.math)) and \
                        SYMBOL.fullmatch(before.astext().strip()):
                    new = EQUALS_NUMBER.sub("\u00a0=\u00a0", new)
                if new != str(node):
                    parent.replace(node, nodes.Text(new))


def kernel_ipython_dir(outdir) -> Path:
    """``_build/.ipython`` beside the HTML output, with the figure formatter as startup file."""
    ipython = Path(outdir).resolve().parent / ".ipython"
    startup = ipython / "profile_default" / "startup"
    startup.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(HERE / "ipython" / "chattn_figures.py", startup / "00-chattn-figures.py")
    return ipython


def site_style(app, config):
    """The site-wide stylesheet (``static/chattn.css``), the favicon (no /favicon.ico 404 on every
    page) and the theme's default mode: pydata-sphinx-theme logs "Got invalid theme mode: ." on
    a first visit (empty storage) when ``default_mode`` is not set."""
    config.html_static_path = [*config.html_static_path, str(HERE / "static")]
    config.html_css_files = [*config.html_css_files, "chattn.css"]
    if not config.html_favicon:
        config.html_favicon = str(HERE / "static" / "favicon.svg")
    config.html_context = {"default_mode": "auto", **(config.html_context or {})}


def setup(app):
    # Notebooks executed by this build draw sliders as static frames (chattn.interactive), even
    # when the build is started without scripts/book.sh; CHATTN_STATIC=0 keeps live widgets.
    os.environ.setdefault("CHATTN_STATIC", "1")
    os.environ.setdefault("MATPLOTLIBRC", os.path.join(os.path.dirname(__file__), "matplotlibrc"))
    # Always ours: a reader's own IPYTHONDIR would drop the chunk tests/test_legibility.py reads.
    os.environ["IPYTHONDIR"] = str(kernel_ipython_dir(app.outdir))
    app.setup_extension("page_weight")
    app.connect("config-inited", site_style)
    app.connect("missing-reference", resolve)
    app.connect("html-page-context", drop_thebe)
    app.add_post_transform(NoBreakAroundEquals)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
