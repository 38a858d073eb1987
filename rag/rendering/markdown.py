"""Briefings as Markdown and plain text, in one language or both."""

from __future__ import annotations

from rag.briefing.briefing import Briefing, Line, see_label
from rag.text.escape import md_escape
from rag.translation.translator import KEY_FACTS_LABEL, reader_note
from rag.types import Answer, Cited, ShortAnswer


def render_markdown(b: Briefing) -> str:
    """A briefing as Markdown: sections, per-line citations, the other language, then the sources.

    Every string from an article, a file name, the topic or a model is escaped: the export shows it, never runs it.
    """
    e = md_escape
    langs = ["ar", "en"] if b.lang == "both" else [b.lang]
    title = {"ar": "موجز", "en": "Briefing"}
    out = [
        f"# {' / '.join(title[x] for x in langs)}: {e(b.subject)}",
        "",
        f"_{e(f'Scope: {b.scope} · engine: {b.engine} · length: {b.length}')}_",
        "",
    ]
    out += [f"> {e(n)}" for n in b.notices] + ([""] if b.notices else [])
    sources: dict[int, Cited] = {}
    for s in b.sections:
        out += [f"## {' / '.join(s.title[x] for x in langs)}", ""]
        for line in s.lines:
            marks = "".join(f"\\[{c.n}\\]" for c in line.sources)
            sources.update({c.n: c for c in line.sources})
            lead = (
                f"**{e(line.when)}** — "
                if line.when
                else (f"**{e(line.speaker)}** — " if line.speaker else "")
            )
            if line.see:  # shown in full above: point to it
                out.append(f"- {lead}_{e(' / '.join(see_label(line, x) for x in langs))}_ {marks}")
                continue
            out.append(f"- {lead}{text_in(line, langs[0])} {marks}")
            if len(langs) == 2:  # the other language: its own line, never inside the quote's
                out.append(f"  - {text_in(line, langs[1])}")
        out.append("")
    out += ["## Sources / المصادر", ""]
    for n in sorted(sources):  # a reference list: the sentences are quoted above, once
        c = sources[n]
        meta = ", ".join(x for x in (c.outlet, c.date) if x) or "outlet and date unknown"
        out.append(
            f"{n}\\. {e(c.title or c.source)} ({e(meta)}), {e(c.source.rsplit('/', 1)[-1])}, "
            f"characters {c.start}–{c.end}"
        )
    return "\n".join(out).rstrip() + "\n"


def text_in(line: Line, lang: str, markdown: bool = True) -> str:
    """A line as shown in one language column: original, labelled translation, or why there is none."""
    esc = md_escape if markdown else (lambda t: t)
    em = (lambda t: f"_{md_escape(t)}_") if markdown else (lambda t: t)
    label = " " + em("(machine-generated)") if line.translated else ""
    if line.language == lang:
        return (f"«{esc(line.text)}»" if not line.translated else esc(line.text)) + label
    if line.translation:
        return f"{esc(line.translation)} {em('(machine translation)')}"
    if line.facts and lang == "en":
        body = f"{em(KEY_FACTS_LABEL[lang] + ':')} {esc(line.facts)}"
    else:
        body = em("(" + ("لا تتوفر ترجمة" if lang == "ar" else "no translation available") + ")")
    plain = reader_note(line.translation_note)
    return body + (f" {em('(' + plain + ')')}" if plain else "")


def possibly(short: ShortAnswer, lang: str) -> str:
    """A short answer under the confidence line, offered as a hedge for the reader to check in its quote."""
    if lang == "ar":
        return f"ربما: {short.value} [{short.n}] (غير مؤكد؛ راجع الاقتباس)"
    return f"Possibly: {short.value} [{short.n}] (not confirmed; check the quote)"


def answer_text(answer: Answer) -> str:
    """An answer as text: the short answer first (in the question's language), then the cited quotes;
    a short answer under the confidence line comes last, hedged, never in bold."""
    lines = [answer.short.text] if answer.short else []
    for s in answer.sources:
        where = ", ".join(x for x in (s.outlet, s.date) if x)
        if s.arrival.startswith("uploaded"):  # the outlet is what the file claims, not where it came from
            where = f"{where} ({s.arrival})" if where else s.arrival
        prefix = f"{where}: " if where else ""
        if answer.language == "en" and s.translation:
            of = f" of «{s.translated}»" if s.translated else ""
            lines.append(
                f"{prefix}“{s.translation}” [{s.n}] (machine translation{of}; original: «{s.quote}»)"
            )
        else:
            lines.append(f"{prefix}«{s.quote}» [{s.n}]")
            if answer.language == "en" and s.facts:  # its own line: English never inside the Arabic run
                lines.append(f"{KEY_FACTS_LABEL['en']}: {s.facts}")
            if answer.language == "en" and (plain := reader_note(s.translation_note)):
                lines.append(f"({plain})")
    if answer.withheld_short is not None:
        lines.append(possibly(answer.withheld_short, answer.language))
    return "\n".join(lines)
