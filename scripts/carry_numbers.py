"""Update the Chinese catalogues from the English, carrying translations over to new numbers.

    python scripts/build_zh.py --gettext            # first: the English messages, _build/gettext/
    python scripts/carry_numbers.py                 # then: every catalogue under locales/zh_CN
    python scripts/carry_numbers.py --dry-run       # say what would be carried, write nothing

The notebooks generate sentences from the training records (conclusions, slider captions, glued
readings), and each is a message of the Chinese catalogue. New records change their numbers and
so their messages: after ``build_zh.py --gettext`` and ``sphinx-intl update``, the new messages
stand empty or fuzzy, and the old ones obsolete (``#~``). A new message whose text differs from
a translated old message of the same page **only in its numbers** gets that translation, with
each number replaced by the new message's number at the same place:

    old  "E = 24 epochs ... over 2 seeds"   ->  "E = 24 轮 ... 2 个随机种子上"
    new  "E = 48 epochs ... over 3 seeds"   ->  "E = 48 轮 ... 3 个随机种子上"

The rule (what a number is, when a carry is unambiguous) is ``book/_ext/i18n_carry.py``'s, which
the Chinese build applies too: a page whose generated sentence has new numbers still builds, the
sentence translated by the same rule, before anyone runs this script (and ``tests/test_i18n.py``
counts such a message as translated). This script writes those carries into the catalogues, so
that they hold what the site shows. Anything the rule does not carry (a changed word, a number the
translator wrote out as 两, a list that grew) is left empty or fuzzy for a translator, and
``scripts/translations.py`` lists it.

The steps: (1) each message of a template (``_build/gettext/<page>.pot``) that its catalogue lacks
and :func:`carry` can translate is added to the catalogue, translated; (2) ``sphinx-intl update``
merges the templates as usual (messages still missing are added empty, or fuzzy with the nearest
old translation; messages gone are kept as obsolete ``#~`` entries); (3) the ``python-format`` and
``python-brace-format`` flags babel puts on any message with ``%`` or ``{...}`` are removed (the
book has no format strings; ``msgfmt --check`` would hold translations to them), and the header's
``Project-Id-Version`` loses the second space babel writes into it; (4) empty or
fuzzy entries that :func:`carry` can translate from an old entry are filled. The ``.po`` files are
edited entry by entry (a file read and written back is the same bytes).
"""
from __future__ import annotations

import argparse
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOCALES = ROOT / "locales" / "zh_CN" / "LC_MESSAGES"

sys.path.insert(0, str(ROOT / "book" / "_ext"))
from i18n_carry import NUMBER, carry, numbers, wording  # noqa: E402,F401  (the rule the Chinese build shares)


# --- .po files, edited entry by entry -------------------------------------------------------------

def _unquote(line: str) -> str:
    body = line[line.index('"') + 1:line.rindex('"')]
    return re.sub(r'\\(.)', lambda m: {"n": "\n", "t": "\t"}.get(m.group(1), m.group(1)), body)


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\t", "\\t").replace("\n", "\\n") + '"'


def _field(keyword: str, text: str) -> list[str]:
    """``msgid`` or ``msgstr`` lines for ``text``, as sphinx-intl (``-w 0``) writes them: one line,
    or ``""`` and one line per line of a text with line breaks."""
    if "\n" not in text:
        return [f"{keyword} {_quote(text)}"]
    parts = text.split("\n")
    return [f'{keyword} ""'] + [_quote(p + "\n") for p in parts[:-1]] + ([_quote(parts[-1])] if parts[-1] else [])


@dataclass
class Entry:
    """One entry of a ``.po`` file: its lines as written, and what they say."""
    lines: list[str]
    msgid: str = ""
    msgstr: str = ""
    obsolete: bool = False
    fuzzy: bool = False
    _str_at: list[int] = field(default_factory=list)

    @classmethod
    def parse(cls, lines: list[str]) -> "Entry":
        e = cls(lines)
        key = None
        for i, line in enumerate(lines):
            text = line[3:] if line.startswith("#~ ") else line
            e.obsolete |= line.startswith("#~ ")
            if text.startswith("#,"):
                e.fuzzy = "fuzzy" in [f.strip() for f in text[2:].split(",")]
                continue
            if text.startswith("#"):
                continue
            if text.startswith("msgid "):
                key = "msgid"
            elif text.startswith("msgstr "):
                key = "msgstr"
            elif not text.startswith('"'):
                key = None                     # msgctxt, msgid_plural: not used by the book
                continue
            if key == "msgid":
                e.msgid += _unquote(text)
            elif key == "msgstr":
                e.msgstr += _unquote(text)
                e._str_at.append(i)
        return e

    def fill(self, text: str) -> None:
        """Set ``msgstr`` to ``text`` and drop the ``fuzzy`` flag."""
        first = self._str_at[0]
        lines = self.lines[:first] + _field("msgstr", text) + self.lines[self._str_at[-1] + 1:]
        out = []
        for line in lines:
            if line.startswith("#,"):
                flags = [f.strip() for f in line[2:].split(",") if f.strip() != "fuzzy"]
                if not flags:
                    continue
                line = "#, " + ", ".join(flags)
            out.append(line)
        self.lines, self.msgstr, self.fuzzy = out, text, False
        self._str_at = [i for i, line in enumerate(out) if line.startswith(("msgstr", '"')) and i >= first]


def read(path: Path) -> list[Entry]:
    """The entries of a ``.po`` file, split at blank lines."""
    blocks, block = [], []
    for line in path.read_text(encoding="utf-8").split("\n"):
        if line.strip():
            block.append(line)
        elif block:
            blocks.append(block)
            block = []
    if block:
        blocks.append(block)
    return [Entry.parse(b) for b in blocks]


def write(path: Path, entries: list[Entry], end: str = "\n") -> None:
    """Write ``entries`` back, a blank line between two, the file ending in ``end``."""
    path.write_text("\n\n".join("\n".join(e.lines) for e in entries) + end, encoding="utf-8")


def _sources(entries: list[Entry]) -> dict[str, list[Entry]]:
    """The translated entries (active or obsolete), by :func:`wording`."""
    sources: dict[str, list[Entry]] = {}
    for e in entries:
        if e.msgid and e.msgstr and not e.fuzzy:
            sources.setdefault(wording(e.msgid), []).append(e)
    return sources


def _carried(msgid: str, sources: dict[str, list[Entry]], skip: Entry | None = None) -> str | None:
    """The translation of ``msgid`` carried from the sources of its wording, if they all agree."""
    made = {carry(s.msgid, s.msgstr, msgid) for s in sources.get(wording(msgid), []) if s is not skip}
    return made.pop() if len(made) == 1 and None not in made else None


def template_messages(pot: Path) -> list[str]:
    """The msgids of a ``.pot`` template, in order."""
    return [e.msgid for e in read(pot) if e.msgid and not e.obsolete]


def carry_catalogue(path: Path, template: list[str] | None = None,
                    dry_run: bool = False) -> list[tuple[str, str]]:
    """Carry translations within the catalogue ``path``; return the ``(msgid, msgstr)`` made.

    Each message of ``template`` that the catalogue lacks, and each empty or fuzzy entry, gets the
    translation :func:`carry` makes from a translated entry (active or obsolete) of the same
    catalogue, when there is one: the first kind is added as a new entry at the end."""
    entries = read(path)
    text = path.read_text(encoding="utf-8")
    end = text[len(text.rstrip("\n")):] or "\n"
    sources = _sources(entries)
    made = []
    for e in entries:
        if e.obsolete or not e.msgid or (e.msgstr and not e.fuzzy):
            continue
        translation = _carried(e.msgid, sources, skip=e)
        if translation is not None:
            e.fill(translation)
            made.append((e.msgid, translation))
    known = {e.msgid for e in entries if not e.obsolete}
    for msgid in template or []:
        if msgid in known:
            continue
        translation = _carried(msgid, sources)
        if translation is not None:
            new = Entry.parse(_field("msgid", msgid) + ['msgstr ""'])
            new.fill(translation)
            entries.append(new)
            known.add(msgid)
            made.append((msgid, translation))
    if made and not dry_run:
        write(path, entries, end)
    return made


FORMAT_FLAGS = re.compile(r"^(#~ )?#,(.*)$")


def strip_format_flags(path: Path) -> int:
    """Remove babel's ``python-format`` and ``python-brace-format`` flags from ``path``;
    return how many entries had one."""
    lines, count = [], 0
    for line in path.read_text(encoding="utf-8").split("\n"):
        m = FORMAT_FLAGS.match(line)
        if m:
            flags = [f.strip() for f in m.group(2).split(",")]
            kept = [f for f in flags if f not in ("python-format", "python-brace-format")]
            if len(kept) != len(flags):
                count += 1
                if not kept:
                    continue
                line = (m.group(1) or "") + "#, " + ", ".join(kept)
        lines.append(line)
    if count:
        path.write_text("\n".join(lines), encoding="utf-8")
    return count


HEADER_FIELD = re.compile(r'^"(Project-Id-Version):\s+(.*?)\s*\\n"$')


def tidy_header(path: Path) -> bool:
    """Write ``Project-Id-Version`` as the catalogue had it: babel reads the template's
    ``"chattn "`` (the project and an empty version) and writes it back with two spaces. Return
    whether the header changed."""
    lines = path.read_text(encoding="utf-8").split("\n")
    tidy = [HEADER_FIELD.sub(lambda m: f'"{m.group(1)}: {m.group(2)}\\n"', line) for line in lines]
    if tidy != lines:
        path.write_text("\n".join(tidy), encoding="utf-8")
    return tidy != lines


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--gettext", default=str(ROOT / "_build" / "gettext"),
                   help="the templates' folder (python scripts/build_zh.py --gettext writes it)")
    p.add_argument("--dry-run", action="store_true", help="print what would be carried, write nothing")
    args = p.parse_args(argv)
    pots = sorted(Path(args.gettext).rglob("*.pot"))
    if not pots:
        print(f"no templates in {args.gettext}: run python scripts/build_zh.py --gettext first", file=sys.stderr)
        return 2
    made = []
    for pot in pots:                                          # (1) before the merge
        po = LOCALES / pot.relative_to(args.gettext).with_suffix(".po")
        if po.is_file():
            made += [(po, *m) for m in carry_catalogue(po, template_messages(pot), args.dry_run)]
    if not args.dry_run:
        subprocess.run([sys.executable, "-m", "sphinx_intl", "update",     # this Python's, PATH or not
                        "-p", str(args.gettext), "-l", "zh_CN",
                        "-d", str(LOCALES.parent.parent), "-w", "0"], check=True)           # (2)
        for po in sorted(LOCALES.rglob("*.po")):
            strip_format_flags(po)                                                       # (3)
            tidy_header(po)
            made += [(po, *m) for m in carry_catalogue(po)]                              # (4)
    for po, msgid, msgstr in made:
        print(f"{po.relative_to(LOCALES)}: {msgid[:100]!r}\n    -> {msgstr[:100]!r}")
    print(f"{len(made)} translations carried over to new numbers" + (" (dry run)" if args.dry_run else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
