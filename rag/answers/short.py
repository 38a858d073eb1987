"""The direct answer on top: what a question asks for, and the exact span of a sentence that gives it.

A "when" question is answered by a date, "how many" by a quantity with its unit, "who" by a
person or organisation, "where" by a place. Candidates come from the sentence itself (the date
finder, the quantity finder, title and role patterns, the name lexicon) and keep their offsets,
so the short answer can be highlighted inside its quote. Dates and numbers are rendered in the
question's language by rule ("Saturday 5 June 2021", "about 3,000 soldiers"), never by a model.
Questions that ask why, how or what someone said get no short answer: the quotes are the answer.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import NamedTuple

from rag.answers.questions import question_parts
from rag.answers.ranking import rank_spans, unresolved_value
from rag.text.arabic import detect_language, fold_same_length, normalize_ar
from rag.text.dates import find_dates, render_date
from rag.text.lexicon import Lexicon, Name
from rag.text.numbers import find_quantities, render_quantity, unit_english
from rag.text.transliteration import romanize
from rag.types import Span

# ---------------------------------------------------------------- candidates

_TITLES_AR = (
    r"(?:اللواء|العميد|العقيد|الفريق(?: اول| الركن)?|الجنرال|المشير|الرائد|النقيب|الرئيس(?: ال\S+)?|"
    r"رئيس (?:الوزراء|الحكومه|الجمهوريه|البرلمان|مجلس ال\S+|اركان ال\S+)|وزير(?:ه)? ال\S+(?: ال\S+)?|"
    r"(?:المتحدث|الناطق)(?:ه)?(?: العسكري| الرسمي| الاعلامي)? باسم (?:ال\S+(?: ال\S+){0,3}|"
    r"(?:حركه|كتائب|جماعه|حزب|هيئه) \S+(?: \S+)? ال\S+)|مستشار الامن (?:القومي|الوطني)(?: ال\S+)?|"
    r"السفير(?: ال\S+)?|السفيره|النائب|الشيخ|زعيم \S+(?: ال\S+)?|قائد \S+(?: ال\S+){0,2}|الامين العام ل\S+)"
)
_ROLES_AR = r"(?:نائب|نائبه|المتحدث|المتحدثه|الناطق|وزير|رئيس|مستشار|قائد|مدير|السكرتير|سفير)"
_STOP_AR = set(
    normalize_ar(
        "في من على الى إلى عن أن إن ان انه أنه الذي التي الذين قال قالت وقال وقالت أكد أعلن اعلن يوم خلال بعد قبل مع "
        "حول بين ضد لدى عند كما حيث هذا هذه ذلك تلك إن لا لم لن قد وقد كان كانت يكون عبر بشأن إثر بينهم منهم نحو "
        "حوالي و أو ثم خارج داخل عقب أمام تجاه"
    ).split()
)
_ORGS_AR = (
    r"(?:وزاره|وكاله|هيئه|الهيئه|القياده|قياده|كتائب|حركه|حزب|مجلس|منظمه|الحشد|فصائل|عصائب|جماعه|"
    r"التحالف|الحكومه|البرلمان|الجيش|البنتاغون|البيت الابيض|رئاسه|مكتب|قوات|فيلق)(?: \S+){0,3}"
)
_PLACES_AR = r"(?:مدينه|محافظه|قاعده|مخيم|معسكر|مطار|اقليم|منطقه|ولايه) \S+(?: \S+)?"
_EN_NAME = re.compile(
    r"\b[A-Z][a-z'’-]+(?:\s+(?:al-|el-|bin |ibn |de |van )?[A-Z][a-z'’-]+)+|\b[A-Z][a-z'’-]{2,}\b"
)


# Given names that begin with ل (normalised), the exceptions to "ل ends a name".
_NAMES_WITH_LAM = set(
    normalize_ar(
        "لؤي لطيف لطفي ليلى ليلي لينا لمى لبنى لقمان لبيب لبيد لميس لجين لارا لانا لوران لويس ليث ليون لي"
    ).split()
)


def _name_words(folded: str, start: int, max_words: int = 3) -> tuple[int, int] | None:
    """Span of up to ``max_words`` name words from ``start`` (stops at punctuation and function words)."""
    end, n = start, 0
    for w in re.finditer(r"\S+", folded[start:]):
        token = w.group()
        bare = token.rstrip('،,.:;؛»")')
        if n >= max_words or bare in _STOP_AR or not re.fullmatch(r"[\u0621-\u064a]+", bare):
            break
        if bare.startswith("ل") and bare not in _NAMES_WITH_LAM:
            break  # the preposition ل ends a name: «رئيس أركان الجيش لعقد محادثات» names no one after the title
        # after a title, a name: «الناطق باسم القائد» is still the title,
        # «قائد فيلق القدس بالحرس الثوري» names no one
        if n == 0 and re.match(r"(?:ال|لل|[وفبك]ال)", bare):
            break
        end, n = start + w.start() + len(bare), n + 1
        # punctuation, or a family name with the article
        if bare != token or (bare.startswith("ال") and n >= 2):
            break
    return (start, end) if n else None


class _Found(NamedTuple):
    """A name in a sentence: [start, end) as shown, [core, end) the name itself (after a title), and the
    lexicon's entry when it knows the name."""

    kind: str
    start: int
    end: int
    name: Name | None = None
    core: int | None = None
    role_only: bool = (
        False  # a title with no name after it («رئيس أركان الجيش»): an answer only when no name is
    )


def _name_spans(text: str, folded: str, lexicon: Lexicon) -> list[_Found]:
    """People, organisations and places a sentence names."""
    out = []
    if detect_language(text) == "ar":
        for m in re.finditer(_TITLES_AR + r"\s+", folded):
            span = _name_words(folded, m.end())
            if span:
                out.append(_Found("person", m.start(), span[1], core=span[0]))
            elif len(title := folded[m.start() : m.end()].strip()) > 0 and len(title.split()) >= 2:
                out.append(_Found("person", m.start(), m.start() + len(title), role_only=True))
        for m in re.finditer(r"،\s*" + _ROLES_AR, folded):  # «سابرينا سينغ، نائبة السكرتير»: the name before
            words = [w for w in re.finditer(r"[^\s،,.:«»]+", folded[: m.start()])][-3:]
            while words and (words[0].group() in _STOP_AR or words[0].group().startswith("و")):
                words = words[1:]
            if (
                len(words) >= 2
                and folded[words[-1].end() : m.start()].strip() == ""
                and all(
                    re.fullmatch(r"[\u0621-\u064a]+", w.group()) and w.group() not in _STOP_AR for w in words
                )
            ):
                out.append(_Found("person", words[0].start(), words[-1].end()))
        # «نائبة السكرتير …، سابرينا سينغ،»
        for m in re.finditer(rf"(?<!\S)[وف]?{_ROLES_AR}[^،.:؛]{{0,50}}،\s*", folded):
            span = _name_words(folded, m.end())
            if (
                span
                and span[1] - span[0] >= 5
                and folded[span[1] : span[1] + 2].lstrip().startswith("،")
                and len(folded[span[0] : span[1]].split()) >= 2
            ):
                out.append(_Found("person", span[0], span[1]))
        for kind, pattern in (("org", _ORGS_AR), ("place", _PLACES_AR)):
            for m in re.finditer(rf"(?<!\S){pattern}", folded):
                end = m.start()
                for w in re.finditer(r"\S+", folded[m.start() : m.end()]):
                    token = w.group().rstrip("،,.:؛")
                    if (
                        token in _STOP_AR
                        or not re.fullmatch(r"[\u0621-\u064a]+", token)
                        or (w.start() and token.startswith("ل") and not token.startswith("لجن"))
                    ):
                        break  # a preposition ends the name: «الجيش لعقد محادثات» is the army
                    end = m.start() + w.start() + len(token)
                    if w.group() != token:
                        break
                out.append(_Found(kind, m.start(), end))
    else:
        out += [_Found("person", m.start(), m.end()) for m in _EN_NAME.finditer(text)]
    first: dict = {}  # known names, wherever they stand: the first mention of each
    for span in lexicon.spans_arabic(text):
        for name in span.names:
            if (
                span.adjectival
                and name.kind != "nationality"
                and any(n.kind == "nationality" for n in span.names)
            ):
                continue  # «عراقية» is Iraqi, not the place Iraq: no answer to "where"
            first.setdefault(name, (span.start, span.end))
    for name in lexicon.in_english(text):
        for form in name.english:
            i = folded.find(form.lower())
            if i >= 0:
                first.setdefault(name, (i, i + len(form)))
                break
    return out + [_Found(name.kind, a, b, name) for name, (a, b) in first.items()]


def typed_spans(kind: str, sentence: str, offset: int, ref: dt.date | None, lexicon: Lexicon) -> list[Span]:
    """Candidates of ``kind`` in one sentence (offsets into the article: ``offset`` is the sentence's start)."""
    spans: list[Span] = []
    dates = find_dates(sentence, ref)
    if kind == "date":
        for m in dates:
            if m.note == "from weekday" and m.precision == "day" and len(m.text.split()) <= 2:
                continue  # a bare weekday is a weak answer; its resolved date is still in the quote
            value = m.label if m.date else unresolved_value(m)
            spans.append(
                Span(
                    "date",
                    offset + m.start,
                    offset + m.end,
                    m.text,
                    value,
                    {"en": render_date(m, "en"), "ar": m.text},
                )
            )
        for y in re.finditer(
            r"(?<![\d/.\-])(1[0-9]{3}|20[0-9]{2})(?![\d/\-]|\.\d)", fold_same_length(sentence)
        ):
            if not any(
                m.start <= y.start() < m.end
                or (m.end <= y.start() and not sentence[m.end : y.start()].strip())
                for m in dates
            ):  # a bare year: «في 1974», «… في 1638.»; in «نهاية العام الجاري 2021» it is the date's own
                spans.append(
                    Span(
                        "date",
                        offset + y.start(),
                        offset + y.end(),
                        y.group(),
                        y.group(),
                        {"en": y.group(), "ar": sentence[y.start() : y.end()]},
                    )
                )
    elif kind == "number":
        taken = [(m.start, m.end) for m in dates]
        for q in find_quantities(sentence):
            if any(a < q.num_end and q.num_start < b for a, b in taken):
                continue
            if 1900 <= q.value <= 2100 and not unit_english(q.unit):
                continue  # a year, not a count
            value = f"{q.value:g} {unit_english(q.unit) or ''}".strip()
            spans.append(
                Span(
                    "number",
                    offset + q.start,
                    offset + q.end,
                    q.text,
                    value,
                    {"en": render_quantity(q, "en"), "ar": q.text},
                )
            )
    elif kind in ("person", "place", "org"):
        folded = fold_same_length(sentence)
        for f in _name_spans(sentence, folded, lexicon):
            # "who decides" may be answered by a body
            if f.kind != kind and not (kind == "person" and f.kind == "org"):
                continue
            words, core = (
                sentence[f.start : f.end],
                sentence[f.core if f.core is not None else f.start : f.end],
            )
            arabic = detect_language(words) == "ar"
            known = f.name.label if f.name else _known_english(core, f.kind, lexicon)
            if not known and arabic and f.kind == "person" and not f.role_only:
                spelled = romanize(core)  # never an Arabic name alone in an English line, and never unmarked
                known = f"{spelled} (transliterated)" if spelled else None
            english = (f"{known} («{words}»)" if known else f"«{words}»") if arabic else words
            names = (f.name,) if f.name else tuple(lexicon.in_text(core))
            spans.append(
                Span(
                    f.kind,
                    offset + f.start,
                    offset + f.end,
                    words,
                    normalize_ar(words),
                    {"en": english, "ar": words},
                    names=names,
                    score=(0.0 if f.kind == kind else -0.02) - (0.03 if f.role_only else 0.0),
                )
            )
    return _dedupe(spans)


_WITH_YEAR = re.compile(r"(?:(?:end|start) of )?\d{4}")


def with_year(spans: list[Span]) -> list[Span]:
    """The date spans that state a year: what answers "in which year" («20 مايو» does not)."""
    return [sp for sp in spans if _WITH_YEAR.match(sp.value)]


def _known_english(words: str, kind: str, lexicon: Lexicon) -> str | None:
    """The lexicon's English for a name span: the whole phrase, or the one person (or, in an organisation's
    span, the one organisation) it contains: «حركة عصائب أهل الحق» is Asaib Ahl al-Haq."""
    if whole := lexicon.english_for(words):
        return whole
    inside = [
        n.label for n in lexicon.in_text(words) if n.kind == "person" or (kind == "org" and n.kind == "org")
    ]
    return inside[0] if len(inside) == 1 else None


def _dedupe(spans: list[Span]) -> list[Span]:
    """Drop spans inside a longer span of the same kind, and a body inside a person's title («الجيش» in
    «رئيس أركان الجيش»)."""
    keep = []
    for s in sorted(spans, key=lambda s: (s.start, -(s.end - s.start))):
        if not any(
            (k.kind == s.kind or (k.kind, s.kind) == ("person", "org"))
            and k.start <= s.start
            and s.end <= k.end
            for k in keep
        ):
            keep.append(s)
    return keep


# ---------------------------------------------------------------- ranking


# ---------------------------------------------------------------- answers of several spans


def _joined(spans: list[Span], sentence: str, offset: int, sep: dict[str, str]) -> Span:
    """One answer made of several spans of one sentence, in the order the question or the sentence gives them."""
    a, b = min(s.start for s in spans), max(s.end for s in spans)
    return Span(
        spans[0].kind,
        a,
        b,
        sentence[a - offset : b - offset],
        sep["value"].join(s.value for s in spans),
        {lang: sep[lang].join(s.render[lang] for s in spans) for lang in ("en", "ar")},
        score=spans[0].score,
        names=tuple(n for s in spans for n in s.names),
    )


def coordinated(ranked: list[Span], top: Span, sentence: str, offset: int) -> Span:
    """The people a sentence names together with ``top`` in one event («قاسم سليماني، والقيادي … أبي مهدي
    المهندس»): names joined by «و» with no more than a title between them are given together."""
    people = sorted(
        {(s.start, s.end): s for s in ranked if s.kind == "person"}.values(), key=lambda s: s.start
    )
    if top not in people:
        return top
    chain, i = [top], people.index(top)
    for step in (-1, 1):
        j = i
        while 0 <= j + step < len(people):
            left, right = (people[j + step], people[j]) if step < 0 else (people[j], people[j + step])
            gap = sentence[left.end - offset : right.start - offset]
            if len(gap) > 80 or not re.match(r"^[\s،,]*(?:و|and\b)", gap) or re.search(r"[.؛:!?]", gap):
                break
            chain.append(people[j + step])
            j += step
    if len(chain) == 1:
        return top
    chain.sort(key=lambda s: s.start)
    return _joined(chain, sentence, offset, {"value": " and ", "en": " and ", "ar": " و"})


def per_part(question: str, spans: list[Span], sentence: str, offset: int, lexicon: Lexicon) -> Span | None:
    """For a question of several parts, the best span of each part, joined ("about 3,000 soldiers; 2,500
    Americans"); None when the question has one part or the parts find no distinct spans."""
    parts = question_parts(question)
    if len(parts) < 2:
        return None
    best = []
    for part in parts:
        ranked = rank_spans(
            [Span(s.kind, s.start, s.end, s.text, s.value, s.render, names=s.names) for s in spans],
            part,
            sentence,
            offset,
            lexicon,
        )
        pick = next((s for s in ranked if all((s.start, s.end) != (b.start, b.end) for b in best)), None)
        if pick is None:
            return None
        best.append(pick)
    return _joined(best, sentence, offset, {"value": "; ", "en": "; ", "ar": "؛ "})
