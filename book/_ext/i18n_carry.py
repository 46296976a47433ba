"""A translation carried over to new numbers: the one rule the Chinese build and
``scripts/carry_numbers.py`` share.

The notebooks generate sentences from the training records; a new record changes a sentence's
numbers, and so its gettext message. A message whose text differs from a translated message of the
same page **only in its numbers** gets that translation, each number replaced by the new message's
number at the same place::

    old  "E = 24 epochs ... over 2 seeds"   ->  "E = 24 轮 ... 2 个随机种子上"
    new  "E = 48 epochs ... over 3 seeds"   ->  "E = 48 轮 ... 3 个随机种子上"

A number is a run of digits, with a decimal part and a sign (``+0.12``, ``−3.5``, ``97.72``), not
touching a letter (``top16``, ``1e-3``, ``2E`` are words). The carry is made only when it is
unambiguous: every number that changes appears, as written, in the old translation, no more often
than in the old message, and all its places in the old message change to the same new number; when
several translated messages share the new one's wording, they must all give the same translation.
"""
from __future__ import annotations

import re
from typing import Iterable

NUMBER = re.compile(r"(?<![\w.\-+\u2212])[-+\u2212]?\d+(?:\.\d+)?(?![\w]|\.\d)")


def numbers(text: str) -> list[str]:
    """The numbers of ``text``, in order, as written."""
    return NUMBER.findall(text)


def wording(text: str) -> str:
    """``text`` with every number replaced by one placeholder: two texts of the same wording."""
    return NUMBER.sub("\0", text)


def carry(old_id: str, old_str: str, new_id: str) -> str | None:
    """The translation of ``new_id`` made from ``old_str``, the translation of ``old_id``, or
    ``None`` when the two messages differ in more than their numbers or the carry is ambiguous."""
    if wording(old_id) != wording(new_id) or not old_str:
        return None
    old, new = numbers(old_id), numbers(new_id)
    to: dict[str, str] = {}
    for a, b in zip(old, new):
        if to.setdefault(a, b) != b:
            return None                        # one old number, two new ones: which is which?
    changed = {a: b for a, b in to.items() if a != b}
    in_str = numbers(old_str)
    for a in changed:
        if not 0 < in_str.count(a) <= old.count(a):
            return None                        # written otherwise (两), or also a constant there
    return NUMBER.sub(lambda m: changed.get(m.group(0), m.group(0)), old_str)


def carry_from(msgid: str, translated: Iterable[tuple[str, str]]) -> str | None:
    """The translation of ``msgid`` carried from the ``(msgid, msgstr)`` pairs of its wording among
    ``translated``, when they all give the same one; else ``None``."""
    key = wording(msgid)
    made = {carry(old_id, old_str, msgid) for old_id, old_str in translated
            if old_str and wording(old_id) == key}
    return made.pop() if len(made) == 1 and None not in made else None


class Carrier:
    """:func:`carry_from` over one catalogue (``msgid -> msgstr``, translated entries only), its
    messages indexed by wording once."""

    def __init__(self, catalogue: dict[str, str]):
        self.by_wording: dict[str, list[tuple[str, str]]] = {}
        for msgid, msgstr in catalogue.items():
            if msgid and msgstr:
                self.by_wording.setdefault(wording(msgid), []).append((msgid, msgstr))

    def __call__(self, msgid: str) -> str | None:
        return carry_from(msgid, self.by_wording.get(wording(msgid), []))
