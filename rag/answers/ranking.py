"""Which candidate span answers the question best, and whether two spans state the same value."""

from __future__ import annotations

import re

from rag.answers.questions import (
    CURRENCIES,
    asked_life_edge,
    asked_qualifiers,
    asked_roles,
    asks_speaker,
    counted_terms,
    same_noun,
    same_stem,
    wants_deadline,
    wants_money,
    wants_share,
)
from rag.text.arabic import bm25_tokens, normalize_ar
from rag.text.dates import DateMention, named_month
from rag.text.lexicon import Lexicon
from rag.types import Span


def rank_spans(spans: list[Span], question: str, sentence: str, offset: int, lexicon: Lexicon) -> list[Span]:
    """Best first: a span near the question's words in the sentence; never the question's own value.

    Anchors are the question's words found in the sentence, and its names in either script, so an
    English question still finds its place in an Arabic sentence ("US" → «أمريكي»).
    """
    q_tokens = set(bm25_tokens(question))
    q_norm = normalize_ar(question).lower()
    q_names = set(lexicon.in_text(question))
    # a word is an anchor only through the question's own names: look up just those
    asked = Lexicon(list(q_names))
    anchors = {
        offset + m.start()
        for m in re.finditer(r"\S+", sentence)
        if set(bm25_tokens(m.group())) & q_tokens or asked.in_text(m.group())
    }
    roles = asked_roles(question)
    money = wants_money(question)
    deadline = wants_deadline(question)
    stated_deadline = bool(_STATES_DEADLINE.search(normalize_ar(question)))
    qualifiers = asked_qualifiers(question)
    speaker = asks_speaker(question)
    counted = counted_terms(question)
    share = wants_share(question)
    life = asked_life_edge(question)
    out = []
    for s in spans:
        led_by_deadline = s.kind == "date" and bool(
            _DEADLINE_BEFORE.search(normalize_ar(sentence[max(0, s.start - offset - 24) : s.start - offset]))
        )
        if normalize_ar(s.text).lower() in q_norm or s.render["en"].lower() in q_norm:
            continue  # the question already says it: "what happened on 5 June" is not answered by "5 June"
        named = set(s.names)
        if (
            s.kind in ("person", "place", "org")
            and named
            and all(any(lexicon.related(n, q) for q in q_names) for n in named)
        ):
            continue  # "who was killed alongside Soleimani" is not answered by «سليماني», "where … left Iraq" by Iraq
        if s.kind == "org" and roles:
            continue  # "who is the US ambassador" asks for a person, not a body
        if led_by_deadline and stated_deadline:
            continue  # "when did they agree on a withdrawal by the end of 2021": the deadline is the question's
        if s.kind == "number" and money and not (set(s.render["en"].split()) & CURRENCIES):
            continue  # a cost is an amount of money, not a head count
        if s.kind == "number" and share and not _PERCENT.search(s.text):
            continue  # «ما نسبة العرب»: a share («75%»), not the population
        if (
            s.kind == "date"
            and life
            and (edge := _life_span_edge(sentence, s.start - offset, s.end - offset))
        ):
            s.score += 0.05 if edge == life else -0.05  # «(14 مارس 1879 – 18 أبريل 1955)»: died is the second
        if (
            speaker
            and s.kind in ("person", "org")
            and not _speaks(sentence, s.start - offset, s.end - offset)
        ):
            continue  # "who said": the speaker of the clause of saying, not the institution in a title
        if s.kind == "number" and qualifiers:  # "how many rocket attacks": 41 «هجوماً صاروخياً», not all 63
            tail = " ".join(sentence[s.start - offset :].split()[: len(s.text.split()) + 2])
            s.score += 0.06 * sum(same_stem(q, t) for q in qualifiers for t in set(bm25_tokens(tail)))
        if s.kind == "person" and roles:
            near = normalize_ar(sentence[max(0, s.start - offset - 60) : s.end - offset + 60])
            if not all(any(a in near for a in role) for role in roles):
                continue  # "who is the ambassador" needs the ambassador, not any name
        if led_by_deadline and not deadline:
            s.score -= 0.02  # «بحلول نهاية العام» for "when did they agree": the deadline, not the agreement
        if s.kind == "number" and (named := set(lexicon.in_text(s.text))) and not named & q_names:
            s.score -= (
                0.02  # «2500 أميركي» counts Americans; "how many coalition troops" asks for all of them
            )
        if s.kind == "date" and not led_by_deadline:  # «انضمت إلى الاتحاد الأوروبي في عام 1995»
            s.score += 0.015 * min(3, _leading_anchors(s, spans, anchors, sentence, offset))
        inside = sum(s.start <= a < s.end for a in anchors)  # question words within the span itself
        if s.kind == "number" and (inside or unit_matches(s, counted)):
            s.score += (
                0.05  # «2500 أمريكي» for "how many US troops", «خمس مناطق» for «كم منطقة»: the noun asked
            )
        if inside and s.kind in ("person", "place", "org") and inside >= len(s.text.split()):
            continue  # a name the question itself uses is not the answer
        distance = min((abs(a - s.start) for a in anchors), default=len(sentence))
        s.score += 0.05 / (1.0 + distance / 40.0) - 0.0001 * (s.start - offset) / max(len(sentence), 1)
        out.append(s)
    return sorted(out, key=lambda s: -s.score)


def _leading_anchors(s: Span, spans: list[Span], anchors: set[int], sentence: str, offset: int) -> int:
    """The question's words in the phrase just before a span: back to the previous candidate of the same
    kind or the clause's start, at most 70 characters. «النمسا عضو في الأمم المتحدة منذ عام 1955 انضمت إلى
    الاتحاد الأوروبي في عام 1995»: "when did Austria join the EU" leads into 1995, not 1955."""
    lo = max(offset, s.start - 70, *(o.end for o in spans if o.kind == s.kind and o.end <= s.start))
    before = sentence[lo - offset : s.start - offset]
    cut = max(before.rfind(mark) for mark in "،;؛.")
    lo += cut + 1 if cut >= 0 else 0
    return sum(lo <= a < s.start for a in anchors)


def unresolved_value(m: DateMention) -> str:
    """A date whose year could not be resolved, comparable with resolved ones: "?-07-26", "?-07"."""
    month = named_month(m)
    if month is None:
        return normalize_ar(m.text)
    return f"?-{month:02d}" + (f"-{m.day:02d}" if m.day is not None else "")


_DATE_VALUE = re.compile(r"^(?:\d{4}|\?)(?:-\d{2}){0,2}$")


def dates_compatible(x: str, y: str) -> bool:
    """Neither date contradicts the other: equal wherever both say something. "26 July 2021" and "July (year
    not stated)" can be the same day; so can "July 2021" and "26 July 2021"; "July 2021" and "August 2021" cannot."""
    if not (_DATE_VALUE.match(x) and _DATE_VALUE.match(y)):
        return False
    return all(a == b or "?" in (a, b) for a, b in zip(x.split("-"), y.split("-")))


def values_agree(a: Span, b: Span, sentence_a: str, sentence_b: str) -> bool:
    """Two answers agree if their values are equal or compatible dates, or if either sentence also states
    the other's value."""
    if a.value == b.value or (a.kind == b.kind == "date" and dates_compatible(a.value, b.value)):
        return True
    return normalize_ar(b.text) in normalize_ar(sentence_a) or normalize_ar(a.text) in normalize_ar(
        sentence_b
    )


_PERCENT = re.compile(r"%|٪|(?:بال|في ال)(?:مئه|مائه|مئة|مائة)|\bper ?cent\b", re.I)


def _life_span_edge(sentence: str, start: int, end: int) -> str | None:
    """ "start" for the first date of «(D1 – D2)», "end" for the second; None for a date not in such a pair."""
    before, after = sentence[:start], sentence[end:]
    if before.rstrip().endswith("(") and re.match(r"^[^()]{0,40}?\s[-–—]\s*[^()]*\d[^()]*\)", after):
        return "start"
    if ")" in after[:40] and re.search(r"\([^()]*\d[^()]*?\s*[-–—]\s*$", before[-80:]):
        return "end"
    return None


def unit_matches(s: Span, counted: list[str]) -> bool:
    """Whether a quantity span's counted noun (its last word, or its English) is the noun the question counts."""
    words = s.text.split()
    return bool(counted) and len(words) > 1 and same_noun(counted, words[-1], s.render.get("en"))


def _speaks(sentence: str, start: int, end: int) -> bool:
    """A saying verb within two words before the span or three after it: «قال البنتاغون», «البنتاغون أكد»."""
    before = normalize_ar(sentence[:start]).split()[-2:]
    after = normalize_ar(sentence[end:]).split()[:3]
    return any(_SAY_VERBS.match(w.strip('،,.:؛"”“«»()')) for w in before + after)


# A date right after "by (the end of)" / «بحلول (نهاية)» is a deadline: it answers "by when", not "when did".
_DEADLINE_BEFORE = re.compile(
    r"(?:\bby|\buntil|\bbefore|بحلول|حتي|قبل)\s+(?:the\s+)?(?:end\s+of\s+|نهايه\s+)?$", re.I
)


_STATES_DEADLINE = re.compile(
    r"\b(?:by|until|before) (?:the )?(?:end of )?(?:\d{4}|this year|the year)|"
    r"(?:بحلول|حتي) (?:نهايه )?(?:\d{4}|العام|عام)",
    re.I,
)


_SAY_VERBS = re.compile(
    r"^(?:[وف]?(?:قال|قالت|يقول|تقول|صرح|صرحت|اعلن|اعلنت|اكد|اكدت|اوضح|اوضحت|اشار|اشارت|"
    r"نفي|نفت|ذكر|ذكرت|حذر|حذرت|اضاف|اضافت)|said|says|stated|announced|told)$",
    re.I,
)
