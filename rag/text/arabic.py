"""Arabic-aware text processing: normalisation, sentence spans, BM25 tokens, language.

Everything here works on *views* of the text: sentence splitting returns character
spans into the string it was given, so callers can always cite the original text.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

import Stemmer

# Harakat, Quranic marks and the superscript alef: they change no word's identity.
_DIACRITICS = re.compile("[\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06ed]")
_TATWEEL = "\u0640"
# Spaces that look like spaces but are not U+0020 (web text is full of them).
_ODD_SPACES = re.compile("[\u00a0\u2007\u202f\u2000-\u200a\u3000]")
# Zero-width and direction marks: invisible, but they break token matching.
_INVISIBLE = re.compile("[\u200b-\u200f\u061c\u2066-\u2069\u202a-\u202e\ufeff]")
_PRESENTATION_FORMS = re.compile("[\ufb50-\ufdff\ufe70-\ufeff]")
_LETTER_FOLD = str.maketrans({"أ": "ا", "إ": "ا", "آ": "ا", "ٱ": "ا", "ى": "ي", "ة": "ه", "ـ": None})
_DIGITS = str.maketrans("٠١٢٣٤٥٦٧٨٩۰۱۲۳۴۵۶۷۸۹", "01234567890123456789")

ARABIC_LETTER = re.compile("[\u0621-\u064a\u0671-\u06d3]")
LATIN_LETTER = re.compile("[A-Za-z]")


def clean_spaces(text: str) -> str:
    """Non-breaking and zero-width characters to plain spaces/nothing; same meaning."""
    return _INVISIBLE.sub("", _ODD_SPACES.sub(" ", text))


def expand_presentation_forms(text: str) -> str:
    """Arabic presentation forms (legacy glyph codes such as ﻻ) to ordinary letters."""
    return _PRESENTATION_FORMS.sub(lambda m: unicodedata.normalize("NFKC", m.group()), text)


def normalize_for_model(text: str) -> str:
    """What the embedding model sees: readable text, no invisible or legacy characters."""
    return expand_presentation_forms(clean_spaces(text))


def normalize_ar(text: str) -> str:
    """Search-time folding: diacritics, tatweel, alef/ya/ta-marbuta variants, digits.

    Lossy on purpose (أ/إ/ا and ة/ه are spelled inconsistently in news text);
    never used for display.
    """
    text = normalize_for_model(text)
    text = _DIACRITICS.sub("", text)
    return text.translate(_LETTER_FOLD).translate(_DIGITS)


_SAME_LENGTH = str.maketrans(
    {
        "أ": "ا",
        "إ": "ا",
        "آ": "ا",
        "ى": "ي",
        "ة": "ه",
        "\u00a0": " ",
        **{chr(0x660 + i): str(i) for i in range(10)},
        **{chr(0x6F0 + i): str(i) for i in range(10)},
    }
)


def fold_same_length(text: str) -> str:
    """Letter and digit folding that keeps every offset (1-to-1 swaps only), lower case: spans found
    in the folded text are spans of the original."""
    return text.translate(_SAME_LENGTH).lower()


def detect_language(text: str) -> str:
    """'ar', 'en' or 'other' by script: enough for Arabic/English news and questions."""
    ar = len(ARABIC_LETTER.findall(text))
    latin = len(LATIN_LETTER.findall(text))
    letters = sum(ch.isalpha() for ch in text)
    if letters == 0:
        return "other"
    if ar >= latin and ar / letters > 0.4:
        return "ar"
    if latin > ar and latin / letters > 0.6:
        return "en"
    return "other"


# ---------------------------------------------------------------- sentences

# fmt: off
_ABBREVIATIONS = {
    # English
    "mr", "mrs", "ms", "dr", "prof", "st", "vs", "etc", "inc", "ltd", "co", "jr", "sr", "gen", "col", "lt",
    "sgt", "gov", "sen", "rep", "no", "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct",
    "nov", "dec", "e.g", "i.e", "u.s", "u.k", "u.n", "a.m", "p.m",
    # Arabic single-letter abbreviations: د. (doctor), م. (engineer / AD), هـ. (Hijri), ص. (page)
    "د", "م", "ه", "هـ", "ص", "ج", "ق", "أ", "ا",
}
# fmt: on
_TERMINATOR = re.compile(r"[.!?؟؛…]+|\n")
_CLOSERS = "\"'”’»)]}›"


def _is_boundary(text: str, start: int, end: int) -> bool:
    mark = text[start:end]
    if mark == "\n":
        return True
    if "…" in mark or mark.count(".") >= 2 and mark.strip(".") == "":
        # Ellipsis: a pause inside a headline or quote, not a full stop,
        # unless the line ends there.
        return end >= len(text) or text[end] == "\n"
    if mark == ".":
        before = text[start - 1] if start > 0 else ""
        after = text[end] if end < len(text) else ""
        if before.isdigit() and after.isdigit():  # 3.5, 5.6.2021
            return False
        word = re.search(r"([\w.]+)$", text[:start])
        if word:
            token = word.group(1).lower()
            if token in _ABBREVIATIONS or (len(token) == 1 and token.isalpha()):
                return False
            if re.fullmatch(r"(?:[a-z]\.)+[a-z]", token):  # U.S. style initials
                return False
        if after and not after.isspace() and after not in _CLOSERS:
            return False  # example.com, 1.5bn
    return True


def sentence_spans(text: str, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """Sentence spans (absolute offsets into ``text``) within ``text[start:end]``.

    Knows . ! ? ؟ ؛ and line breaks; not fooled by decimals, dotted dates,
    abbreviations or ellipses. Closing quotes stay with their sentence.
    """
    end = len(text) if end is None else end
    spans: list[tuple[int, int]] = []
    cursor = start
    for m in _TERMINATOR.finditer(text, start, end):
        if not _is_boundary(text, m.start(), m.end()):
            continue
        stop = m.end()
        while stop < end and text[stop] in _CLOSERS:
            stop += 1
        spans.append((cursor, stop))
        cursor = stop
    spans.append((cursor, end))
    return [s for s in (_strip_span(text, a, b) for a, b in spans) if s]


def _strip_span(text: str, a: int, b: int) -> tuple[int, int] | None:
    while a < b and (text[a].isspace() or _INVISIBLE.match(text[a])):
        a += 1
    while b > a and (text[b - 1].isspace() or _INVISIBLE.match(text[b - 1])):
        b -= 1
    if a == b or not any(ch.isalnum() for ch in text[a:b]):
        return None
    return a, b


# ---------------------------------------------------------------- BM25 tokens

# fmt: off
_STOPWORDS_AR = set(
    normalize_ar(w)
    for w in [
        "في", "من", "على", "إلى", "الى", "عن", "أن", "إن", "ان", "ما", "لا", "لم", "لن", "هذا", "هذه", "ذلك",
        "تلك", "التي", "الذي", "الذين", "اللذين", "وهو", "وهي", "هو", "هي", "هم", "كان", "كانت", "يكون", "قد",
        "مع", "كل", "بعد", "قبل", "بين", "حتى", "أو", "او", "ثم", "لكن", "بل", "إذا", "اذا", "عند", "عندما",
        "حيث", "منذ", "خلال", "لدى", "ضد", "غير", "كما", "أي", "اي", "به", "بها", "له", "لها", "فيه", "فيها",
        "عليه", "عليها", "إنه", "انه", "أنه", "وقال", "قال", "وأضاف", "أضاف", "واشار", "وأشار", "وفي", "ومن",
        "وعلى", "وإلى", "والى", "وعن", "وأن", "وان",
    ]
)
# fmt: off
# fmt: on
_STOPWORDS_EN = set(
    [
        "a",
        "an",
        "the",
        "of",
        "to",
        "in",
        "on",
        "at",
        "by",
        "for",
        "from",
        "with",
        "and",
        "or",
        "but",
        "is",
        "are",
        "was",
        "were",
        "be",
        "been",
        "being",
        "do",
        "does",
        "did",
        "what",
        "when",
        "where",
        "who",
        "whom",
        "which",
        "why",
        "how",
        "that",
        "this",
        "these",
        "those",
        "it",
        "its",
        "as",
        "into",
        "about",
        "than",
        "then",
        "there",
        "their",
        "they",
        "them",
        "he",
        "she",
        "his",
        "her",
        "i",
        "you",
        "we",
        "our",
        "your",
        "has",
        "have",
        "had",
        "not",
        "no",
        "yes",
        "will",
        "would",
        "can",
        "could",
        "should",
        "may",
        "might",
    ]
)
# fmt: on
_WORD = re.compile(r"\w+")


@lru_cache(maxsize=1)
def _stemmers() -> tuple[Stemmer.Stemmer, Stemmer.Stemmer]:
    return Stemmer.Stemmer("arabic"), Stemmer.Stemmer("english")


_ARTICLE_PREFIXES = ("وال", "بال", "كال", "فال", "لل", "ال")


def _strip_diacritics(text: str) -> str:
    return _DIACRITICS.sub("", normalize_for_model(text)).replace(_TATWEEL, "").translate(_DIGITS)


def _stem_ar(token: str, stemmer: Stemmer.Stemmer) -> str:
    # Snowball's Arabic stemmer keeps the article on some words (القوات -> القو but
    # قوات -> قوا); removing article+conjunction first makes the stems agree.
    for prefix in _ARTICLE_PREFIXES:
        if token.startswith(prefix) and len(token) - len(prefix) >= 3:
            token = token[len(prefix) :]
            break
    stem = stemmer.stemWord(token)
    return (stem if len(stem) >= 2 else token).translate(_LETTER_FOLD)


def bm25_tokens(text: str) -> list[str]:
    """Normalised, stopword-free, stemmed tokens for BM25 (Arabic and English).

    The Snowball stemmer gets unfolded letters (it does its own hamza/ta-marbuta
    handling); stopwords are compared after folding.
    """
    ar_stem, en_stem = _stemmers()
    out: list[str] = []
    for tok in _WORD.findall(_strip_diacritics(text).lower()):
        tok = tok.strip("_")
        folded = tok.translate(_LETTER_FOLD)
        if not tok or folded in _STOPWORDS_AR or tok in _STOPWORDS_EN:
            continue
        if ARABIC_LETTER.search(tok):
            out.append(_stem_ar(tok, ar_stem))
        elif LATIN_LETTER.search(tok):
            out.append(en_stem.stemWord(tok))
        else:
            out.append(tok)
    return out
