"""The book in two languages from one set of sources: English at the site's root, Chinese in ``zh/``.

The English notebooks and Markdown are the source. A translation is a gettext catalogue per page,
``locales/zh_CN/LC_MESSAGES/<page>.po`` (``gettext_compact = False``), made and updated with
``sphinx-intl`` from the messages of the ``gettext`` builder; Sphinx's own ``Locale`` transform
puts the translations in when the build's ``language`` is ``zh_CN`` (``scripts/build_zh.py``).
This extension adds what the book needs around that:

1. **Slider captions are prose.** A static slider (:mod:`chattn.interactive`) is one raw HTML
   block; the sentence under each frame is cut out of it into a paragraph of its own, inside a
   ``<div class="chattn-caption" data-frame="i">`` the slider's handler shows and hides. Being a
   paragraph, gettext extracts it and ``Locale`` translates it like any other. (Runs before
   ``Locale``, in both languages, so both sites have the same markup.)
2. **Every message is accounted for.** In a translated build, each translatable message of each
   page (what the ``gettext`` builder would extract) is looked up in the page's catalogue before
   ``Locale`` runs; one that is missing or fuzzy (``.mo`` files leave fuzzy entries out) is a
   warning, so ``-W`` fails the build, unless its text differs from a translated message of the
   page only in its numbers (a sentence generated from new training records): then it is
   translated by carrying the numbers over (``i18n_carry``, the rule ``scripts/carry_numbers.py``
   writes into the catalogues). The messages of every page are written to
   ``<outdir>/_i18n/<docname>.json`` for ``tests/test_i18n.py``, which counts them against the
   catalogues.
3. **A language switch on every page**: a header button to the same page in the other language,
   and ``<link rel="alternate" hreflang=...>`` both ways.
4. **Glued values are messages too.** Three chapters glue sentences their notebooks generate
   into the prose (``{glue:md}`key```). The value each glue role pastes is recorded while the page
   is read; the ``gettext`` builder extracts it as a message of its own, and the translated build
   pastes its translation (also inside the translated sentence that holds the role: myst-nb looks
   its glue data up in the page being read, which ``Locale``'s re-parse is not, so the page's
   data is lent to it).
5. **Docstrings are reST.** ``Locale`` parses a translation with the page's parser, MyST for
   ``api.md``; the translations of what autodoc put there (docstrings) are parsed as reST.
6. **Measured outputs are not messages.** What a cell tagged ``measured`` prints (the comparison's timing
   sentence) changes with every build; both editions show it as printed.
7. **One set of slider frames.** The Chinese build writes its frames where the English build
   does (``../_images``, see ``page_weight.frames_to_files``): same frames, same files, fetched
   once by a reader who reads both.
"""
from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from docutils import nodes
from sphinx.transforms import SphinxTransform
from sphinx.util import logging
from sphinx.util.i18n import docname_to_domain
from sphinx.util.nodes import LITERAL_TYPE_NODES, extract_messages

logger = logging.getLogger(__name__)

#: The editions: Sphinx language -> (folder under the English site's root, html lang, switch text).
EDITIONS = {"en": ("", "en", "English"), "zh_CN": ("zh", "zh-CN", "中文")}
_CAPTION = re.compile(r'<p class="chattn-caption"( data-frame="\d+")?( style="display:none")?>(.*?)</p>',
                      re.S)


def needs_translation(message: str) -> bool:
    """A message with Latin letters (English words, names, maths); one without is numbers,
    symbols, or words Sphinx already translated (autodoc's 参数, 返回)."""
    return re.search(r"[A-Za-z]", message) is not None


def edition(language: str | None) -> str:
    return "zh_CN" if (language or "en").replace("-", "_").lower().startswith("zh") else "en"


# ---------------------------------------------------------------- 1. slider captions

class SliderCaptions(SphinxTransform):
    """Cut the caption sentences of static sliders out of their raw HTML into paragraphs."""

    default_priority = 15                     # before sphinx.transforms.i18n.Locale (20)

    def apply(self, **kwargs):
        for raw in list(self.document.findall(nodes.raw)):
            text = raw.astext()
            if raw.get("format") != "html" or "chattn-caption" not in text:
                continue
            parts: list[nodes.Node] = []
            start = 0
            for m in _CAPTION.finditer(text):
                frame, hidden, body = m.group(1) or "", m.group(2) or "", m.group(3)
                parts.append(nodes.raw("", text[start:m.start()] +
                                       f'<div class="chattn-caption"{frame}{hidden}>', format="html"))
                sentence = html.unescape(body)
                para = nodes.paragraph(sentence, "", nodes.Text(sentence))
                para.source, para.line = raw.source, raw.line
                parts.append(para)
                parts.append(nodes.raw("", "</div>", format="html"))
                start = m.end()
            if not parts:
                continue
            parts.append(nodes.raw("", text[start:], format="html"))
            raw.replace_self([p for p in parts if not (isinstance(p, nodes.raw) and not p.astext())])


# ---------------------------------------------------------------- what the transforms share of a page

@dataclass
class _Page:
    """What this extension learns of the page being read and passes from one transform to the
    next. It lives in ``env.temp_data``, which Sphinx empties after each page it reads."""
    glued: list[str] = field(default_factory=list)     # the texts the page glues, in reading order
    renderer: object = None                            # its notebook renderer (its glue data)
    catalog: dict[str, str] | None = None              # msgid -> msgstr, read once
    translate: Callable[[str], str] | None = None      # set once the catalogue is read (translated build)
    expected: list = field(default_factory=list)       # (node, message) that have a translation
    english_leftovers: set[str] = field(default_factory=set)   # markup the English shows as text
    docstring_msgstrs: set[str] = field(default_factory=set)   # translations of docstring text (reST)


def _page(env) -> _Page:
    return env.temp_data.setdefault("chattn_i18n", _Page())


# ---------------------------------------------------------------- glue


def _glue_texts(data: dict) -> list[tuple[str, str]]:
    """The text a glue role pastes (Markdown when there is some, else plain text), if it has words."""
    mime = "text/markdown" if isinstance(data.get("text/markdown"), str) else "text/plain"
    text = data.get(mime)
    return [(mime, text)] if isinstance(text, str) and re.search(r"[A-Za-z]{2}", text) else []


def _patch_glue():
    """Wrap myst-nb's glue lookup: record what a page glues; lend the page's data, translated,
    to the translations ``Locale`` parses."""
    from myst_nb.ext.glue import roles, utils

    original = utils.retrieve_glue_data
    if getattr(original, "chattn", False):
        return

    def retrieve(document, key):
        page = _page(document.settings.env)
        translated = str(document.get("source", "")).endswith("<translated>")   # "<page>:<line>:<translated>"
        renderer = page.renderer if translated else None
        if "nb_renderer" in document and not translated:
            page.renderer = document["nb_renderer"]
        if renderer is not None and "nb_renderer" not in document:
            # the page's glue data, looked up as myst-nb does (not stored on the throw-away
            # document: its nodes join the page, which is pickled)
            glue = renderer.renderer.nb_client.glue_data
            if key not in glue:
                raise utils.RetrievalError(f"No key {key!r} found in glue data for this document.")
            result = utils.VariableOutput(data=glue[key]["data"], metadata=glue[key].get("metadata", {}),
                                          nb_renderer=renderer, vtype="glue")
        else:
            result = original(document, key)
        if not translated:
            page.glued.extend(text for _, text in _glue_texts(result.data))
        translate = page.translate
        if translate is not None and translated:
            data = dict(result.data)
            for mime, text in _glue_texts(data):
                data[mime] = translate(text)
            result.data = data
        return result

    retrieve.chattn = True
    utils.retrieve_glue_data = retrieve
    roles.retrieve_glue_data = retrieve


class GluedMessages(SphinxTransform):
    """For the ``gettext`` builder: the page's glued texts as messages (hidden paragraphs of a
    doctree no one renders)."""

    default_priority = 17

    def apply(self, **kwargs):
        if self.app.builder.name != "gettext":
            return
        for text in dict.fromkeys(_page(self.env).glued):
            para = nodes.paragraph(text, "", nodes.Text(text))
            para.source, para.line = self.document["source"], 1
            self.document += para


class MeasuredOutputs(SphinxTransform):
    """What a cell tagged ``measured`` prints (times measured while the page is built, which
    change from build to build) is not a message: no catalogue can hold a sentence that differs
    every time. Both editions show it as the notebook printed it."""

    default_priority = 16

    def apply(self, **kwargs):
        for cell in self.document.findall(nodes.container):
            if "tag_measured" in cell.get("classes", []):
                for node in cell.findall(nodes.TextElement):
                    node["translatable"] = False
        # Likewise what the HTML will not show: a notebook output carries every format it was
        # given (the LaTeX of a code listing beside its HTML); myst-nb keeps one per builder at
        # write time (myst_nb.sphinx_.SelectMimeType). The others are not messages.
        from myst_nb.core.render import get_mime_priority

        priority = get_mime_priority("html", self.config["nb_mime_priority_overrides"])
        for bundle in self.document.findall(nodes.container):
            if bundle.get("nb_element") != "mime_bundle":
                continue
            have = [child.get("mime_type") for child in bundle.children]
            shown = next((m for m in priority if m in have), None)
            for child in bundle.children:
                if child.get("mime_type") != shown:
                    for node in child.findall(nodes.TextElement):
                        node["translatable"] = False


# ---------------------------------------------------------------- 2. every message accounted for

def _catalog(transform: SphinxTransform) -> dict[str, str]:
    """The page's translations, msgid -> msgstr (empty and fuzzy entries are not in a .mo), read
    from its ``.mo`` once per page (the transforms that need it share it)."""
    import gettext

    page = _page(transform.env)
    if page.catalog is None:
        domain = docname_to_domain(transform.env.docname, transform.config.gettext_compact)
        page.catalog = {}
        for folder in transform.config.locale_dirs:
            mo = Path(transform.env.srcdir) / folder / transform.config.language / "LC_MESSAGES" / f"{domain}.mo"
            if mo.is_file():
                with open(mo, "rb") as f:
                    page.catalog = {**dict(gettext.GNUTranslations(f)._catalog), **page.catalog}
        page.catalog.pop("", None)                       # the header
    return page.catalog


class TranslationCheck(SphinxTransform):
    """Look every message of the page up in its catalogue before ``Locale`` translates them."""

    default_priority = 18                     # before sphinx.transforms.i18n.Locale (20)

    def apply(self, **kwargs):
        if edition(self.config.language) == "en":
            return
        docname = self.env.docname
        domain = docname_to_domain(docname, self.config.gettext_compact)
        known = _catalog(self)
        page = _page(self.env)
        messages, missing = [], 0
        glued = list(dict.fromkeys(page.glued))
        # Front matter (a page's jupytext header) is a field list Sphinx removes after reading, and
        # Sphinx's own words (autodoc's field names, already Chinese) need no catalogue.
        front = [n for n in self.document.children if isinstance(n, nodes.field_list)]
        found = [(node, msg) for node, msg in extract_messages(self.document)
                 if needs_translation(msg) and not _sphinx_own(msg)
                 and not any(a in front for a in _ancestors(node))]
        found += [(self.document, text) for text in glued]
        carried = _carry_numbers(self, [msg for _, msg in found if msg not in known])
        for node, msg in found:
            messages.append(msg)
            if msg in known and _from_docstring(node):
                page.docstring_msgstrs.add(known[msg])
            if msg not in known:
                missing += 1
                if self.config.chattn_require_translations:
                    logger.warning("untranslated message (none, empty or fuzzy in %s.po): %.70r",
                                   domain, msg, location=node, type="chattn", subtype="i18n")
        # TranslatedMarkup (after Locale) checks that each translation was put in.
        page.expected = [(node, msg) for node, msg in found
                         if node is not self.document and known.get(msg, msg) != msg]
        page.english_leftovers = {m.group(0) for text in _prose(self.document)
                                  for m in _LEFTOVER.finditer(text.astext())}
        # Locale (next) parses translations in documents of their own; the glue lookup lends them
        # this page's glue data, and these translations of the glued texts.
        page.translate = lambda text: known.get(text, text)
        out = Path(self.app.outdir) / "_i18n" / f"{docname}.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps({"domain": domain, "messages": messages, "untranslated": missing,
                                   "carried": carried}, ensure_ascii=False, indent=0), encoding="utf-8")


def _carry_numbers(transform: SphinxTransform, messages: list[str]) -> dict[str, str]:
    """Translate the messages the catalogue lacks whose text differs from a translated message of
    the page only in its numbers (a generated sentence after new training records), by
    ``i18n_carry``'s rule, the one ``scripts/carry_numbers.py`` writes into the catalogues; return
    them, ``msgid -> msgstr``. They join the page's catalogue and the translator ``Locale`` reads."""
    from os import path

    from sphinx.locale import init as init_locale

    from i18n_carry import Carrier

    known = _catalog(transform)
    if not messages or not known:
        return {}
    carrier = Carrier(known)
    carried = {msg: text for msg in dict.fromkeys(messages) if (text := carrier(msg)) is not None}
    if carried:
        dirs = [path.join(transform.env.srcdir, d) for d in transform.config.locale_dirs]
        domain = docname_to_domain(transform.env.docname, transform.config.gettext_compact)
        translator, _ = init_locale(dirs, transform.config.language, domain)   # Locale's, cached
        getattr(translator, "_catalog", {}).update(carried)
        known.update(carried)
        for msg in carried:
            logger.info("translation carried over to new numbers (scripts/carry_numbers.py writes it "
                        "into %s.po): %.70r", domain, msg)
    return carried


def _from_docstring(node) -> bool:
    """Text autodoc put on the page: a module's docstring, or anything in an object's description
    (napoleon's parameter lists are built there, from the docstring's lines)."""
    from sphinx import addnodes

    return "docstring of " in (node.source or "") or any(
        isinstance(a, (addnodes.desc_content, addnodes.desc_signature)) for a in _ancestors(node))


def _sphinx_own(message: str) -> bool:
    """A line Sphinx itself wrote, in the build's language: autodoc's "Bases: ..." (基类：...)."""
    from sphinx.locale import _

    prefix = _("Bases: %s").split("%s")[0]
    return prefix != "Bases: " and message.startswith(prefix)


def _patch_publish():
    """Sphinx's ``Locale`` parses every translation with the page's parser (MyST for ``api.md``),
    but what autodoc put on the page comes from docstrings, in reST (``:func:`x```, ``:math:``).
    ``TranslationCheck`` notes the translations of docstring text; these are parsed as reST."""
    from sphinx.transforms import i18n

    original = i18n.publish_msgstr
    if getattr(original, "chattn", False):
        return

    def publish(app, source, source_path, source_line, config, settings):
        if source.split("\n\n   dummy literal")[0] in _page(app.env).docstring_msgstrs:   # Locale's "::" padding
            source_path = f"{source_path}.docstring.rst"
        elif source.startswith("::\n\n"):
            # A display equation (a literal-type node): Locale writes its translation as a reST
            # literal block, which MyST reads as a paragraph "::" (the page showed \[::\]).
            source_path = f"{source_path}.literal.rst"
        return original(app, source, source_path, source_line, config, settings)

    publish.chattn = True
    i18n.publish_msgstr = publish


class TocCaptions(SphinxTransform):
    """The part captions of the table of contents (``_toc.yml``'s ``caption:``): sphinx-external-toc
    inserts their toctrees at priority 100, after ``Locale``; translate them here from the root
    page's catalogue (the ``gettext`` builder extracts them there), and count them with its
    messages."""

    default_priority = 101

    def apply(self, **kwargs):
        from sphinx import addnodes

        if edition(self.config.language) == "en":
            return
        toctrees = [t for t in self.document.findall(addnodes.toctree) if t.get("caption")]
        if not toctrees:
            return
        known = _catalog(self)
        record = Path(self.app.outdir) / "_i18n" / f"{self.env.docname}.json"
        data = json.loads(record.read_text(encoding="utf-8"))
        for toctree in toctrees:
            caption = toctree.get("rawcaption") or toctree["caption"]
            data["messages"].append(caption)
            if caption in known:
                toctree["rawcaption"], toctree["caption"] = caption, known[caption]
            else:
                data["untranslated"] += 1
                if self.config.chattn_require_translations:
                    logger.warning("untranslated part caption: %r", caption, location=toctree,
                                   type="chattn", subtype="i18n")
        record.write_text(json.dumps(data, ensure_ascii=False, indent=0), encoding="utf-8")


_LEFTOVER = re.compile(r"[\x21-\x7e]*(?:\*\*|``|:[a-z]+:`|\{[a-z][\w:-]*\}`|\$[^$\s][^$]*\$|\]\()[\x21-\x7e]*")
_VERBATIM = (nodes.literal, nodes.literal_block, nodes.math, nodes.math_block, nodes.raw,
             nodes.comment, nodes.FixedTextElement)


class TranslatedMarkup(SphinxTransform):
    """Markup a translation broke shows as text: ``**`` next to Chinese punctuation that MyST
    does not read as emphasis, reST's ````code```` touching a Chinese character... Warn
    (``-W``: fail) when a translated page shows markup characters outside code and maths."""

    default_priority = 25                     # after Locale (20)

    def apply(self, **kwargs):
        if edition(self.config.language) == "en":
            return
        from sphinx import addnodes

        page = _page(self.env)
        known = _catalog(self)
        for node, msg in page.expected:
            if isinstance(node, LITERAL_TYPE_NODES):
                if known.get(msg) and node.astext().strip() != known[msg].strip():
                    logger.warning("a display equation or literal block shows %.30r, not its translation: "
                                   "%.70r", node.astext(), msg, location=node, type="chattn", subtype="i18n")
                continue
            if isinstance(node, (addnodes.translatable, addnodes.index, nodes.image)) or not isinstance(
                    node, nodes.TextElement):
                continue                      # Locale puts these in without marking them
            if node.get("translated") is not True and node.get("translatable", True) is not False:
                logger.warning("the translation could not be put in (its MyST is not a paragraph or a "
                               "title: a heading that starts with '6. ' wants '6\\. '): %.70r", msg,
                               location=node, type="chattn", subtype="i18n")
        for text in _prose(self.document):
            m = next((m for m in _LEFTOVER.finditer(text.astext()) if m.group(0) not in page.english_leftovers),
                     None)
            if m:
                logger.warning("a translation shows markup as text (%r) in: %.80r", m.group(0),
                               text.astext(), location=text.parent, type="chattn", subtype="i18n")


def _prose(document):
    for text in document.findall(nodes.Text):
        if not any(isinstance(a, _VERBATIM) for a in _ancestors(text)):
            yield text


def _ancestors(node):
    while node.parent is not None:
        node = node.parent
        yield node


# ---------------------------------------------------------------- 3. the language switch

def _counterpart(pagename: str, here: str, there: str, root: str) -> str:
    """From ``pagename`` of the ``here`` edition to the same page of ``there``; ``root`` is the
    relative path from the page to its own site's root."""
    up = "../" if EDITIONS[here][0] else ""                 # zh/ -> the English root
    down = EDITIONS[there][0] + "/" if EDITIONS[there][0] else ""
    return f"{root}{up}{down}{pagename}.html"


def language_switch(app, pagename, templatename, context, doctree):
    if app.builder.format != "html":
        return
    here = edition(app.config.language)
    root = "../" * pagename.count("/")                      # from the page to its site's root
    links = []
    for there, (_, lang, text) in EDITIONS.items():
        if there == here:
            continue
        url = _counterpart(pagename, here, there, root)
        links.append(f'<link rel="alternate" hreflang="{lang}" href="{html.escape(url)}">')
        buttons = context.get("header_buttons")
        if buttons is not None:
            tip = "Read this page in Chinese" if there == "zh_CN" else "阅读本页的英文版"
            buttons.append({"type": "link", "url": url, "tooltip": tip, "icon": "fas fa-language",
                            "text": text, "label": f"language-switch-{lang}"})
    context["metatags"] = context.get("metatags", "") + "\n".join(links)


_NEW_TAB = re.compile(r'(<a href="[^"]*") target="_blank"(\s+class="btn btn-sm btn-language-switch-)')


def switch_in_place(app, exception):
    """The theme opens its header links in a new tab; the language switch replaces the page."""
    if exception is not None or app.builder.format != "html":
        return
    from page_weight import site_pages

    for page in site_pages(Path(app.builder.outdir)):
        text = page.read_text(encoding="utf-8")
        new = _NEW_TAB.sub(r"\1\2", text)
        if new != text:
            page.write_text(new, encoding="utf-8")


def setup(app):
    app.add_config_value("chattn_require_translations", True, "env")
    _patch_glue()
    _patch_publish()
    app.add_transform(SliderCaptions)
    app.add_transform(GluedMessages)
    app.add_transform(MeasuredOutputs)
    app.add_transform(TranslationCheck)
    app.add_transform(TranslatedMarkup)
    app.add_transform(TocCaptions)
    # after sphinx-book-theme's add_header_buttons (priority 501)
    app.connect("html-page-context", language_switch, priority=510)
    app.connect("build-finished", switch_in_place)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
