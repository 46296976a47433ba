"""The state of the Chinese edition's catalogues, and what a translation must keep of its English.

    python scripts/translations.py                  # every catalogue: messages, translated, problems
    python scripts/translations.py book/06_eca      # one page, each problem in full

A translated message keeps, as a multiset (sentences may be reordered):

- its maths: every ``$...$`` and ``$$...$$`` (the words inside ``\\text{...}`` may be translated);
- its code and roles: every ```code```, ````code````, ``{cite}`key``` and ``:func:`name```;
- its link targets ``](target)`` and its HTML tags with their attributes;
- its footnote references ``[^name]``.

A catalogue entry counts as translated when its ``msgstr`` is not empty and it is not fuzzy (a
fuzzy entry is left out of the ``.mo`` file Sphinx builds, so the page would show the English). A
message the catalogue lacks (or holds empty or fuzzy) counts as translated when the Chinese build
carries a translation over to it: it differs from a translated message only in its numbers
(``book/_ext/i18n_carry.py``; ``scripts/carry_numbers.py`` writes such carries into the catalogue).
``tests/test_i18n.py`` uses these functions on the messages the Chinese build found on each page.
"""
from __future__ import annotations

import re
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOCALES = ROOT / "locales" / "zh_CN" / "LC_MESSAGES"
sys.path.insert(0, str(ROOT / "book" / "_ext"))         # i18n_carry: the rule the Chinese build carries by

_MATH = re.compile(r"\$\$.+?\$\$|\$[^$\n]+?\$", re.S)
_TEXT = re.compile(r"\\text\{[^{}]*\}")
_CODE = re.compile(r"(\{[\w:-]+\}|:[\w:+-]+:)?(`+)(.+?)\2", re.S)
_LINK = re.compile(r"\]\(([^)\s]+)\)")
_TAG = re.compile(r"<[a-zA-Z/][^>]*>")
_FOOTNOTE = re.compile(r"\[\^[^\]]+\]")


def _strip_text(math: str) -> str:
    return re.sub(r"\s+", "", _TEXT.sub(r"\\text{}", math))


#: Links a translation may change: the Chinese page offers the Chinese PDF (``zh/``) where the
#: English links the English one, and may add a link to the English PDF beside it.
LINK_EQUIVALENTS = {'href="../chattn-book-zh.pdf"': 'href="../chattn-book.pdf"', "chattn-book-zh.pdf": "chattn-book.pdf"}


def markup(message: str) -> Counter:
    """What a translation of ``message`` must keep: maths, code and roles, link targets, tags."""
    for zh, en in LINK_EQUIVALENTS.items():
        message = message.replace(zh, en)
    keep: Counter = Counter()
    for m in _CODE.finditer(message):
        keep["code " + (m.group(1) or "") + m.group(3)] += 1
    code_free = _CODE.sub(" ", message)
    if code_free.lstrip().startswith("\\begin") or "\\begin{" in code_free and "$" not in code_free:
        keep["math " + _strip_text(code_free)] += 1          # a display-maths block
        return keep
    for m in _MATH.finditer(code_free):
        keep["math " + _strip_text(m.group(0))] += 1
    for m in _LINK.finditer(code_free):
        keep["link " + m.group(1)] += 1
    for m in _TAG.finditer(code_free):
        keep["tag " + re.sub(r"\s+", " ", m.group(0))] += 1
    for m in _FOOTNOTE.finditer(code_free):
        keep["footnote " + m.group(0)] += 1
    return keep


def catalog(domain: str):
    """The babel catalogue of page ``domain`` (e.g. ``book/06_eca``), or ``None``."""
    from babel.messages.pofile import read_po

    path = LOCALES / f"{domain}.po"
    if not path.is_file():
        return None
    with path.open("rb") as f:
        return read_po(f, locale="zh_CN")


def entry_problem(message) -> str | None:
    """Why a catalogue entry does not count as a translation, or ``None`` when it does."""
    if message is None:
        return "not in the catalogue"
    if message.fuzzy:
        return "fuzzy"
    if not message.string:
        return "not translated"
    if re.match(r"\d+\. ", message.string):
        # "6. ECA：..." is an ordered list to MyST, and a heading whose translation is not a
        # heading is left in English by Sphinx: "6\\. ECA：..." (in the .po file: "6\\\\. ").
        return "starts like a numbered list item: escape the dot (6\\. ...)"
    lost = markup(message.id) - markup(message.string)
    added = markup(message.string) - markup(message.id)
    if 'href="../../chattn-book.pdf"' in message.string:         # the English PDF beside the Chinese
        added -= Counter({'tag <a href="../../chattn-book.pdf">': 1, "tag </a>": 1})
    if lost or added:
        return "markup differs: " + "; ".join(
            [f"lost {k!r}" for k in lost] + [f"added {k!r}" for k in added])
    return None


def problems(domain: str, messages: list[str] | None = None) -> list[tuple[str, str]]:
    """``(message, problem)`` for each message of ``domain`` (default: every entry of its
    catalogue) that is not translated as it should be."""
    cat = catalog(domain)
    if messages is None:
        messages = [m.id for m in cat if m.id] if cat is not None else []
    carrier = None
    out = []
    for msg in messages:
        entry = cat.get(msg) if cat is not None else None
        why = entry_problem(entry)
        if why and cat is not None and (entry is None or entry.fuzzy or not entry.string):
            # the Chinese build carries a translation over to new numbers (book/_ext/i18n_carry.py)
            from babel.messages.catalog import Message

            from i18n_carry import Carrier

            carrier = carrier or Carrier({m.id: m.string for m in cat
                                          if m.id and isinstance(m.id, str) and m.string and not m.fuzzy})
            carried = carrier(msg)
            if carried is not None:
                why = entry_problem(Message(msg, carried))
        if why:
            out.append((msg, why))
    return out


def main(argv: list[str]) -> int:
    domains = argv or sorted(str(p.relative_to(LOCALES).with_suffix("")) for p in LOCALES.rglob("*.po"))
    bad = 0
    for domain in domains:
        cat = catalog(domain)
        total = sum(1 for m in cat if m.id) if cat is not None else 0
        found = problems(domain)
        bad += len(found)
        print(f"{domain:28s} {total:5d} messages, {total - len(found):5d} translated, {len(found):4d} problems")
        if argv:
            for msg, why in found:
                print(f"  - {why}\n    {msg[:300]!r}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
