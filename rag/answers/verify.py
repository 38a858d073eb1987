"""Checks that generated text says only what its cited sources say.

A generated sentence keeps a citation [n] only if it is semantically close to source n
and every number in it appears in source n. A sentence left with no valid citation is
flagged; an answer with no supported sentence is not shown as an answer at all.
Translations get the same treatment: numbers, months and Latin-script names must survive.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from rag.models.embedder import Embedder
from rag.text.arabic import ARABIC_LETTER, normalize_ar, sentence_spans
from rag.text.dates import ENGLISH_MONTHS, arabic_months_in, day_numbers
from rag.text.lexicon import Lexicon, load_lexicon
from rag.text.transliteration import latin_name_in_arabic

CITATION = re.compile(r"\s*\[(\d{1,3})\]")
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
NO_ANSWER = {"en": "The articles do not say.", "ar": "لا تذكر المقالات ذلك."}


def numbers(text: str) -> set[str]:
    """Digits in any script, thousands separators removed: '3,000' and '٣٠٠٠' are both '3000'."""
    folded = normalize_ar(text)
    plain = (re.sub(r"(?<=\d)[,٬](?=\d{3}\b)", "", n).rstrip(".,") for n in _NUMBER.findall(folded))
    return {re.sub(r"^0+(?=\d)", "", n) for n in plain}  # "08" in 2021-08-08 is the 8 of "August 8"


@dataclass
class SentenceCheck:
    text: str  # the sentence as shown, with the citations that survived
    cited: list[int]
    supported: list[int]
    flagged: bool
    reason: str = ""


@dataclass
class Verification:
    text: str
    checks: list[SentenceCheck] = field(default_factory=list)
    removed: list[int] = field(default_factory=list)  # citation numbers taken out
    attributed: list[int] = field(default_factory=list)  # citations the verifier supplied
    abstained: bool = False

    @property
    def supported(self) -> bool:
        return any(c.supported for c in self.checks)

    @property
    def support(self) -> float:
        return sum(bool(c.supported) for c in self.checks) / len(self.checks) if self.checks else 0.0


def says_no_answer(text: str) -> bool:
    t = normalize_ar(text).lower()
    return any(normalize_ar(p).lower().rstrip(".") in t for p in NO_ANSWER.values())


_LATIN_NAME = re.compile(r"(?<![.!?]\s)(?<!^)\b[A-Z][\w'’-]+(?:\s+(?:al-|el-|bin\s+|ibn\s+)?[A-Z][\w'’-]+)*")
_COMMON_CAPS = {
    "US",
    "U.S.",
    "USA",
    "UN",
    "American",
    "Americans",
    "Arab",
    "Arabic",
    "English",
    "Islamic",
    "State",
    "ISIS",
    "Daesh",
    "I",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
    # titles and common nouns that English capitalises before a name: not part of the name
    "Minister",
    "Foreign",
    "Prime",
    "President",
    "General",
    "Major",
    "Colonel",
    "Lieutenant",
    "Defense",
    "Defence",
    "Secretary",
    "Spokesman",
    "Spokeswoman",
    "Deputy",
    "Ambassador",
    "Commander",
    "Army",
    "Ministry",
    "Government",
    "Parliament",
    "Coalition",
    "Forces",
    "Air",
    "Base",
    "Camp",
    "National",
    "Security",
    "Adviser",
    "Advisor",
    "Chief",
    "Staff",
    "Press",
    "Mr",
    "Ms",
    "Dr",
    "Sheikh",
}


def latin_names(claim: str, lexicon: Lexicon | None = None) -> list[str]:
    """Capitalised names inside an English sentence that the lexicon and dates do not cover.

    Such a name must appear as written in the cited sentence, or it is unconfirmed:
    across languages that is conservative, and it is how invented people are caught.
    """
    out = []
    for m in _LATIN_NAME.finditer(claim.strip()):
        words = [
            w
            for w in m.group().split()
            if w not in _COMMON_CAPS
            and w not in ENGLISH_MONTHS
            and not (lexicon or load_lexicon()).in_english(w)
        ]
        if words:
            out.append(" ".join(words))
    return out


# Nouns English capitalises in the name of an institution or a title a translation may rightly use.
_INSTITUTION_CAPS = {
    "Council",
    "Agency",
    "Department",
    "Governorate",
    "Dialogue",
    "Guard",
    "Guards",
    "Force",
    "Corps",
    "Speaker",
    "Assembly",
    "Operations",
    "Command",
    "Revolutionary",
    "News",
    "Armed",
    "Ministers",
    "Joint",
    "Committee",
    "Commission",
    "Office",
    "Mission",
    "Directorate",
    "Authority",
    "Republic",
    "Kingdom",
    "House",
    "Strategic",
    "Higher",
    "Supreme",
    "Special",
    "Popular",
    "Mobilization",
    "Resistance",
    "There",
    "The",
    "This",
    "That",
    "It",
    "We",
    "Our",
    "They",
    "He",
    "She",
    "In",
    "According",
    "Important",
    "However",
    "But",
    "And",
    "Also",
    "International",
    "Airport",
    "Military",
    "Affairs",
    "Interior",
    "Central",
    "Intelligence",
    "Federal",
    "Regional",
    "United",
    "West",
    "East",
    "North",
    "South",
    "Western",
    "Eastern",
    "Northern",
    "Southern",
    "Middle",
    "God",
    "Church",
    "Bible",
    "Empire",
    "Us",
}
_GUESSED_NAME = re.compile(
    r"(?:(?<=[a-z] )|(?<=Mr\. )|(?<=Dr\. ))[A-Z][a-z'’-]+(?: [A-Z][a-z'’-]+)*"
)  # not where a sentence starts


def invented_names(arabic: str, english: str, lexicon: Lexicon | None = None) -> list[str]:
    """Capitalised names inside an English rendering of ``arabic`` that neither the lexicon nor the Arabic
    has (a name matches when one of its words has the consonant skeleton of an Arabic word: "Pentagon"
    for «البنتاجون»): "Mohammed" added before «الكاظمي», "Joint Chiefs" for a committee."""
    lexicon = lexicon or load_lexicon()
    text = english
    for name in lexicon.in_english(english):  # known names are checked elsewhere, in both directions
        for form in sorted(name.english, key=len, reverse=True):
            text = re.sub(rf"\b{re.escape(form)}\w{{0,3}}\b", "x", text)
    out = []
    for m in _GUESSED_NAME.finditer(text):
        words = [
            w
            for w in (re.sub(r"(?:['’]s?)$", "", w) for w in m.group().split())  # Chief's → Chief
            if w not in _COMMON_CAPS
            and w not in _INSTITUTION_CAPS
            and w not in ENGLISH_MONTHS
            and not re.search(r"(?:ic|ian|ese|ish)$", w)
        ]  # adjectives: Islamic, Iranian
        if (
            words
            and " ".join(words) not in arabic
            and not any(latin_name_in_arabic(w, arabic) for w in words)
        ):
            out.append(" ".join(words))
    return out


def _problem(
    claim: str, source: str, similarity: float, min_similarity: float, lexicon: Lexicon | None = None
) -> str | None:
    """Why ``source`` does not support ``claim`` (None: it does)."""
    lexicon = lexicon or load_lexicon()
    if not numbers(claim) <= numbers(source):
        return f"lacks {', '.join(sorted(numbers(claim) - numbers(source)))}"
    if invented := lexicon.unmatched(claim, source):
        return f"does not name {', '.join(sorted(n.label for n in invented))}"
    unconfirmed = [
        n
        for n in latin_names(claim, lexicon)
        if n.lower() not in source.lower() and not latin_name_in_arabic(n, source)
    ]
    if unconfirmed:
        return f"cannot confirm {', '.join(unconfirmed)}"
    if not months_in(claim) <= months_in(source):
        return f"does not say month {', '.join(str(m) for m in sorted(months_in(claim) - months_in(source)))}"
    if is_value_claim(claim, lexicon):
        return None  # a date, number or name: checked above by value; similarity means nothing for four words
    if similarity < min_similarity:
        return f"does not say this (similarity {similarity:.2f})"
    return None


def is_value_claim(claim: str, lexicon: Lexicon | None = None) -> bool:
    """A short claim that states a date, a number or a name ("5 June 2021", "63 attacks", "Fuad Hussein")."""
    words = CITATION.sub("", claim).split()
    lexicon = lexicon or load_lexicon()
    return 0 < len(words) <= 6 and bool(
        numbers(claim) or months_in(claim) or lexicon.in_text(claim) or latin_names(" " + claim, lexicon)
    )


def verify_citations(
    text: str,
    sources: dict[int, str],
    embedder: Embedder,
    min_similarity: float,
    attribute: bool = True,
    lexicon: Lexicon | None = None,
) -> Verification:
    """Keep supported citations, drop the rest, flag unsupported sentences.

    With ``attribute``, a sentence left without a valid citation gets the one source
    that passes every check, if any (small models often forget to cite); such
    citations are counted in ``attributed`` so the reader is told.
    """
    if says_no_answer(text):
        return Verification(text.strip(), abstained=True)
    spans = sentence_spans(text)
    claims = [CITATION.sub("", text[a:b]).strip() for a, b in spans]
    cited = [[int(n) for n in CITATION.findall(text[a:b])] for a, b in spans]
    ids = sorted(sources)
    sims: dict[tuple[int, int], float] = {}
    if ids and any(claims):
        m = embedder.embed_queries(claims) @ embedder.embed_documents([sources[n] for n in ids]).T
        sims = {(i, n): float(m[i, j]) for i in range(len(claims)) for j, n in enumerate(ids)}
    result = Verification("")
    shown = []
    for i, claim in enumerate(claims):
        if not claim:
            continue
        ok, reasons = [], []
        for n in dict.fromkeys(cited[i]):
            problem = (
                "is not a source"
                if n not in sources
                else _problem(claim, sources[n], sims[(i, n)], min_similarity, lexicon)
            )
            if problem:
                reasons.append(f"[{n}] {problem}")
            else:
                ok.append(n)
        result.removed.extend(n for n in cited[i] if n not in ok)
        if not ok and attribute:
            best = max(ids, key=lambda n: sims[(i, n)], default=None)
            if (
                best is not None
                and _problem(claim, sources[best], sims[(i, best)], min_similarity, lexicon) is None
            ):
                ok.append(best)
                result.attributed.append(best)
        flagged = not ok
        reason = "; ".join(reasons) if reasons else ("no citation" if flagged else "")
        markers = "".join(f" [{n}]" for n in ok)
        body = claim.rstrip(".!?؟。")
        line = body + markers + claim[len(body) :]  # "… American [1]." keeps the full stop last
        result.checks.append(SentenceCheck(line, cited[i], ok, flagged, reason))
        shown.append(line + (" ⚠" if flagged else ""))
    result.text = " ".join(shown)
    return result


# Negation, counted on both sides (a count, not a yes/no, so "did not … not" for a single «لا» is caught).
# Chosen on even XQuAD-R paragraphs, reported on odd ones by `isnad eval translation` («غير» counted as a
# negator caught fewer flipped sentences there, 88.7 % against 93.3 %, so it only excuses an English "un-").
_AR_NEGATOR = re.compile(
    r"(?<!\S)(?:[وف]?(?:لا|لم|لن|ليس|ليست|ليسوا|ليسا|لسنا|لست)|[وفب]?عدم|[وفب]?دون|بلا)(?!\S)"
)
_AR_NOT_NEGATION = re.compile(
    r"لا ?سيما|لا (?:يزال|تزال|يزالون|زال)|ما ?زال|لا ?بد"
)  # "especially", "still", "must"
_EN_NEGATOR = re.compile(
    r"\b(?:not|no(?!\.\s*\d)|never|without|neither|nor|none|nothing|nobody|cannot)\b|n't\b", re.IGNORECASE
)
# What an English translation may say for «غير»/«عدم»/«لم … إلا» instead of "not": "inequality", "only", "lack".
_EN_NEGATIVE_WORD = re.compile(
    r"\b(?:non|unable|lack\w*|fail\w*|refus\w*|absen\w*|only|just|merely|solely|rather than|instead of|less|"
    r"free of)\b|\bnon-|\bun(?!d|i|til)\w+|\bin(?:equal|compet|effic|ab|depend|valid|activ|capab|complet|suffic|"
    r"adequa|formal|direct|correct|secur|stab|famous|accura)\w*|\bil(?:legal|licit|literat|logical)\w*|"
    r"\bir(?:regular|relevan|respons|revers|ration)\w*|\bdis(?:agree|approv|allow|miss|continu|qualif|card|abl|"
    r"honest|satisf|trust|like|obey|arm|band|solv|regard|pute|proportion)\w*|\w{3,}less\b",
    re.IGNORECASE,
)


def negation_mismatch(source: str, translation: str) -> str:
    """Why the translation's polarity differs from the source's ("" when it does not): a negation
    the Arabic has and the English lacks, or an English "not" more than the Arabic has.
    Direction-free: whichever side holds Arabic script is the Arabic."""
    arabic, english = (source, translation) if ARABIC_LETTER.search(source) else (translation, source)
    if not ARABIC_LETTER.search(arabic) or ARABIC_LETTER.search(english):
        return ""
    ar = len(_AR_NEGATOR.findall(_AR_NOT_NEGATION.sub(" ", arabic)))
    en = len(_EN_NEGATOR.findall(english))
    if ar and not en and not _EN_NEGATIVE_WORD.search(english):
        return "a negation in the Arabic is missing from the English"
    if en > ar:
        return "the English negates what the Arabic does not"
    return ""


def meaning_problems(source: str, translation: str, lexicon: Lexicon | None = None) -> list[str]:
    """What the model's prose changed: a negation dropped or added, or (into English) a name that
    neither the lexicon nor the Arabic has. Cheap, so a cached draft is judged again with them."""
    problems = [polarity] if (polarity := negation_mismatch(source, translation)) else []
    if (
        ARABIC_LETTER.search(source)
        and not ARABIC_LETTER.search(translation)
        and (guessed := invented_names(source, translation, lexicon))
    ):
        problems.append(f"name(s) {', '.join(guessed)} not in the original")
    return problems


def months_in(text: str) -> set[int]:
    english = {i + 1 for i, m in enumerate(ENGLISH_MONTHS) if re.search(rf"\b{m}\b", text, re.IGNORECASE)}
    return english | arabic_months_in(text)


def check_translation(
    source: str,
    translation: str,
    embedder: Embedder | None = None,
    min_similarity: float = 0.0,
    lexicon: Lexicon | None = None,
) -> list[str]:
    """Problems that make a machine translation unsafe to show (empty list: fine).

    Symmetric, so it serves Arabic→English and English→Arabic alike: numbers,
    months and well-known names must be neither dropped nor invented, and a negation
    neither dropped nor added.
    """
    if not translation.strip():
        return ["empty translation"]
    lexicon = lexicon or load_lexicon()
    problems = []
    for kind, got in (("number", numbers), ("month", months_in)):
        a, b = got(source), got(translation)
        if kind == "number":  # "السابع من أبريل" states the number 7 in words
            a |= day_numbers(source) & b
        if a - b:
            problems.append(f"{kind}(s) {', '.join(sorted(map(str, a - b)))} missing")
        if b - a:
            problems.append(f"{kind}(s) {', '.join(sorted(map(str, b - a)))} not in the original")
    for label, names in (
        ("missing", lexicon.unmatched(source, translation)),
        ("not in the original", lexicon.unmatched(translation, source)),
    ):
        if names:
            problems.append(f"name(s) {', '.join(sorted(n.label for n in names))} {label}")
    for name in re.findall(r"[A-Z][A-Za-z]+(?: [A-Z][A-Za-z]+)*", source):  # Latin names kept as written
        if name not in translation and not lexicon.in_english(name):
            problems.append(f"name '{name}' missing")
    problems += meaning_problems(source, translation, lexicon)
    if embedder is not None and not problems:  # a floor on meaning: catches gross drift, not nuance
        a, b = embedder.embed_documents([source, translation])
        if float(a @ b) < min_similarity:
            problems.append(f"meaning drifted (similarity {float(a @ b):.2f})")
    return problems
