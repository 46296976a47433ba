"""The Chinese edition (中文版): catalogues complete, one build for both languages, and the site in Chromium.

- The catalogues (``locales/zh_CN/LC_MESSAGES/<page>.po``): every message the Chinese build found
  on every page (``_build/html/zh/_i18n/<page>.json``, written by ``book/_ext/chattn_i18n.py``
  before Sphinx's ``Locale`` translates it) has a translation that is not empty, not fuzzy and
  keeps the English's maths, code, link targets and tags (``scripts/translations.py``). A changed
  English paragraph is a new message: it fails here until its translation is updated.
- The build: every page of ``_toc.yml`` has its Chinese page, ``<html lang="zh-CN">``, a language
  switch to the same page in English and back; no page loads anything from another host; the
  search index splits Chinese words; the slider frames are the English site's files.
- In Chromium: a Chinese chapter's maths typesets, its slider moves (frame and Chinese caption),
  its language switch leads to the English page.
- The Chinese PDF.
"""
from __future__ import annotations

import json
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from conftest import ROOT, SITE, missing, new_page, toc_files

sys.path.insert(0, str(ROOT / "scripts"))
import translations  # noqa: E402

ZH = SITE / "zh"
CHAPTER = "book/06_eca"                   # a chapter with maths, a slider with captions, glue-free


def require_zh() -> Path:
    if not (ZH / "index.html").is_file():
        missing(f"no Chinese edition at {ZH}: build it (bash scripts/book.sh, or scripts/build_zh.py)")
    return ZH


# ---------------------------------------------------------------- the catalogues' checks (unit)

def test_markup_check_finds_lost_maths_code_links_and_tags():
    en = "A $k$-tap filter: see [ECA](06_eca.ipynb), ``code``, {cite}`wang2020eca` and <a href=\"x.html\">x</a>."
    good = "一个 $k$ 抽头的滤波器：见 [ECA](06_eca.ipynb)、``code``、{cite}`wang2020eca` 和 <a href=\"x.html\">x</a>。"
    assert translations.markup(en) == translations.markup(good)
    for broken in [good.replace("$k$", "k"), good.replace("06_eca.ipynb", "07_rcan.ipynb"),
                   good.replace("``code``", "code"), good.replace("{cite}`wang2020eca`", "wang2020eca"),
                   good.replace('<a href="x.html">', '<a href="y.html">')]:
        assert translations.markup(en) != translations.markup(broken), broken
    # words in \text{} may be translated; the maths around them may not
    assert (translations.markup(r"$s = \sigma(z) \text{ (excite)}$")
            == translations.markup(r"$s = \sigma(z) \text{ （激励）}$"))
    assert (translations.markup(r"$s = \sigma(z)$") != translations.markup(r"$s = \delta(z)$"))


def test_an_entry_counts_only_when_translated_and_not_fuzzy():
    from babel.messages.catalog import Message

    assert translations.entry_problem(None) == "not in the catalogue"
    assert translations.entry_problem(Message("Squeeze", "")) == "not translated"
    assert translations.entry_problem(Message("Squeeze", "挤压", flags=["fuzzy"])) == "fuzzy"
    assert translations.entry_problem(Message("Squeeze", "挤压")) is None
    assert translations.entry_problem(Message("$z$ is GAP", "GAP")).startswith("markup differs")
    # a heading "6. ECA: ..." translated "6. ECA：..." is a list item to MyST (Sphinx keeps the English)
    assert translations.entry_problem(Message("6. ECA: x", "6. ECA：x")).startswith("starts like a numbered list")
    assert translations.entry_problem(Message("6. ECA: x", "6\\. ECA：x")) is None


CARRY_PO = """# header
msgid ""
msgstr ""
"Content-Type: text/plain; charset=UTF-8\\n"

msgid "A title"
msgstr "一个标题"

msgid "E = 48 epochs, +0.31 points over 3 seeds."
msgstr ""

#, fuzzy
msgid "k = 5: accuracy 95.0 % -> 96.2 %"
msgstr "k = 3：准确率 93.1 % -> 94.0 %"

msgid "over 3 seeds"
msgstr ""

msgid "24 and 48"
msgstr ""

msgid "E = 48 epochs,\\nthen 96."
msgstr ""

#~ msgid "E = 24 epochs, +0.12 points over 2 seeds."
#~ msgstr "E = 24 轮，2 个随机种子上 +0.12 个百分点。"

#~ msgid "k = 3: accuracy 93.1 % -> 94.0 %"
#~ msgstr "k = 3：准确率 93.1 % -> 94.0 %"

#~ msgid "over 2 seeds"
#~ msgstr "两个随机种子上"

#~ msgid "24 and 24"
#~ msgstr "24 和 24"

#~ msgid "E = 24 epochs,\\nthen 48."
#~ msgstr ""
#~ "E = 24 轮，\\n"
#~ "然后 48。"
"""


def test_numbers_are_carried_only_where_the_wording_is_the_same():
    from carry_numbers import carry, numbers

    assert numbers("E = 24 (+0.12, −3.5 %) top16 1e-3 2E w^2") == ["24", "+0.12", "\u22123.5", "2"]
    assert carry("E = 24, over 2 seeds", "E = 24，2 个种子", "E = 48, over 3 seeds") == "E = 48，3 个种子"
    assert carry("over 2 seeds", "两个种子", "over 3 seeds") is None          # written as a word
    assert carry("24 and 24", "24 和 24", "24 and 48") is None                # which 24 is which?
    assert carry("accuracy 95 %", "准确率 95%", "accuracy rose to 96 %") is None   # other words
    assert carry("r = 4: 2 of 4", "r = 4：4 个中的 2 个 (r = 4)", "r = 8: 2 of 8") is None  # 4 once more


def test_carry_fills_new_and_fuzzy_entries_from_the_old_ones_and_touches_nothing_else(tmp_path):
    from babel.messages.pofile import read_po
    from carry_numbers import carry_catalogue

    po = tmp_path / "page.po"
    po.write_text(CARRY_PO, encoding="utf-8")
    filled = dict(carry_catalogue(po))
    assert filled == {"E = 48 epochs, +0.31 points over 3 seeds.": "E = 48 轮，3 个随机种子上 +0.31 个百分点。",
                      "k = 5: accuracy 95.0 % -> 96.2 %": "k = 5：准确率 95.0 % -> 96.2 %",
                      "E = 48 epochs,\nthen 96.": "E = 48 轮，\n然后 96。"}
    with po.open("rb") as f:
        cat = read_po(f)
    for msgid, msgstr in filled.items():
        assert cat[msgid].string == msgstr and not cat[msgid].fuzzy
    assert cat["over 3 seeds"].string == "" and cat["24 and 48"].string == ""   # for a translator
    before, after = CARRY_PO.split("\n\n"), po.read_text(encoding="utf-8").split("\n\n")
    assert len(before) == len(after) and sum(a != b for a, b in zip(before, after)) == 3
    subprocess.run(["msgfmt", "--check", "-o", "/dev/null", str(po)], check=True)
    assert carry_catalogue(po) == []                                       # nothing left to do


def test_a_template_message_the_catalogue_lacks_is_added_translated_and_format_flags_go(tmp_path):
    from babel.messages.pofile import read_po
    from carry_numbers import carry_catalogue, strip_format_flags, tidy_header

    po = tmp_path / "page.po"
    po.write_text('msgid ""\nmsgstr ""\n"Project-Id-Version:  chattn\\n"\n"Content-Type: text/plain; charset=UTF-8\\n"\n\n'
                  'msgid "E = 24 epochs, over 2 seeds."\nmsgstr "E = 24 轮，2 个随机种子。"\n\n'
                  '#, python-brace-format\nmsgid "{cite}`x` says so."\nmsgstr "{cite}`x` 如是说。"\n\n'
                  '#, fuzzy, python-format\nmsgid "95 % of it"\nmsgstr ""\n', encoding="utf-8")
    made = carry_catalogue(po, ["E = 48 epochs, over 3 seeds.", "A new sentence.", "E = 24 epochs, over 2 seeds."])
    assert made == [("E = 48 epochs, over 3 seeds.", "E = 48 轮，3 个随机种子。")]
    assert strip_format_flags(po) == 2
    text = po.read_text(encoding="utf-8")
    assert "python-" not in text and "#, fuzzy\nmsgid \"95 % of it\"" in text
    assert tidy_header(po) and '"Project-Id-Version: chattn\\n"' in po.read_text(encoding="utf-8")
    assert not tidy_header(po)                                # tidy already: the file is left alone
    with po.open("rb") as f:
        cat = read_po(f)
    assert cat["E = 48 epochs, over 3 seeds."].string == "E = 48 轮，3 个随机种子。"
    assert "A new sentence." not in cat                      # for sphinx-intl update and a translator
    subprocess.run(["msgfmt", "--check", "-o", "/dev/null", str(po)], check=True)


def test_every_page_has_a_catalogue():
    have = {p.relative_to(translations.LOCALES).with_suffix("").as_posix()
            for p in translations.LOCALES.rglob("*.po")}
    assert set(toc_files()) <= have, sorted(set(toc_files()) - have)


CARRY_BUILD_PO = """msgid ""
msgstr ""
"Content-Type: text/plain; charset=UTF-8\\n"

msgid "Title"
msgstr "标题"

msgid "Of the grid's 60 runs, 12 are trained and shipped so far."
msgstr "网格的 60 次运行中，目前已训练并发布 12 次。"
"""


def _tiny_book(root: Path, sentence: str) -> subprocess.CompletedProcess:
    """A one-page Chinese build with this extension (``-W``) of a page saying ``sentence``, against
    a catalogue translating the sentence with 12 runs."""
    (root / "locales" / "zh_CN" / "LC_MESSAGES").mkdir(parents=True)
    (root / "locales" / "zh_CN" / "LC_MESSAGES" / "index.po").write_text(CARRY_BUILD_PO, encoding="utf-8")
    (root / "conf.py").write_text(
        f"import sys\nsys.path.insert(0, {str(ROOT / 'book' / '_ext')!r})\n"
        "extensions = ['myst_nb', 'chattn_i18n']\nlanguage = 'zh_CN'\nlocale_dirs = ['locales']\n"
        "gettext_compact = False\n", encoding="utf-8")
    (root / "index.rst").write_text(f"Title\n=====\n\n{sentence}\n", encoding="utf-8")
    return subprocess.run([sys.executable, "-m", "sphinx", "-W", "-q", "-b", "html", str(root), str(root / "out")],
                          capture_output=True, text=True)


def test_the_chinese_build_carries_new_numbers_and_fails_on_new_words(tmp_path):
    """A generated sentence whose numbers changed (new training records) builds, translated by
    carrying its numbers over, and counts as translated; one whose words changed fails the build."""
    done = _tiny_book(tmp_path / "numbers", "Of the grid's 60 runs, 20 are trained and shipped so far.")
    assert done.returncode == 0, done.stderr[-2000:]
    page = (tmp_path / "numbers" / "out" / "index.html").read_text(encoding="utf-8")
    assert "网格的 60 次运行中，目前已训练并发布 20 次。" in page and "12 次" not in page
    record = json.loads((tmp_path / "numbers" / "out" / "_i18n" / "index.json").read_text(encoding="utf-8"))
    assert record["untranslated"] == 0 and len(record["carried"]) == 1

    done = _tiny_book(tmp_path / "words", "Of the grid's 60 runs, 20 are trained and shipped already.")
    assert done.returncode != 0 and "untranslated message" in done.stderr, done.stderr[-2000:]


def test_a_message_with_new_numbers_counts_as_translated_new_words_do_not(tmp_path, monkeypatch):
    po = tmp_path / "page.po"
    po.write_text(CARRY_BUILD_PO, encoding="utf-8")
    monkeypatch.setattr(translations, "LOCALES", tmp_path)
    new_numbers = "Of the grid's 60 runs, 20 are trained and shipped so far."
    new_words = "Of the grid's 60 runs, 20 are trained and shipped already."
    assert translations.problems("page", [new_numbers, new_words]) == [(new_words, "not in the catalogue")]


# ---------------------------------------------------------------- the build

@pytest.mark.built
def test_every_message_of_every_page_is_translated():
    """Counted from the catalogues, for the messages the Chinese build found on each page."""
    require_zh()
    counts, problems = {}, []
    for doc in toc_files():
        record = ZH / "_i18n" / f"{doc}.json"
        assert record.is_file(), f"the Chinese build did not record {doc}'s messages ({record})"
        messages = json.loads(record.read_text(encoding="utf-8"))["messages"]
        found = translations.problems(doc, messages)
        counts[doc] = (len(messages), len(messages) - len(found))
        problems += [f"{doc}: {why}: {msg[:90]!r}" for msg, why in found]
    total = sum(n for n, _ in counts.values())
    print(f"{total} messages on {len(counts)} pages, {sum(t for _, t in counts.values())} translated")
    assert total > 1000 and all(n > 0 for n, _ in counts.values()), counts
    assert problems == [], f"{len(problems)} messages without a good translation:\n" + "\n".join(problems[:40])


@pytest.mark.built
def test_every_display_equation_of_a_chinese_page_is_its_equation():
    """A display equation whose translation differs (Chinese in ``\\text{}``) reaches Sphinx as a
    reST literal block (``::`` and the equation indented); on a MyST page it showed ``\\[::\\]``."""
    require_zh()
    display = re.compile(r'<div class="math notranslate nohighlight">\s*\\\[(.*?)\\\]\s*</div>', re.S)
    for doc in toc_files():
        en = display.findall((SITE / f"{doc}.html").read_text(encoding="utf-8"))
        zh = display.findall((ZH / f"{doc}.html").read_text(encoding="utf-8"))
        assert len(zh) == len(en), doc
        broken = [e for e, z in zip(en, zh) if z.strip() in ("", "::") or z.strip().startswith("::")]
        assert not broken, (doc, broken)
        assert sum(e != z for e, z in zip(en, zh)) == sum(
            bool(re.search(r"\\text\{[^}]*[\u4e00-\u9fff]", z)) for z in zh), doc   # only translated text differs


@pytest.mark.built
def test_every_page_has_its_chinese_page_with_lang_and_a_switch_both_ways():
    require_zh()
    for doc in toc_files():
        en, zh = SITE / f"{doc}.html", ZH / f"{doc}.html"
        assert zh.is_file(), f"no Chinese page for {doc}"
        en_html, zh_html = en.read_text(encoding="utf-8"), zh.read_text(encoding="utf-8")
        assert re.search(r'<html lang="zh-CN"', zh_html), doc
        assert re.search(r'<html lang="en"', en_html), doc
        up = "../" * doc.count("/")
        assert f'hreflang="zh-CN" href="{up}zh/{doc}.html"' in en_html, doc
        assert f'hreflang="en" href="{up}../{doc}.html"' in zh_html, doc
        # the visible switch (a header button), in the same tab
        to_zh = re.findall(r'<a href="([^"]+)"\s+class="btn btn-sm btn-language-switch-zh-CN"', en_html)
        to_en = re.findall(r'<a href="([^"]+)"\s+class="btn btn-sm btn-language-switch-en"', zh_html)
        assert to_zh == [f"{up}zh/{doc}.html"] and to_en == [f"{up}../{doc}.html"], (doc, to_zh, to_en)
        title = re.sub(r"<[^>]+>", "", re.search(r"<h1>(.*?)</h1>", zh_html, re.S).group(1))
        assert re.search(r"[\u4e00-\u9fff]", title), f"{doc}: the Chinese page's title is {title!r}"
        # Chinese prose, not English with a Chinese frame
        body = re.sub(r"<[^>]+>", " ", zh_html.split('<article', 1)[-1])
        han = len(re.findall(r"[\u4e00-\u9fff]", body))
        if doc != "book/bibliography":                   # the references themselves are not translated
            assert han > 50, f"{doc}: only {han} Chinese characters on its Chinese page"


@pytest.mark.built
def test_the_chinese_edition_shares_the_english_frames():
    require_zh()
    page = (ZH / f"{CHAPTER}.html").read_text(encoding="utf-8")
    frames = re.findall(r'class="chattn-frame"[^>]*?(?:src|data-src)="([^"]+)"', page)
    assert frames, "no slider frames on the Chinese chapter"
    for url in frames:
        assert url.startswith("../../_images/"), url             # the English site's files
        assert (ZH / "book" / url).resolve().is_file(), url
    assert not (ZH / "_images").exists() or not any(
        p.name in {Path(u).name for u in frames} for p in (ZH / "_images").iterdir())


@pytest.mark.built
def test_the_search_index_splits_chinese_words():
    require_zh()
    index = (ZH / "searchindex.js").read_text(encoding="utf-8")
    terms = json.loads(re.search(r"Search\.setIndex\((.*)\)\s*$", index, re.S).group(1))["terms"]
    assert "挤压" in terms and "激励" in terms, sorted(t for t in terms if re.match(r"[\u4e00-\u9fff]", t))[:20]


@pytest.mark.built
def test_a_chinese_chapter_in_chromium(browser, base_url):
    """Maths typeset, the slider moves (frame and caption, in Chinese), the switch leads to English."""
    require_zh()
    page = new_page(browser, base_url)
    try:
        page.goto(f"{base_url}/zh/{CHAPTER}.html", wait_until="load")
        page.wait_for_function("() => window.MathJax && MathJax.startup && MathJax.startup.promise")
        page.evaluate("() => MathJax.startup.promise")
        assert page.locator("mjx-container").count() > 20
        assert page.locator("html").get_attribute("lang") == "zh-CN"
        block = page.locator(".chattn-slider").filter(has=page.locator(".chattn-caption")).first
        block.scroll_into_view_if_needed()
        shown = "b => { const v = e => e.style.display !== 'none';" \
                " return [Array.from(b.querySelectorAll('img.chattn-frame')).filter(v).map(i => i.currentSrc || i.src)," \
                " Array.from(b.querySelectorAll('.chattn-caption')).filter(v).map(c => c.textContent.trim())]; }"
        before = block.evaluate(shown)
        block.locator("input[type=range]").first.evaluate(
            "r => { r.value = +r.max; r.dispatchEvent(new Event('input', {bubbles: true})); }")
        page.wait_for_function("b => Array.from(b.querySelectorAll('img.chattn-frame'))"
                               ".filter(i => i.style.display !== 'none').every(i => i.complete && i.naturalWidth > 0)",
                               arg=block.element_handle())
        after = block.evaluate(shown)
        assert len(before[0]) == len(after[0]) == 1 and before[0] != after[0], (before, after)
        assert len(after[1]) == 1 and after[1] != before[1], (before, after)
        assert re.search(r"[\u4e00-\u9fff]", after[1][0]), f"the caption is not Chinese: {after[1][0]!r}"
        page.locator("a.btn-language-switch-en").first.click()
        page.wait_for_url(f"{base_url}/{CHAPTER}.html")
        assert page.locator("html").get_attribute("lang") == "en"
        assert page.errors == [] and page.off_site == [], (page.errors, page.off_site)
    finally:
        page.context.close()


@pytest.mark.built
def test_the_chinese_pdf():
    require_zh()
    pdf = ZH / "chattn-book-zh.pdf"
    if not pdf.is_file():
        missing(f"no Chinese PDF at {pdf}: python scripts/pdf.py --language zh")
    text = subprocess.run(["pdftotext", "-enc", "UTF-8", "-l", "40", str(pdf), "-"],
                          capture_output=True, text=True, check=True).stdout
    han = Counter(re.findall(r"[\u4e00-\u9fff]", text))
    assert sum(han.values()) > 2000 and han["挤"] > 5, sum(han.values())
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True).stdout
    assert re.search(r"^Title:\s+通道注意力：挤压、激励、缩放$", info, re.M), info      # the book's, not a page's
    pages = int(re.search(r"Pages:\s+(\d+)", info).group(1))
    english = int(re.search(r"Pages:\s+(\d+)", subprocess.run(
        ["pdfinfo", str(SITE / "chattn-book.pdf")], capture_output=True, text=True).stdout or "Pages: 0").group(1))
    assert pages > 100 and (english == 0 or 0.6 * english < pages < 1.6 * english), (pages, english)
    intro = (ZH / "book" / "intro.html").read_text(encoding="utf-8")
    assert 'href="../chattn-book-zh.pdf"' in intro
