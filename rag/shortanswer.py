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
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import NamedTuple

from rag.dates import DateMention, find_dates, named_month, render_date
from rag.lexicon import Lexicon, Name, romanize
from rag.numbers import find_quantities, render_quantity, unit_english
from rag.text_ar import bm25_tokens, detect_language, fold_same_length, normalize_ar

DATA = Path(__file__).resolve().parent / "data"
_MONEY = re.compile(r"\b(?:cost|costs|spend|spent|budget|worth|paid|pay|price|fund|funding)\b|"
                    r"(?:تكلف|كلف|ميزاني|انفق|دفع|قيمه|تمويل|دولار)", re.I)
_CURRENCIES = {"dollar", "dollars", "dinar", "dinars", "euro", "euros"}

# Written as read; compiled from normalised text (ى→ي, ة→ه, أ→ا), as questions are matched normalised.
_TYPE_RULES_RAW: list[tuple[str, str]] = [
    ("explain", r"^\s*(?:why|how (?!many|much|long|old)|in what way|what (?:did|does|do|has|have|was|were) "
         r"\S+(?: \S+){0,4} (?:say|said|describe|call|announce)|لماذا|لم |كيف|ماذا قال|بماذا وصف|"
         r"بماذا هدد|ما موقف|ما رأي|ما رد|ماذا كان رد)"),
    ("date", r"\b(?:when|what (?:date|day|year|month)|which (?:date|day|year|month)|in what year|"
         r"since when|by when)\b|(?:^|\s)(?:متى|منذ متى|في اي (?:عام|سنه|شهر|يوم|تاريخ)|ما تاريخ|"
         r"في اي وقت|بحلول متى)(?:\s|$|؟)"),
    ("number", r"\bhow (?:many|much)\b|\bwhat (?:number|percentage|share|amount)\b|"
         r"(?:^|\s)(?:كم|ما عدد|كم عدد|ما حجم|ما نسبه|ما قيمه)(?:\s|$)"),
    ("place", r"\bwhere\b|\bin which (?:city|country|province|town|base|region)\b|"
         r"(?:^|\s)(?:اين|الى اين|في اي (?:مدينه|دوله|بلد|محافظه|منطقه|قاعده)|من اين)(?:\s|$|؟)"),
    ("org", r"\b(?:which|what) (?:group|organi[sz]ation|ministry|agency|body|militia|faction|party|"
         r"command|company|outlet)\b|(?:^|\s)(?:ما الجهه|اي جهه|ما اسم (?:التنظيم|الجماعه|الفصيل|"
         r"تجمع|الحزب|الهيئه)|اي (?:فصيل|جماعه|وزاره))(?:\s|$)"),
    ("person", r"^\s*(?:who|whom)\b|\b(?:which|what) (?:\S+ ){0,3}(?:spokesman|spokeswoman|spokesperson|"
         r"minister|official|adviser|general|commander|president|leader|secretary|envoy|"
         r"ambassador|person|officer)\b|^\s*(?:من هو|من هي|من هم|من الذي|من |ما اسم (?:ال)?(?:شخص|متحدث|ناطق|وزير|رئيس|قائد|مسؤول|سفير|مستشار))"),
]


_TYPE_RULES = [(k, re.compile(normalize_ar(p), re.I)) for k, p in _TYPE_RULES_RAW]


def question_type(question: str) -> str:
    """'date', 'number', 'person', 'place', 'org', 'explain' or 'other' (no typed answer)."""
    q = normalize_ar(question).strip()
    for kind, pattern in _TYPE_RULES:
        if pattern.search(q):
            return kind
    return "other"


@dataclass
class Span:
    """A typed candidate: the exact words of the article at [start, end) and a comparable value."""

    kind: str
    start: int  # offsets into the article text
    end: int
    text: str
    value: str  # equal values say the same thing ("2021-06-05", "3000 soldiers")
    render: dict[str, str]  # the span as shown to a reader of each language
    score: float = 0.0
    names: tuple = ()  # the lexicon's entries the name itself is (a title's names aside; «لعراق» in «للعراق»)


@dataclass
class ShortAnswer:
    """The direct answer: one span of source ``n``, or several when the sources disagree."""

    kind: str
    text: str  # the line shown: in the question's language, marked up, with its citation
    n: int
    span: str  # verbatim words of the article
    start: int
    end: int
    method: str = "typed"  # or "generator"
    value: str = ""  # the answer alone, plain text, in the question's language
    disagreement: list[dict] = field(default_factory=list)  # [{n, text, span, outlet, date}] per differing source
    confidence: float | None = None  # probability that the span is right (rag.confidence); None: not scored
    evidence: dict[str, float] = field(default_factory=dict)  # what the confidence was computed from


# ---------------------------------------------------------------- candidates

_TITLES_AR = (r"(?:اللواء|العميد|العقيد|الفريق(?: اول| الركن)?|الجنرال|المشير|الرائد|النقيب|الرئيس(?: ال\S+)?|"
              r"رئيس (?:الوزراء|الحكومه|الجمهوريه|البرلمان|مجلس ال\S+|اركان ال\S+)|وزير(?:ه)? ال\S+(?: ال\S+)?|"
              r"(?:المتحدث|الناطق)(?:ه)?(?: العسكري| الرسمي| الاعلامي)? باسم (?:ال\S+(?: ال\S+){0,3}|"
              r"(?:حركه|كتائب|جماعه|حزب|هيئه) \S+(?: \S+)? ال\S+)|مستشار الامن (?:القومي|الوطني)(?: ال\S+)?|"
              r"السفير(?: ال\S+)?|السفيره|النائب|الشيخ|زعيم \S+(?: ال\S+)?|قائد \S+(?: ال\S+){0,2}|الامين العام ل\S+)")
_ROLES_AR = r"(?:نائب|نائبه|المتحدث|المتحدثه|الناطق|وزير|رئيس|مستشار|قائد|مدير|السكرتير|سفير)"
_STOP_AR = set(normalize_ar(
    "في من على الى إلى عن أن إن ان انه أنه الذي التي الذين قال قالت وقال وقالت أكد أعلن اعلن يوم خلال بعد قبل مع "
    "حول بين ضد لدى عند كما حيث هذا هذه ذلك تلك إن لا لم لن قد وقد كان كانت يكون عبر بشأن إثر بينهم منهم نحو "
    "حوالي و أو ثم خارج داخل عقب أمام تجاه").split())
_ORGS_AR = (r"(?:وزاره|وكاله|هيئه|الهيئه|القياده|قياده|كتائب|حركه|حزب|مجلس|منظمه|الحشد|فصائل|عصائب|جماعه|"
            r"التحالف|الحكومه|البرلمان|الجيش|البنتاغون|البيت الابيض|رئاسه|مكتب|قوات|فيلق)(?: \S+){0,3}")
_PLACES_AR = r"(?:مدينه|محافظه|قاعده|مخيم|معسكر|مطار|اقليم|منطقه|ولايه) \S+(?: \S+)?"
_EN_NAME = re.compile(r"\b[A-Z][a-z'’-]+(?:\s+(?:al-|el-|bin |ibn |de |van )?[A-Z][a-z'’-]+)+|\b[A-Z][a-z'’-]{2,}\b")


# Given names that begin with ل (normalised), the exceptions to "ل ends a name".
_NAMES_WITH_LAM = set(normalize_ar("لؤي لطيف لطفي ليلى ليلي لينا لمى لبنى لقمان لبيب لبيد لميس لجين لارا لانا لوران لويس ليث ليون لي").split())


def _name_words(folded: str, start: int, max_words: int = 3) -> tuple[int, int] | None:
    """Span of up to ``max_words`` name words from ``start`` (stops at punctuation and function words)."""
    end, n = start, 0
    for w in re.finditer(r"\S+", folded[start:]):
        token = w.group()
        bare = token.rstrip("،,.:;؛»\")")
        if n >= max_words or bare in _STOP_AR or not re.fullmatch(r"[\u0621-\u064a]+", bare):
            break
        if bare.startswith("ل") and bare not in _NAMES_WITH_LAM:
            break  # the preposition ل ends a name: «رئيس أركان الجيش لعقد محادثات» names no one after the title
        if n == 0 and re.match(r"(?:ال|لل|[وفبك]ال)", bare):  # after a title, a name: «الناطق باسم القائد» is still
            # the title, «قائد فيلق القدس بالحرس الثوري» names no one
            break
        end, n = start + w.start() + len(bare), n + 1
        if bare != token or (bare.startswith("ال") and n >= 2):  # punctuation, or a family name with the article
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
    role_only: bool = False  # a title with no name after it («رئيس أركان الجيش»): an answer only when no name is


def _name_spans(text: str, folded: str, lexicon: Lexicon) -> list[_Found]:
    """People, organisations and places a sentence names."""
    out = []
    if detect_language(text) == "ar":
        for m in re.finditer(_TITLES_AR + r"\s+", folded):
            span = _name_words(folded, m.end())
            if span:
                out.append(_Found("person", m.start(), span[1], core=span[0]))
            elif len(title := folded[m.start():m.end()].strip()) > 0 and len(title.split()) >= 2:
                out.append(_Found("person", m.start(), m.start() + len(title), role_only=True))
        for m in re.finditer(r"،\s*" + _ROLES_AR, folded):  # «سابرينا سينغ، نائبة السكرتير»: the name before
            words = [w for w in re.finditer(r"[^\s،,.:«»]+", folded[:m.start()])][-3:]
            while words and (words[0].group() in _STOP_AR or words[0].group().startswith("و")):
                words = words[1:]
            if len(words) >= 2 and folded[words[-1].end():m.start()].strip() == "" and \
                    all(re.fullmatch(r"[\u0621-\u064a]+", w.group()) and w.group() not in _STOP_AR for w in words):
                out.append(_Found("person", words[0].start(), words[-1].end()))
        for m in re.finditer(rf"(?<!\S)[وف]?{_ROLES_AR}[^،.:؛]{{0,50}}،\s*", folded):  # «نائبة السكرتير …، سابرينا سينغ،»
            span = _name_words(folded, m.end())
            if span and span[1] - span[0] >= 5 and folded[span[1]:span[1] + 2].lstrip().startswith("،") and \
                    len(folded[span[0]:span[1]].split()) >= 2:
                out.append(_Found("person", span[0], span[1]))
        for kind, pattern in (("org", _ORGS_AR), ("place", _PLACES_AR)):
            for m in re.finditer(rf"(?<!\S){pattern}", folded):
                end = m.start()
                for w in re.finditer(r"\S+", folded[m.start():m.end()]):
                    token = w.group().rstrip("،,.:؛")
                    if token in _STOP_AR or not re.fullmatch(r"[\u0621-\u064a]+", token) or \
                            (w.start() and token.startswith("ل") and not token.startswith("لجن")):
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
            if span.adjectival and name.kind != "nationality" and any(n.kind == "nationality" for n in span.names):
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
            spans.append(Span("date", offset + m.start, offset + m.end, m.text, value,
                              {"en": render_date(m, "en"), "ar": m.text}))
        for y in re.finditer(r"(?<![\d/.\-])(1[0-9]{3}|20[0-9]{2})(?![\d/.\-])", fold_same_length(sentence)):
            if not any(m.start <= y.start() < m.end for m in dates):  # a bare year: «في 1974»
                spans.append(Span("date", offset + y.start(), offset + y.end(), y.group(), y.group(),
                                  {"en": y.group(), "ar": sentence[y.start():y.end()]}))
    elif kind == "number":
        taken = [(m.start, m.end) for m in dates]
        for q in find_quantities(sentence):
            if any(a < q.num_end and q.num_start < b for a, b in taken):
                continue
            if 1900 <= q.value <= 2100 and not unit_english(q.unit):
                continue  # a year, not a count
            value = f"{q.value:g} {unit_english(q.unit) or ''}".strip()
            spans.append(Span("number", offset + q.start, offset + q.end, q.text, value,
                              {"en": render_quantity(q, "en"), "ar": q.text}))
    elif kind in ("person", "place", "org"):
        folded = fold_same_length(sentence)
        for f in _name_spans(sentence, folded, lexicon):
            if f.kind != kind and not (kind == "person" and f.kind == "org"):  # "who decides" may be answered by a body
                continue
            words, core = sentence[f.start:f.end], sentence[f.core if f.core is not None else f.start:f.end]
            arabic = detect_language(words) == "ar"
            known = f.name.label if f.name else _known_english(core, f.kind, lexicon)
            if not known and arabic and f.kind == "person" and not f.role_only:
                spelled = romanize(core)  # never an Arabic name alone in an English line, and never unmarked
                known = f"{spelled} (transliterated)" if spelled else None
            english = (f"{known} («{words}»)" if known else f"«{words}»") if arabic else words
            names = (f.name,) if f.name else tuple(lexicon.in_text(core))
            spans.append(Span(f.kind, offset + f.start, offset + f.end, words, normalize_ar(words),
                              {"en": english, "ar": words}, names=names,
                              score=(0.0 if f.kind == kind else -0.02) - (0.03 if f.role_only else 0.0)))
    return _dedupe(spans)


def _known_english(words: str, kind: str, lexicon: Lexicon) -> str | None:
    """The lexicon's English for a name span: the whole phrase, or the one person (or, in an organisation's
    span, the one organisation) it contains: «حركة عصائب أهل الحق» is Asaib Ahl al-Haq."""
    if whole := lexicon.english_for(words):
        return whole
    inside = [n.label for n in lexicon.in_text(words) if n.kind == "person" or (kind == "org" and n.kind == "org")]
    return inside[0] if len(inside) == 1 else None


def _dedupe(spans: list[Span]) -> list[Span]:
    """Drop spans inside a longer span of the same kind, and a body inside a person's title («الجيش» in
    «رئيس أركان الجيش»)."""
    keep = []
    for s in sorted(spans, key=lambda s: (s.start, -(s.end - s.start))):
        if not any((k.kind == s.kind or (k.kind, s.kind) == ("person", "org")) and k.start <= s.start and s.end <= k.end
                   for k in keep):
            keep.append(s)
    return keep


def _english_arabic(name: str) -> list[tuple[re.Pattern, list[str]]]:
    """Rows of a TSV in rag/data: an English pattern (alternatives with |) and Arabic words (with |)."""
    out = []
    for line in (DATA / name).read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            en, ar = line.split("\t")
            out.append((re.compile(rf"\b(?:{en})(?!\w)", re.I), ar.split("|")))
    return out


@lru_cache(maxsize=1)
def _titles() -> list[tuple[re.Pattern, list[str]]]:
    return [(en, [normalize_ar(a) for a in ar]) for en, ar in _english_arabic("titles.tsv")]


@lru_cache(maxsize=1)
def _qualifiers() -> list[tuple[re.Pattern, set[str]]]:
    return [(en, set(bm25_tokens(" ".join(ar)))) for en, ar in _english_arabic("qualifiers.tsv")]


def asked_qualifiers(question: str) -> set[str]:
    """The words that say what a count is of ("rocket", «صاروخية», "American"), as BM25 terms of either
    language: an Arabic question's own terms, an English question's through rag/data/qualifiers.tsv."""
    terms = set(bm25_tokens(question))
    for pattern, arabic in _qualifiers():
        if pattern.search(question):
            terms |= arabic
    return terms


_SAYING = re.compile(r"(?:^|\s)(?:who (?:said|says|stated|announced|declared|told|confirmed|denied|noted|"
                     r"added|warned|described)|من (?:قال|صرح|اعلن|اكد|نفي|اوضح|اشار|حذر)|من الذي (?:قال|صرح|اعلن|اكد))",
                     re.I)
_SAY_VERBS = re.compile(r"^(?:[وف]?(?:قال|قالت|يقول|تقول|صرح|صرحت|اعلن|اعلنت|اكد|اكدت|اوضح|اوضحت|اشار|اشارت|"
                        r"نفي|نفت|ذكر|ذكرت|حذر|حذرت|اضاف|اضافت)|said|says|stated|announced|told)$", re.I)


def _same_stem(a: str, b: str) -> bool:
    """Light stems still differ by a suffix («صاروخيا» → صاروخي, «صاروخية» → صاروخ): one a prefix of the other."""
    short, long_ = sorted((a, b), key=len)
    return len(short) >= 3 and long_.startswith(short) and len(long_) - len(short) <= 2


def asks_speaker(question: str) -> bool:
    """"Who said …", «من قال …»: the answer is whoever speaks in the clause of saying."""
    return bool(_SAYING.search(normalize_ar(question)))


def _speaks(sentence: str, start: int, end: int) -> bool:
    """A saying verb within two words before the span or three after it: «قال البنتاغون», «البنتاغون أكد»."""
    before = normalize_ar(sentence[:start]).split()[-2:]
    after = normalize_ar(sentence[end:]).split()[:3]
    return any(_SAY_VERBS.match(w.strip("،,.:؛\"”“«»()")) for w in before + after)


_IDENTITY = re.compile(r"^\s*(?:who (?:is|was|are|were)|which|من (?:هو|هي|هم)|ما اسم)\b", re.I)


def asked_roles(question: str) -> list[list[str]]:
    """Roles an identity question asks for ("who is the US ambassador", «من هو السفير»), as Arabic stems."""
    folded = normalize_ar(question)
    if not _IDENTITY.search(folded):
        return []
    return [ar for en, ar in _titles() if en.search(question) or any(a in folded for a in ar)]


def wants_money(question: str) -> bool:
    return bool(_MONEY.search(normalize_ar(question)))


# A date right after "by (the end of)" / «بحلول (نهاية)» is a deadline: it answers "by when", not "when did".
_DEADLINE_BEFORE = re.compile(r"(?:\bby|\buntil|\bbefore|بحلول|حتي|قبل)\s+(?:the\s+)?(?:end\s+of\s+|نهايه\s+)?$", re.I)
_ASKS_DEADLINE = re.compile(r"by when|until when|deadline|\bwill\b|\bdue\b|بحلول متي|موعد|مهله|حتي متي|متي\s+[سي]\w+",
                            re.I)
_STATES_DEADLINE = re.compile(r"\b(?:by|until|before) (?:the )?(?:end of )?(?:\d{4}|this year|the year)|"
                              r"(?:بحلول|حتي) (?:نهايه )?(?:\d{4}|العام|عام)", re.I)


def wants_deadline(question: str) -> bool:
    """"By when will …", «متى سينتهي …»: a deadline answers; "when did they agree" asks for the event."""
    return bool(_ASKS_DEADLINE.search(normalize_ar(question)))


# ---------------------------------------------------------------- ranking

def rank_spans(spans: list[Span], question: str, sentence: str, offset: int, lexicon: Lexicon) -> list[Span]:
    """Best first: a span near the question's words in the sentence; never the question's own value.

    Anchors are the question's words found in the sentence, and its names in either script, so an
    English question still finds its place in an Arabic sentence ("US" → «أمريكي»).
    """
    q_tokens = set(bm25_tokens(question))
    q_norm = normalize_ar(question).lower()
    q_names = set(lexicon.in_text(question))
    asked = Lexicon(list(q_names))  # a word is an anchor only through the question's own names: look up just those
    anchors = {offset + m.start() for m in re.finditer(r"\S+", sentence)
               if set(bm25_tokens(m.group())) & q_tokens or asked.in_text(m.group())}
    roles = asked_roles(question)
    money = wants_money(question)
    deadline = wants_deadline(question)
    stated_deadline = bool(_STATES_DEADLINE.search(normalize_ar(question)))
    qualifiers = asked_qualifiers(question)
    speaker = asks_speaker(question)
    out = []
    for s in spans:
        if normalize_ar(s.text).lower() in q_norm or s.render["en"].lower() in q_norm:
            continue  # the question already says it: "what happened on 5 June" is not answered by "5 June"
        named = set(s.names)
        if s.kind in ("person", "place", "org") and named and all(any(lexicon.related(n, q) for q in q_names)
                                                                  for n in named):
            continue  # "who was killed alongside Soleimani" is not answered by «سليماني», "where … left Iraq" by Iraq
        if s.kind == "org" and roles:
            continue  # "who is the US ambassador" asks for a person, not a body
        if s.kind == "date" and stated_deadline and _DEADLINE_BEFORE.search(
                normalize_ar(sentence[max(0, s.start - offset - 24):s.start - offset])):
            continue  # "when did they agree on a withdrawal by the end of 2021": the deadline is the question's
        if s.kind == "number" and money and not (set(s.render["en"].split()) & _CURRENCIES):
            continue  # a cost is an amount of money, not a head count
        if speaker and s.kind in ("person", "org") and not _speaks(sentence, s.start - offset, s.end - offset):
            continue  # "who said": the speaker of the clause of saying, not the institution in a title
        if s.kind == "number" and qualifiers:  # "how many rocket attacks": 41 «هجوماً صاروخياً», not all 63
            tail = " ".join(sentence[s.start - offset:].split()[:len(s.text.split()) + 2])
            s.score += 0.06 * sum(_same_stem(q, t) for q in qualifiers for t in set(bm25_tokens(tail)))
        if s.kind == "person" and roles:
            near = normalize_ar(sentence[max(0, s.start - offset - 60):s.end - offset + 60])
            if not all(any(a in near for a in role) for role in roles):
                continue  # "who is the ambassador" needs the ambassador, not any name
        if s.kind == "date" and not deadline and \
                _DEADLINE_BEFORE.search(normalize_ar(sentence[max(0, s.start - offset - 24):s.start - offset])):
            s.score -= 0.02  # «بحلول نهاية العام» for "when did they agree": the deadline, not the agreement
        if s.kind == "number" and (named := set(lexicon.in_text(s.text))) and not named & q_names:
            s.score -= 0.02  # «2500 أميركي» counts Americans; "how many coalition troops" asks for all of them
        inside = sum(s.start <= a < s.end for a in anchors)  # question words within the span itself
        if s.kind == "number" and inside:
            s.score += 0.05  # «2500 أمريكي» for "how many US troops": the unit is the question's own word
        if inside and s.kind in ("person", "place", "org") and inside >= len(s.text.split()):
            continue  # a name the question itself uses is not the answer
        distance = min((abs(a - s.start) for a in anchors), default=len(sentence))
        s.score += 0.05 / (1.0 + distance / 40.0) - 0.0001 * (s.start - offset) / max(len(sentence), 1)
        out.append(s)
    return sorted(out, key=lambda s: -s.score)


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
    return normalize_ar(b.text) in normalize_ar(sentence_a) or normalize_ar(a.text) in normalize_ar(sentence_b)


# ---------------------------------------------------------------- answers of several spans

_PARTS = re.compile(r",?\s+and (?=how (?:many|much)\b)|،?\s*و\s*(?=كم\b)", re.I)


def question_parts(question: str) -> list[str]:
    """"How many coalition troops remain, and how many are American?" asks two things: one part each."""
    return [p.strip(" ,،?؟") for p in _PARTS.split(question) if p.strip(" ,،?؟")]


def _joined(spans: list[Span], sentence: str, offset: int, sep: dict[str, str]) -> Span:
    """One answer made of several spans of one sentence, in the order the question or the sentence gives them."""
    a, b = min(s.start for s in spans), max(s.end for s in spans)
    return Span(spans[0].kind, a, b, sentence[a - offset:b - offset], sep["value"].join(s.value for s in spans),
                {lang: sep[lang].join(s.render[lang] for s in spans) for lang in ("en", "ar")},
                score=spans[0].score, names=tuple(n for s in spans for n in s.names))


def coordinated(ranked: list[Span], top: Span, sentence: str, offset: int) -> Span:
    """The people a sentence names together with ``top`` in one event («قاسم سليماني، والقيادي … أبي مهدي
    المهندس»): names joined by «و» with no more than a title between them are given together."""
    people = sorted({(s.start, s.end): s for s in ranked if s.kind == "person"}.values(), key=lambda s: s.start)
    if top not in people:
        return top
    chain, i = [top], people.index(top)
    for step in (-1, 1):
        j = i
        while 0 <= j + step < len(people):
            left, right = (people[j + step], people[j]) if step < 0 else (people[j], people[j + step])
            gap = sentence[left.end - offset:right.start - offset]
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
        ranked = rank_spans([Span(s.kind, s.start, s.end, s.text, s.value, s.render, names=s.names) for s in spans],
                            part, sentence, offset, lexicon)
        pick = next((s for s in ranked if all((s.start, s.end) != (b.start, b.end) for b in best)), None)
        if pick is None:
            return None
        best.append(pick)
    return _joined(best, sentence, offset, {"value": "; ", "en": "; ", "ar": "؛ "})
