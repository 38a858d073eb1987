"""HTML for answers, sources and briefings, with bidirectional text done per block.

Every block carries ``dir="auto"`` and the stylesheet sets ``unicode-bidi: plaintext;
text-align: start``: each paragraph takes its direction from its own first strong
character, so Arabic reads right-to-left, English left-to-right, and an English
sentence's full stop stays at its right end even inside an Arabic page.
Article text is escaped: it is data, never markup.
"""

from __future__ import annotations

import re
from html import escape

from rag.answer import Answer, Source
from rag.brief import Briefing, Line, text_in
from rag.escape import md_escape
from rag.ingest import Document
from rag.translate import KEY_FACTS_LABEL

CSS = """
.isnad-bidi, .isnad-bidi *, #isnad-chat .message-content, #isnad-chat .message-content * ,
#isnad-chat .prose, #isnad-chat .prose * { unicode-bidi: plaintext; text-align: start; }
.isnad-source { border: 1px solid #d6d3cc; border-radius: 8px; padding: 6px 10px; margin: 6px 0; }
.isnad-source summary { cursor: pointer; font-weight: 600; }
.isnad-source mark { background: #fde68a; padding: 0 2px; }
.isnad-meta { color: #5c6675; font-size: 0.88em; }
.isnad-note { color: #7c5e10; font-size: 0.9em; margin: 4px 0; }
.isnad-grid { display: grid; grid-template-columns: 1fr 1fr; gap: 10px; border-top: 1px solid #eee; padding: 6px 0;
  direction: rtl; }  /* Arabic column on the right; each cell sets its own direction */
.isnad-one { border-top: 1px solid #eee; padding: 6px 0; }
.isnad-brief h3 { margin: 12px 0 4px 0; }
.isnad-cite { font-size: 0.8em; vertical-align: super; color: #1d4ed8; }
.isnad-mt { color: #5c6675; font-style: italic; }
"""


def _p(text: str, cls: str = "isnad-bidi", tag: str = "div", extra: str = "") -> str:
    return f'<{tag} dir="auto" class="{cls}"{extra}>{escape(text)}</{tag}>'


def answer_markdown(answer: Answer) -> str:
    """The chat message: answer text, then notices (machine text is always labelled).

    Every string is escaped (`md_escape`): quotes are verbatim article text and the generated
    text is a model's, so neither may become markup. Only Isnad's own emphasis of the short
    answer's value is Markdown.
    """
    # One paragraph per line, each starting with a direction mark so that a line of digits ("2021")
    # or one opening with a name in the other script still reads in the answer's direction.
    mark = {"ar": "\u200f", "en": "\u200e"}.get(answer.language, "")
    lines = [line for line in answer.answer.split("\n") if line.strip()]
    parts = []
    if answer.short and lines and lines[0] == answer.short.text:
        parts.append(mark + _short_markdown(lines.pop(0)))
    parts += [(md_escape(line) if "«" in line else mark + md_escape(line)) for line in lines]
    parts += [f"_{md_escape(n)}_" for n in answer.notices]
    return "\n\n".join(parts)


def _short_markdown(line: str) -> str:
    """The short-answer line escaped, its leading ``**…**`` (the value, or "The sources differ:") bold again."""
    m = re.match(r"\*\*(.+?)\*\*(.*)", line)
    if m is None:
        return md_escape(line)
    return f"**{md_escape(m.group(1))}**{md_escape(m.group(2))}"


def sources_html(answer: Answer | None, docs: dict[str, Document]) -> str:
    """Each source: title, outlet, date, and the quote highlighted inside its paragraph."""
    if answer is None or not answer.sources:
        return _p("No sources yet. Ask a question. / لا مصادر بعد.", "isnad-meta isnad-bidi")
    return "".join(_source_html(s, docs.get(s.doc_id)) for s in answer.sources)


def _source_html(s: Source, doc: Document | None) -> str:
    meta = " · ".join(x for x in (s.outlet or "outlet unknown", s.date or "date unknown", s.source, s.arrival) if x)
    para = _paragraph_with_mark(doc, s.start, s.end) if doc else escape(s.quote)
    mt = ""
    if s.translation:
        mt = _p(f"Machine translation: {s.translation}", "isnad-mt isnad-bidi")
    elif s.facts:
        mt = _p(f"{KEY_FACTS_LABEL['en'].capitalize()}: {s.facts}", "isnad-mt isnad-bidi")
    if s.translation_note and not s.translation:
        mt += _p(s.translation_note, "isnad-note isnad-bidi")
    return (f'<details class="isnad-source" id="isnad-src-{s.n}" data-n="{s.n}">'
            f'<summary dir="auto" class="isnad-bidi">[{s.n}] {escape(s.title or "(untitled)")}</summary>'
            f'{_p(meta, "isnad-meta isnad-bidi")}<div dir="auto" class="isnad-bidi isnad-para">{para}</div>{mt}'
            f"</details>")


def _paragraph_with_mark(doc: Document, start: int, end: int) -> str:
    a, b = next(((p0, p1) for p0, p1 in doc.paragraphs if p0 <= start < p1), (start, end))
    b = max(b, end)
    return escape(doc.text[a:start]) + "<mark>" + escape(doc.text[start:end]) + "</mark>" + escape(doc.text[end:b])


def briefing_html(b: Briefing) -> str:
    langs = ["ar", "en"] if b.lang == "both" else [b.lang]
    head = {"ar": "موجز", "en": "Briefing"}
    out = [f'<div class="isnad-brief">{_p(" / ".join(head[x] for x in langs) + ": " + b.subject, tag="h2")}',
           _p(f"Scope: {b.scope} · engine: {b.engine} · length: {b.length}", "isnad-meta isnad-bidi")]
    out += [_p(n, "isnad-note isnad-bidi") for n in b.notices]
    for section in b.sections:
        out.append(_p(" / ".join(section.title[x] for x in langs), tag="h3"))
        for line in section.lines:
            out.append(_line_html(line, langs))
    out.append("</div>")
    return "".join(out)


def _line_html(line: Line, langs: list[str]) -> str:
    cites = "".join(f"[{c.n}]" for c in line.sources)
    where = "; ".join(f"[{c.n}] {c.outlet or c.title or c.source}, {c.date or 'date unknown'}" for c in line.sources)
    cells = []
    for lang in langs:  # a speaker's name stays in its own language's column
        speaker = f"{line.speaker} — " if line.speaker and lang == line.language else ""
        lead = f"{line.when} — " if line.when else speaker
        text = text_in(line, lang, markdown=False)
        cells.append(f'<div dir="auto" class="isnad-bidi" lang="{lang}" title="{escape(where)}">'
                     f'{escape(lead + text)} <span class="isnad-cite">{cites}</span></div>')
    cls = "isnad-grid" if len(langs) == 2 else "isnad-one"
    return f'<div class="{cls}">{"".join(cells)}</div>'
