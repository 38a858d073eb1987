"""Facts a text states, compared with its source: numbers, months, names a model guessed, negation that flipped."""

from __future__ import annotations

import re

from rag.models.embedder import Embedder
from rag.text.arabic import ARABIC_LETTER, normalize_ar
from rag.text.dates import ENGLISH_MONTHS, arabic_months_in, day_numbers
from rag.text.lexicon import Lexicon, load_lexicon
from rag.text.transliteration import latin_name_in_arabic

_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")


def numbers(text: str) -> set[str]:
    """Digits in any script, thousands separators removed: '3,000' and '٣٠٠٠' are both '3000'."""
    folded = normalize_ar(text)
    plain = (re.sub(r"(?<=\d)[,٬](?=\d{3}\b)", "", n).rstrip(".,") for n in _NUMBER.findall(folded))
    return {re.sub(r"^0+(?=\d)", "", n) for n in plain}  # "08" in 2021-08-08 is the 8 of "August 8"


_LATIN_NAME = re.compile(r"(?<![.!?]\s)(?<!^)\b[A-Z][\w'’-]+(?:\s+(?:al-|el-|bin\s+|ibn\s+)?[A-Z][\w'’-]+)*")


# fmt: off
_COMMON_CAPS = {
    "US", "U.S.", "USA", "UN", "American", "Americans", "Arab", "Arabic", "English", "Islamic", "State",
    "ISIS", "Daesh", "I", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday",
    # titles and common nouns that English capitalises before a name: not part of the name
    "Minister", "Foreign", "Prime", "President", "General", "Major", "Colonel", "Lieutenant", "Defense",
    "Defence", "Secretary", "Spokesman", "Spokeswoman", "Deputy", "Ambassador", "Commander", "Army",
    "Ministry", "Government", "Parliament", "Coalition", "Forces", "Air", "Base", "Camp", "National",
    "Security", "Adviser", "Advisor", "Chief", "Staff", "Press", "Mr", "Ms", "Dr", "Sheikh",
}
# fmt: on


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
# fmt: off
_INSTITUTION_CAPS = {
    "Council", "Agency", "Department", "Governorate", "Dialogue", "Guard", "Guards", "Force", "Corps",
    "Speaker", "Assembly", "Operations", "Command", "Revolutionary", "News", "Armed", "Ministers", "Joint",
    "Committee", "Commission", "Office", "Mission", "Directorate", "Authority", "Republic", "Kingdom",
    "House", "Strategic", "Higher", "Supreme", "Special", "Popular", "Mobilization", "Resistance", "There",
    "The", "This", "That", "It", "We", "Our", "They", "He", "She", "In", "According", "Important", "However",
    "But", "And", "Also", "International", "Airport", "Military", "Affairs", "Interior", "Central",
    "Intelligence", "Federal", "Regional", "United", "West", "East", "North", "South", "Western", "Eastern",
    "Northern", "Southern", "Middle", "God", "Church", "Bible", "Empire", "Us",
}
# fmt: on


# not where a sentence starts
_GUESSED_NAME = re.compile(r"(?:(?<=[a-z] )|(?<=Mr\. )|(?<=Dr\. ))[A-Z][a-z'’-]+(?: [A-Z][a-z'’-]+)*")


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
        # adjectives: Islamic, Iranian
        words = [
            w
            for w in (re.sub(r"(?:['’]s?)$", "", w) for w in m.group().split())  # Chief's → Chief
            if w not in _COMMON_CAPS
            and w not in _INSTITUTION_CAPS
            and w not in ENGLISH_MONTHS
            and not re.search(r"(?:ic|ian|ese|ish)$", w)
        ]
        if (
            words
            and " ".join(words) not in arabic
            and not any(latin_name_in_arabic(w, arabic) for w in words)
        ):
            out.append(" ".join(words))
    return out


# Negation, counted on both sides (a count, not a yes/no, so "did not … not" for a single «لا» is caught).
# Chosen on even XQuAD-R paragraphs, reported on odd ones by `isnad eval translation` («غير» counted as a
# negator caught fewer flipped sentences there, 88.7 % against 93.3 %, so it only excuses an English "un-").
_AR_NEGATOR = re.compile(
    r"(?<!\S)(?:[وف]?(?:لا|لم|لن|ليس|ليست|ليسوا|ليسا|لسنا|لست)|[وفب]?عدم|[وفب]?دون|بلا)(?!\S)"
)


# "especially", "still", "must"
_AR_NOT_NEGATION = re.compile(r"لا ?سيما|لا (?:يزال|تزال|يزالون|زال)|ما ?زال|لا ?بد")


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
