"""HTML for answer cards, the sources panel and briefings: one block, one direction.

Every block says what it is: ``dir`` and ``lang`` from its own text, ``unicode-bidi:
isolate`` so neighbours never reorder it. Inside a block, a run of the other script (an
Arabic outlet in an English line, a file name in an Arabic heading) is wrapped in
``<bdi>`` with its own direction, so brackets and word order hold. Machine translations,
notes and notices are blocks of their own, never runs inside a quote. Citations ``[n]``
are links to the source they cite (see HEAD: the click opens, scrolls to and highlights
it). Article text is escaped: it is data, never markup.
"""

from __future__ import annotations

import re
from html import escape
from pathlib import Path

from rag.briefing.briefing import Briefing, Line, see_label
from rag.rendering.markdown import possibly
from rag.text.arabic import detect_language
from rag.translation.translator import KEY_FACTS_LABEL, reader_note
from rag.types import Answer, Document, Source

_AR = "\u0600-\u06ff\u0750-\u077f\u08a0-\u08ff\ufb50-\ufdff\ufe70-\ufeff"
_AR_RUN = re.compile(f"[{_AR}](?:[{_AR}0-9\u0660-\u0669\\s.,،؛:\\-–—/()«»\"'’%]*[{_AR}»)])?")
_LATIN_RUN = re.compile(r"[A-Za-z0-9][\w.,:/+&'’()\-]*(?: +[A-Za-z0-9(][\w.,:/+&'’()\-]*)*", re.ASCII)
_NUMERIC = re.compile(r"\d+(?:[-/:.]\d+)+")  # "2021-05" after an Arabic word would show as "05-2021"
_CITE = re.compile(r"\[(\d+)\]")
_DIR = {"ar": "rtl", "en": "ltr"}

CSS = """
.isnad-block { unicode-bidi: isolate; text-align: start; margin: 2px 0; }
bdi { unicode-bidi: isolate; }
.isnad-card { display: flex; flex-direction: column; gap: 6px; }
.isnad-short { font-size: 1.05em; }
.isnad-src, .isnad-source { border: 1px solid #d6d3cc; border-radius: 8px; padding: 6px 10px; margin: 4px 0; }
.isnad-source summary { cursor: pointer; font-weight: 600; }
.isnad-flash { outline: 3px solid #f59e0b; outline-offset: 2px; }
mark { background: #fde68a; padding: 0 2px; }
mark.isnad-answer { background: #fbbf24; font-weight: 600; }
.isnad-translated { text-decoration: underline dotted #6b7280; text-underline-offset: 3px; }
.isnad-meta { color: #5c6675; font-size: 0.88em; }
.isnad-note { color: #7c5e10; font-size: 0.9em; }
.isnad-possibly { color: #555; font-style: italic; margin-top: 0.3em; }
.isnad-mt { color: #374151; }
.isnad-mt .isnad-label, .isnad-label { color: #5c6675; font-style: italic; font-size: 0.9em; }
.isnad-grid { display: grid; grid-template-columns: 1fr 1fr; gap: 10px; border-top: 1px solid #eee; padding: 6px 0;
  direction: rtl; }  /* Arabic column on the right; each cell sets its own direction */
.isnad-one { border-top: 1px solid #eee; padding: 6px 0; }
.isnad-brief h3 { margin: 12px 0 4px 0; }
a.isnad-cite { font-size: 0.85em; color: #1d4ed8; text-decoration: none; cursor: pointer; unicode-bidi: isolate; }
a.isnad-cite:hover { text-decoration: underline; }
.isnad-panel h3 { margin: 4px 0; }
#isnad-corpus, #isnad-corpus *, #isnad-feeds, #isnad-feeds * { font-family: inherit !important; }
/* each title in its own direction */
#isnad-corpus td, #isnad-corpus td *, #isnad-feeds td, #isnad-feeds td * { unicode-bidi: plaintext; text-align: start; }
@media (max-width: 700px) {
  /* every top tab in view on a phone: Gradio moves what does not fit into a "⋯" menu */
  .tab-container > button { padding-left: 6px !important; padding-right: 6px !important; }
  .isnad-grid { grid-template-columns: 1fr; }
  .isnad-grid > div:first-child { border-bottom: 1px dashed #e5e7eb; padding-bottom: 4px; }
}
"""

# Citation links, and the chat scrolled to the start of a new answer (not its end), by plain DOM.
HEAD = """<script>
(() => {
  const open = (target) => {
    if (target.tagName === 'DETAILS') target.open = true;
    document.querySelectorAll('.isnad-flash').forEach(e => e.classList.remove('isnad-flash'));
    target.classList.add('isnad-flash');
    (target.querySelector('mark.isnad-answer') || target.querySelector('mark') || target)
      .scrollIntoView({block: 'center', behavior: 'instant'});
  };
  document.addEventListener('click', (ev) => {
    const a = ev.target.closest && ev.target.closest('a.isnad-cite');
    if (!a) return;
    ev.preventDefault();
    const id = (a.getAttribute('href') || '').slice(1);
    const m = id.match(/^isnad-src-(\\w+)-(\\d+)$/);
    let target = null;
    if (m) {  // the panel holds the latest answer's sources, with their paragraphs
      const panel = document.querySelector('.isnad-panel.isnad-for-' + m[1]);
      if (panel) target = panel.querySelector('#isnad-src-' + m[2]);
    }
    target = target || document.getElementById(id);
    if (target) open(target);
  });
  let bots = 0;
  new MutationObserver(() => {
    const chat = document.querySelector('#isnad-chat');
    if (!chat) return;
    const now = chat.querySelectorAll('[data-testid=bot]').length;
    if (now > bots) {
      const users = chat.querySelectorAll('[data-testid=user]');
      const last = users[users.length - 1];
      const box = last && last.closest('.bubble-wrap, [role=log]');
      if (last && box) box.scrollTop += last.getBoundingClientRect().top - box.getBoundingClientRect().top - 8;
    }
    bots = now;
  }).observe(document.documentElement, {childList: true, subtree: true});
})();
</script>"""


_META_AR = (
    ("shipped seed article", "مقال مرفق بالمنتج"),
    ("uploaded in the app", "رُفع في التطبيق"),
    ("added with isnad ingest", "أُضيف بالأمر isnad ingest"),
    ("origin not recorded", "مصدره غير مسجل"),
    ("end of ", "نهاية "),
    ("start of ", "بداية "),
    (" (year inferred)", " (السنة مستنتجة)"),
)


def language_of(text: str) -> str:
    return "ar" if detect_language(text) == "ar" else "en"


def notice_language(text: str) -> str:
    """Isnad's own notices are English unless written wholly in Arabic (titles they quote do not count)."""
    return "en" if re.search(r"[A-Za-z]{3,}", text) else "ar"


def in_lang(label: str, lang: str) -> str:
    """Isnad's short labels (an arrival, "end of 2021") in the column's language."""
    if lang == "ar":
        for en, ar in _META_AR:
            label = label.replace(en, ar)
    return label


def isolate(text: str, lang: str) -> str:
    """``text`` escaped, each run of the other script in its own ``<bdi>`` (brackets and order kept)."""
    other, run = ("en", _LATIN_RUN) if lang == "ar" else ("ar", _AR_RUN)
    out, at = [], 0
    for m in run.finditer(text):
        piece = m.group().rstrip(".,: ") if other == "en" else m.group()
        if other == "en" and not (re.search(r"[A-Za-z]", piece) or _NUMERIC.fullmatch(piece)):
            continue  # plain numbers read the same in both directions
        out += [
            escape(text[at : m.start()]),
            f'<bdi dir="{_DIR[other]}" lang="{other}">{escape(piece)}</bdi>',
        ]
        at = m.start() + len(piece)
    out.append(escape(text[at:]))
    return "".join(out)


def block(
    text: str,
    cls: str = "",
    lang: str | None = None,
    tag: str = "div",
    inner: str | None = None,
    extra: str = "",
) -> str:
    """One block in one direction. ``inner``: ready HTML instead of ``text`` (which then only sets the language)."""
    lang = lang or language_of(text)
    body = inner if inner is not None else isolate(text.replace("\n", " "), lang)
    return f'<{tag} class="isnad-block {cls}" dir="{_DIR[lang]}" lang="{lang}"{extra}>{body}</{tag}>'


def link_cites(html: str, prefix: str) -> str:
    """``[n]`` in Isnad's own (escaped) text as links to ``#{prefix}-n``."""
    return _CITE.sub(
        lambda m: f'<a class="isnad-cite" href="#{prefix}-{m.group(1)}">[{m.group(1)}]</a>', html
    )


def cite(n: int, prefix: str) -> str:
    return link_cites(f"[{n}]", prefix)


def meta_line(n: int | None, parts: list[str | None], lang: str, tag: str = "div") -> str:
    """ "[n] outlet · date · file": every part isolated, so names and file names keep their order."""
    items = [f"<bdi>{escape(p)}</bdi>" for p in parts if p]
    head = f"[{n}] " if n is not None else ""
    return block("", "isnad-meta", lang, tag=tag, inner=head + " · ".join(items))


# ---------------------------------------------------------------- answers


def answer_card(answer: Answer, aid: str) -> str:
    """The chat message: short answer, (generated text,) one block per source, then notices."""
    lang, prefix = answer.language, f"isnad-src-{aid}"
    parts = []
    lines = [x for x in answer.answer.split("\n") if x.strip()]
    if answer.short and lines and lines[0] == answer.short.text:
        lines.pop(0)
        parts.append(
            block("", "isnad-short", lang, inner=link_cites(_bold_lead(answer.short.text, lang), prefix))
        )
    if answer.abstained:
        parts.append(block(answer.answer, "isnad-short", lang))
        if answer.why:
            parts.append(block(f"Why: {answer.why}.", "isnad-note", "en"))
    elif answer.engine != "extractive":  # the model's prose, checked sentence by sentence
        parts += [
            block("", "isnad-generated", lang, inner=link_cites(isolate(x, lang), prefix)) for x in lines
        ]
    parts += [_source_block(s, answer, prefix) for s in answer.sources]
    if answer.withheld_short is not None and not answer.abstained:
        parts.append(
            block(
                "",
                "isnad-possibly",
                lang,
                inner=link_cites(isolate(possibly(answer.withheld_short, lang), lang), prefix),
            )
        )
    parts += [block(n, "isnad-note", notice_language(n)) for n in answer.notices]
    return f'<div class="isnad-card" id="isnad-answer-{aid}" dir="{_DIR[lang]}" lang="{lang}">{"".join(parts)}</div>'


def _bold_lead(text: str, lang: str) -> str:
    """The short answer's leading ``**value**`` (or "The sources differ:") in bold, the rest as text."""
    m = re.match(r"\*\*(.+?)\*\*(.*)", text)
    if m is None:
        return isolate(text, lang)
    return f"<strong>{isolate(m.group(1), lang)}</strong>{isolate(m.group(2), lang)}"


def _source_block(s: Source, answer: Answer, prefix: str) -> str:
    """One source in a card: the English rendering first for an English reader, the quote, the where-from line."""
    quote_lang = language_of(s.quote)
    quote = block("", "isnad-quote", quote_lang, inner=f"«{_marked_quote(s, answer)}» " + cite(s.n, prefix))
    english = []
    if answer.language == "en" and quote_lang == "ar":
        if s.translation:
            english.append(
                block(
                    "",
                    "isnad-mt",
                    "en",
                    inner=f'<span class="isnad-label">{_mt_label(s)}</span> “{isolate(s.translation, "en")}”',
                )
            )
        elif s.facts:
            english.append(
                block(
                    "",
                    "isnad-mt",
                    "en",
                    inner=f'<span class="isnad-label">'
                    f"{escape(KEY_FACTS_LABEL['en'].capitalize())}:</span> "
                    f"{isolate(s.facts, 'en')}",
                )
            )
        if s.translation_note and not s.translation:
            english.append(_withheld(s.translation_note))
    where = meta_line(
        s.n,
        [
            s.outlet or ("outlet unknown" if answer.language == "en" else "المصدر غير معروف"),
            s.date or ("date unknown" if answer.language == "en" else "التاريخ غير معروف"),
            Path(s.source).name,
            in_lang(s.arrival, answer.language) or None,
        ],
        answer.language,
    )
    body = english + [quote] if answer.language == "en" else [quote] + english
    return f'<div class="isnad-src" id="{prefix}-{s.n}">{"".join(body)}{where}</div>'


def _mt_label(s: Source) -> str:
    return "Machine translation of the underlined words:" if s.translated else "Machine translation:"


def _marked_quote(s: Source, answer: Answer) -> str:
    """The quote, the short answer's words inside it highlighted and the translated clause underlined."""
    return _with_short(s.quote, s.start, *_marks(s, answer))


def _marks(s: Source, answer: Answer) -> tuple:
    """(the short answer when it is in ``s``, the article offsets of the clause its translation renders)."""
    short = answer.short if answer.short and answer.short.n == s.n else None
    unit = None
    if s.translated and s.translation and (at := s.quote.find(s.translated)) >= 0:
        unit = (s.start + at, s.start + at + len(s.translated))
    return short, unit


def _with_short(quote: str, offset: int, short=None, unit: tuple[int, int] | None = None) -> str:
    """``quote`` (starting at article offset ``offset``) escaped, the short answer's span in it marked and
    the ``unit`` (article offsets) a translation renders underlined."""
    spans = []
    if unit is not None:
        spans.append((unit[0] - offset, unit[1] - offset, '<span class="isnad-translated">', "</span>"))
    if short is not None and offset <= short.start < short.end <= offset + len(quote):
        spans.append((short.start - offset, short.end - offset, '<mark class="isnad-answer">', "</mark>"))
    cuts = sorted({0, len(quote), *(x for a, b, _, _ in spans for x in (a, b))})
    out = []
    for a, b in zip(cuts, cuts[1:]):
        inside = [sp for sp in spans if sp[0] <= a and b <= sp[1]]
        out.append(
            "".join(o for _, _, o, _ in inside)
            + escape(quote[a:b])
            + "".join(c for *_, c in reversed(inside))
        )
    return "".join(out)


def sources_html(answer: Answer | None, docs: dict[str, Document], aid: str = "") -> str:
    """The panel under the chat: the latest answer's sources, each quote highlighted inside its paragraph."""
    head = block(
        "", "isnad-panel-head", "en", tag="h3", inner='Sources · <bdi lang="ar" dir="rtl">المصادر</bdi>'
    )
    if answer is None or not answer.sources:
        return f'<div class="isnad-panel">{head}{block("No sources yet: ask a question.", "isnad-meta", "en")}</div>'
    items = "".join(_panel_source(s, docs.get(s.doc_id), answer) for s in answer.sources)
    return f'<div class="isnad-panel isnad-for-{aid}">{head}{items}</div>'


def _panel_source(s: Source, doc: Document | None, answer: Answer) -> str:
    lang = language_of(s.quote)
    para = _paragraph_with_mark(doc, s.start, s.end, *_marks(s, answer)) if doc else escape(s.quote)
    mt = ""
    if s.translation:
        mt = block(
            "",
            "isnad-mt",
            "en",
            inner=f'<span class="isnad-label">{_mt_label(s)}</span> {isolate(s.translation, "en")}',
        )
    title = s.title or "(untitled)"
    summary = block(
        "", "", language_of(title), tag="summary", inner=f"[{s.n}] {isolate(title, language_of(title))}"
    )
    where = meta_line(
        None,
        [s.outlet or "outlet unknown", s.date or "date unknown", Path(s.source).name, s.arrival or None],
        "en",
    )
    return (
        f'<details class="isnad-source" id="isnad-src-{s.n}">{summary}{where}'
        f"{block('', 'isnad-para', lang, inner=para)}{mt}</details>"
    )


def _paragraph_with_mark(doc: Document, start: int, end: int, short=None, unit=None) -> str:
    a, b = next(((p0, p1) for p0, p1 in doc.paragraphs if p0 <= start < p1), (start, end))
    b = max(b, end)
    return (
        escape(doc.text[a:start])
        + f"<mark>{_with_short(doc.text[start:end], start, short, unit)}</mark>"
        + escape(doc.text[end:b])
    )


# ---------------------------------------------------------------- briefings


def briefing_html(b: Briefing, docs: dict[str, Document], bid: str = "b") -> str:
    """Heading, notices, sections (Arabic column on the right), then the compact, clickable source list."""
    langs = ["ar", "en"] if b.lang == "both" else [b.lang]
    prefix = f"isnad-bsrc-{bid}"
    head = {"ar": "موجز", "en": "Briefing"}
    first = "en" if "en" in langs else "ar"
    title = " · ".join(head[x] for x in ([first] + [x for x in langs if x != first]))
    out = [
        f'<div class="isnad-brief" id="isnad-brief-{bid}">',
        block("", "", first, tag="h2", inner=f"{isolate(title, first)}: <bdi>{escape(b.subject)}</bdi>"),
        block(f"Scope: {b.scope} · engine: {b.engine} · length: {b.length}", "isnad-meta", "en"),
    ]
    out += [block(n, "isnad-note", notice_language(n)) for n in b.notices]
    cited: dict[int, object] = {}
    for section in b.sections:
        out.append(
            block(
                "",
                "",
                first,
                tag="h3",
                inner=" · ".join(
                    f'<bdi dir="{_DIR[x]}" lang="{x}">{escape(section.title[x])}</bdi>' for x in langs
                ),
            )
        )
        for line in section.lines:
            cited.update({c.n: c for c in line.sources})
            out.append(_line_html(line, langs, prefix))
    if cited:
        out.append(block("", "", first, tag="h3", inner='Sources · <bdi dir="rtl" lang="ar">المصادر</bdi>'))
        out += [_brief_source(cited[n], docs.get(cited[n].doc_id), prefix) for n in sorted(cited)]
    out.append("</div>")
    return "".join(out)


def _line_html(line: Line, langs: list[str], prefix: str) -> str:
    cites = " ".join(cite(c.n, prefix) for c in line.sources)
    cells = []
    for lang in langs:  # a speaker's name stays in its own language's column
        lead = (
            in_lang(line.when, lang)
            if line.when
            else (line.speaker if line.speaker and lang == line.language else None)
        )
        lead_html = f"<strong>{isolate(lead, lang)}</strong> — " if lead else ""
        if line.see:
            body = f'<span class="isnad-label">{escape(see_label(line, lang))}</span>'
        else:
            body = _cell(line, lang)
        cells.append(block("", "", lang, inner=f"{lead_html}{body} {cites}"))
    cls = "isnad-grid" if len(langs) == 2 else "isnad-one"
    return f'<div class="{cls}">{"".join(cells)}</div>'


def _cell(line: Line, lang: str) -> str:
    """A line in one column: the quote, a labelled machine translation, or the key facts, each its own run."""
    if line.language == lang:
        text, label = (line.text, "(machine-generated)") if line.translated else (f"«{line.text}»", "")
    elif line.translation:
        text, label = line.translation, "(machine translation)"
    elif line.facts and lang == "en":
        text, label = line.facts, ""
        return (
            f'<span class="isnad-label">{escape(KEY_FACTS_LABEL["en"])}:</span> {isolate(text, lang)}'
            + _note(line)
        )
    else:
        missing = "(لا تتوفر ترجمة)" if lang == "ar" else "(no translation available)"
        return f'<span class="isnad-label">{escape(missing)}</span>' + _note(line)
    return isolate(text, lang) + (f' <span class="isnad-label">{escape(label)}</span>' if label else "")


def _note(line: Line) -> str:
    return _withheld(line.translation_note) if line.translation_note else ""


def _withheld(note: str) -> str:
    """A withheld translation in plain words; the check that withheld it on hover."""
    if not (plain := reader_note(note)):
        return ""
    return block(plain, "isnad-note", "en", extra=f' title="{escape(note, quote=True)}"')


def _brief_source(c, doc: Document | None, prefix: str) -> str:
    """A compact reference ("[n] outlet · date · file"); opened, the quoted sentence in its paragraph."""
    where = meta_line(
        c.n, [c.outlet or "outlet unknown", c.date or "date unknown", Path(c.source).name], "en", "span"
    )
    para = _paragraph_with_mark(doc, c.start, c.end) if doc else escape(c.quote)
    lang = language_of(c.quote)
    return (
        f'<details class="isnad-source" id="{prefix}-{c.n}"><summary>{where}</summary>'
        f"{block('', 'isnad-para', lang, inner=para)}</details>"
    )
