""" "Who is X?": the title and role an article writes right before a person's name.

A news article introduces a person by role («الناطق باسم القائد العام للقوات المسلحة العراقية، اللواء يحيى
رسول»), so the answer to "who is Yahya Rasool" is those words, quoted from the sentence, found by where
they stand rather than by how similar the sentence is to a four-word question. The role is rendered in
English by rule (``rag/data/roles.tsv`` and the name lexicon) only when every word of it is covered;
otherwise the English line gives the person's name and the role's words as written.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from rag.data import DATA_DIR
from rag.text.arabic import fold_same_length, normalize_ar
from rag.text.lexicon import Lexicon, Name
from rag.text.transliteration import transliteration_fits
from rag.types import Span

_WHO_IS = re.compile(r"^\s*(?:who\s+(?:is|was)|من\s+(?:هو|هي|يكون|كان))\s+(?P<rest>.+?)\s*[?؟]?\s*$", re.I)
_CAPITALISED = re.compile(r"[A-Z][a-z'’-]+(?:\s+(?:al-|el-)?[A-Z][a-z'’-]+)+")


def asked_identity(question: str, lexicon: Lexicon) -> Name | None:
    """The person a "who is X" question names («من هو يحيى رسول», "Who is Yahya Rasul, the military
    spokesman?"): from the lexicon by its forms, or by consonant skeleton for an English spelling the
    lexicon lacks. None for "who is the spokesman …" (a role asked for) or a name not known."""
    m = _WHO_IS.match(question)
    if not m:
        return None
    # the name opens what follows "who is"; an appositive may follow it ("…, the military spokesman"),
    # anything else makes it another question ("who was killed alongside Soleimani")
    head = re.split(r"\s*[,،(–—-]\s*", m.group("rest"), maxsplit=1)[0].strip()
    people = [n for n in lexicon.in_text(head) if n.kind == "person" and _is_whole_name(head, n)]
    if not people and _CAPITALISED.fullmatch(head):
        people = [
            n
            for n in lexicon.names
            if n.kind == "person" and any(transliteration_fits(a, head) for a in n.arabic)
        ]
    return people[0] if len(people) == 1 else None


def _is_whole_name(head: str, name: Name) -> bool:
    """``head`` is the name itself, in either script, with at most one more word (a given name the
    lexicon lacks: «مصطفى الكاظمي», "Mustafa al-Kadhimi")."""
    spans = Lexicon([name]).spans_arabic(head)
    if spans:
        return len(head.split()) - len(spans[0].text.split()) <= 1
    forms = [f for f in name.english if re.search(rf"\b{re.escape(f)}\b", head, re.I)]
    return bool(forms) and len(head.split()) - max(len(f.split()) for f in forms) <= 1


@dataclass(frozen=True)
class Role:
    """Where a sentence gives a person's role: [start, end) covers the role and the name, offsets into
    the sentence; ``role`` is the role's words alone."""

    start: int
    end: int
    role: str


# words that may stand inside a role: the role nouns, «باسم», and words with the article
_ROLE_HEAD = re.compile(
    r"^(?:[وف]?(?:ال)?(?:ناطق|متحدث|وزير|رئيس|قائد|مستشار|سفير|نائب|مدير|امين|لواء|عميد|عقيد|فريق|جنرال|مشير|"
    r"رائد|نقيب|سكرتير)\S*)$"
)
_ROLE_WORD = re.compile(r"^(?:ال|لل|بال)\S+$|^(?:باسم|مجلس|اركان|اول|فيلق|حركه|جماعه)$")
_SAYING = re.compile(r"^[وف]?(?:قال|قالت|اكد|اكدت|اعلن|اعلنت|دعا|دعت|اشار|اشارت|اوضح|اوضحت|ذكر|ذكرت)$")
_MAX_ROLE_WORDS = 12


def role_before(sentence: str, name_start: int) -> Role | None:
    """The role written right before a name (offset ``name_start`` in ``sentence``): walking back over
    role words, «باسم», words with the article, and commas, up to a verb, a quote or a stop; up to two
    given names may stand between the role and the name («رئيس الوزراء مصطفى الكاظمي»)."""
    folded = fold_same_length(sentence)
    words = list(re.finditer(r"[^\s«»\"“”:.()]+", folded[:name_start]))
    # the words must touch: no quote, colon or full stop between any two
    chain: list[re.Match] = []
    given = 0
    for w in reversed(words):
        nxt = chain[0].start() if chain else name_start
        if re.search(r"[«»\"“”:.()؛]", folded[w.end() : nxt]):
            break
        token = normalize_ar(w.group()).strip("،,")
        if _SAYING.match(token) or not token:
            break
        if _ROLE_HEAD.match(token) or _ROLE_WORD.match(token):
            chain.insert(0, w)
        elif not chain and given < 2 and re.fullmatch(r"[\u0621-\u064a]{2,}", token):
            given += 1
            chain.insert(0, w)
        else:
            break
        if len(chain) > _MAX_ROLE_WORDS:
            return None
    # the role starts at its first role noun; what precedes it («المجتمع») is not the role
    heads = [i for i, w in enumerate(chain) if _ROLE_HEAD.match(normalize_ar(w.group()).strip("،,"))]
    if not heads:
        return None
    chain = chain[heads[0] : len(chain) - given]
    start = chain[0].start()
    return Role(start, name_start, sentence[start : chain[-1].end()].strip(" ،,"))


@lru_cache(maxsize=1)
def _roles() -> list[tuple[list[str], str]]:
    """roles.tsv rows as (normalised words, English), longest first."""
    rows = []
    for line in (DATA_DIR / "roles.tsv").read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            arabic, _, english = line.partition("\t")
            rows.append(([w if w == "{nat}" else normalize_ar(w) for w in arabic.split()], english.strip()))
    return sorted(rows, key=lambda r: -len(r[0]))


def role_english(role: str, lexicon: Lexicon) -> str | None:
    """The role in English when every word is covered by roles.tsv or the lexicon («الناطق باسم القائد
    العام للقوات المسلحة العراقية، اللواء» → "spokesman for the Commander-in-Chief of the Iraqi Armed
    Forces, Major General"); None when any word is not, rather than a guess."""
    tokens = re.findall(r"[^\s،,]+|[،,]", role)
    folded = [normalize_ar(t) for t in tokens]
    out: list[str] = []
    i = 0
    while i < len(tokens):
        if folded[i] in ("،", ","):
            if out:
                out[-1] += ","
            i += 1
            continue
        hit = _match_role(tokens, folded, i, lexicon)
        if hit is None:
            return None
        english, i = hit
        if english:
            out.append(english)
    return _joined(out) or None


def _joined(pieces: list[str]) -> str:
    """Pieces in Arabic order; two roles side by side («القائد العام … رئيس مجلس الوزراء») are set apart
    by a comma, a piece that continues the one before ("spokesman for" + "the coalition") by a space."""
    text = ""
    for piece in pieces:
        continues = re.search(r"\b(?:for|of)$|,$", text) or re.match(r"(?:in|of|for)\b", piece)
        text = f"{text} {piece}" if not text or continues else f"{text}, {piece}"
    return text.strip(" ,")


def _match_role(tokens: list[str], folded: list[str], i: int, lexicon: Lexicon) -> tuple[str, int] | None:
    """The longest roles.tsv row (or lexicon name) starting at token ``i``: (English, next index)."""
    for words, english in _roles():
        j, nat = i, ""
        for w in words:
            if j >= len(tokens):
                break
            if w == "{nat}":
                spans = lexicon.spans_arabic(tokens[j])
                if not (spans and spans[0].adjectival and spans[0].text == tokens[j]):
                    break
                nat = spans[0].english()
            elif folded[j] != w:
                break
            j += 1
        else:
            return english.replace("{nat}", nat), j
    spans = lexicon.spans_arabic(tokens[i])
    if spans and spans[0].text == tokens[i]:
        return spans[0].english(), i + 1
    # a name of several words the lexicon knows («عصائب أهل الحق»)
    for n in range(min(4, len(tokens) - i), 1, -1):
        phrase = " ".join(tokens[i : i + n])
        spans = lexicon.spans_arabic(phrase)
        if spans and spans[0].text == phrase:
            return spans[0].english(), i + n
    return None


_RANKS = {
    english
    for words, english in _roles()
    if len(words) <= 2 and english.endswith(("General", "Colonel", "Major", "Captain", "Marshal"))
}


def identity_span(who: Name, sentence: str, offset: int, lexicon: Lexicon) -> Span | None:
    """The person's role and name as one answer span of ``sentence`` (offsets into the article), rendered
    "Major General Yahya Rasool, spokesman for the Commander-in-Chief of the Iraqi Armed Forces"; None
    when the sentence names the person with no role before the name."""
    for name in Lexicon([who]).spans_arabic(sentence):
        role = role_before(sentence, name.start)
        if role is None:
            continue
        words = sentence[role.start : name.end]
        english = role_english(role.role, lexicon)
        head, _, rank = (english or "").rpartition(", ")
        if english is None:
            line = f"{who.label} — «{role.role}»"
        elif english in _RANKS:  # a rank alone: "Major General Tahseen al-Khafaji"
            line = f"{english} {who.label}"
        elif rank in _RANKS and head:  # a rank last stands before the name
            line = f"{rank} {who.label}, {head}"
        else:
            line = f"{who.label}, {english}"
        return Span(
            "person",
            offset + role.start,
            offset + name.end,
            words,
            normalize_ar(role.role),
            {"en": line, "ar": words},
            names=(who,),
        )
    return None
