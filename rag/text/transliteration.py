"""Arabic names and their Latin spellings: whether a spelling fits a name, and a plain romanisation
for unknown names."""

from __future__ import annotations

import re

from rag.text.arabic import normalize_ar
from rag.text.lexicon import _AR_WORD


def transliteration_fits(arabic: str, latin: str) -> bool:
    """A proposed transliteration is accepted only when, word by word, its consonant skeleton is the
    Arabic's: "Yahya Rasool" fits «يحيى رسول», "Yahya Rasoul Khan" and "General Rasool" do not."""
    ar = [skeleton_ar(w) for w in _AR_WORD.findall(normalize_ar(arabic))]
    la = [skeleton_latin(w) for w in re.split(r"\s+", latin.strip()) if w]
    return (
        bool(la)
        and len(ar) == len(la)
        and all(a == b and a for a, b in zip(ar, la))
        and bool(re.fullmatch(r"[A-Z][A-Za-z'’-]*(?: (?:al-|el-)?[A-Z][A-Za-z'’-]*)*", latin.strip()))
    )


_AR_CLASS = str.maketrans(
    {
        "ب": "b",
        "ت": "t",
        "ث": "t",
        "ط": "t",
        "ج": "g",
        "غ": "g",
        "ح": "h",
        "ه": "h",
        "خ": "k",
        "ك": "k",
        "ق": "k",
        "د": "d",
        "ذ": "d",
        "ض": "d",
        "ظ": "d",
        "ز": "d",
        "ر": "r",
        "س": "s",
        "ش": "s",
        "ص": "s",
        "ف": "f",
        "ل": "l",
        "م": "m",
        "ن": "n",
        "ا": None,
        "و": None,
        "ي": None,
        "ء": None,
        "ئ": None,
        "ؤ": None,
        "ع": None,
    }
)


_LATIN_DIGRAPHS = (
    ("sh", "s"),
    ("th", "t"),
    ("kh", "k"),
    ("dh", "d"),
    ("gh", "g"),
    ("ph", "f"),
    ("ck", "k"),
    ("ch", "s"),
    ("ou", "w"),
)


_LATIN_CLASS = str.maketrans(
    {
        "b": "b",
        "p": "b",
        "t": "t",
        "j": "g",
        "g": "g",
        "h": "h",
        "k": "k",
        "q": "k",
        "c": "k",
        "d": "d",
        "z": "d",
        "r": "r",
        "s": "s",
        "f": "f",
        "v": "f",
        "l": "l",
        "m": "m",
        "n": "n",
        "x": "ks",
    }
)


def skeleton_ar(word: str) -> str:
    """Consonant classes of an Arabic name without its article: «الكاظمي» → 'kdm'."""
    w = normalize_ar(word)
    w = re.sub(r"^(?:و|ف|ب|ل|ك)?(?:ال|لل)", "", w) if len(w) > 4 else w
    w = re.sub(r"ه$", "", w)  # ta marbuta
    return re.sub(r"(.)\1+", r"\1", w.translate(_AR_CLASS))


def skeleton_latin(word: str) -> str:
    """Consonant classes of a transliterated name: "al-Kadhimi" → 'kdm'."""
    w = re.sub(r"^(?:al|el|ad|an|ar|as|ash|at|az)[-‐ ]", "", word.lower())
    for a, b in _LATIN_DIGRAPHS:
        w = w.replace(a, b)
    w = re.sub(r"h$", "", w)
    w = "".join(ch for ch in w if ch in "bptjghkqcdzrsfvlmnx").translate(_LATIN_CLASS)
    return re.sub(r"(.)\1+", r"\1", w)


def latin_name_in_arabic(name: str, arabic_text: str) -> bool:
    """Does an Arabic text write this Latin-script name (every word, by consonant skeleton)?"""
    words = [skeleton_ar(w) for w in _AR_WORD.findall(normalize_ar(arabic_text))]
    wanted = [skeleton_latin(p) for p in re.split(r"\s+", name.strip()) if p]
    wanted = [w for w in wanted if len(w) >= 2]
    return bool(wanted) and all(w in words for w in wanted)


_ROMAN = {
    "ب": "b",
    "ت": "t",
    "ث": "th",
    "ج": "j",
    "ح": "h",
    "خ": "kh",
    "د": "d",
    "ذ": "dh",
    "ر": "r",
    "ز": "z",
    "س": "s",
    "ش": "sh",
    "ص": "s",
    "ض": "d",
    "ط": "t",
    "ظ": "z",
    "ع": "",
    "غ": "gh",
    "ف": "f",
    "ق": "q",
    "ك": "k",
    "ل": "l",
    "م": "m",
    "ن": "n",
    "ه": "h",
    "ء": "",
    "ئ": "",
    "ؤ": "",
    "ة": "a",
    "ى": "a",
}


def romanize(arabic: str) -> str:
    """A plain Latin spelling of an Arabic name, letter by letter (long vowels only: Arabic writes no short
    ones): «سابرينا سينغ» → "Sabrina Singh". Its consonant skeleton is the Arabic's by construction, so it
    passes `transliteration_fits`; it is a reading aid, always shown marked as a transliteration."""
    words = []
    # short vowels and tatweel; ى and ة kept, unlike normalize_ar
    plain = re.sub(r"[\u064b-\u0652\u0640]", "", arabic)
    for word in re.findall(r"[\u0621-\u064a]+", plain):
        article = re.match(r"^ال(?=\S{3})", word)
        body, out = word[article.end() :] if article else word, []
        for i, ch in enumerate(body):
            nxt, prev, last = body[i + 1 : i + 2], body[i - 1 : i] if i else "", i == len(body) - 1
            if ch in "اآأإى":
                out.append("a")
            elif ch in "وي":
                consonant = i == 0 or nxt in ("ا", "ى", "ة") or (prev == "ا" and not last)
                out.append({"و": "w", "ي": "y"}[ch] if consonant else {"و": "u", "ي": "i"}[ch])
            else:
                out.append(_ROMAN.get(ch, ""))
        spelled = "".join(out)
        if spelled:
            words.append(("al-" if article else "") + spelled[0].upper() + spelled[1:])
    return " ".join(words)
