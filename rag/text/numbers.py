"""Quantities in Arabic and English news text: digits or number words, a qualifier, a counted noun.

«نحو 3000 جندي», «حوالي خمسين هجوما», "about 2,500 troops": each is found with its exact span
(so an answer can be highlighted inside its quote), its value, and its unit, and can be
rendered deterministically in either language ("about 3,000 soldiers"), so a number never
passes through a language model.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from rag.data import DATA_DIR
from rag.text.arabic import fold_same_length, normalize_ar

DATA = DATA_DIR

_AR_UNITS = {
    "واحد": 1,
    "واحده": 1,
    "اثنان": 2,
    "اثنين": 2,
    "اثنتان": 2,
    "اثنتين": 2,
    "ثلاث": 3,
    "ثلاثه": 3,
    "اربع": 4,
    "اربعه": 4,
    "خمس": 5,
    "خمسه": 5,
    "ست": 6,
    "سته": 6,
    "سبع": 7,
    "سبعه": 7,
    "ثماني": 8,
    "ثمانيه": 8,
    "ثمان": 8,
    "تسع": 9,
    "تسعه": 9,
    "عشر": 10,
    "عشره": 10,
}
_AR_TENS = {
    "عشرون": 20,
    "عشرين": 20,
    "ثلاثون": 30,
    "ثلاثين": 30,
    "اربعون": 40,
    "اربعين": 40,
    "خمسون": 50,
    "خمسين": 50,
    "ستون": 60,
    "ستين": 60,
    "سبعون": 70,
    "سبعين": 70,
    "ثمانون": 80,
    "ثمانين": 80,
    "تسعون": 90,
    "تسعين": 90,
    "مئه": 100,
    "مائه": 100,
    "مئات": 100,
}
# fmt: off
_EN_WORDS = {
    w: i
    for i, w in enumerate(
        [
            "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven",
            "twelve",
        ]
    )
}
# fmt: on
_EN_WORDS.update(
    {
        "twenty": 20,
        "thirty": 30,
        "forty": 40,
        "fifty": 50,
        "sixty": 60,
        "seventy": 70,
        "eighty": 80,
        "ninety": 90,
        "hundred": 100,
        "dozen": 12,
        "dozens": 24,
        "hundreds": 200,
        "thousands": 2000,
    }
)
_SCALES = {
    "الف": 1e3,
    "الاف": 1e3,
    "مليون": 1e6,
    "ملايين": 1e6,
    "مليار": 1e9,
    "مليارات": 1e9,
    "thousand": 1e3,
    "million": 1e6,
    "billion": 1e9,
}
_QUALIFIERS = {
    "نحو": "about",
    "حوالي": "about",
    "قرابه": "nearly",
    "زهاء": "some",
    "ما يقارب": "nearly",
    "اكثر من": "more than",
    "اقل من": "fewer than",
    "ما لا يقل عن": "at least",
    "about": "about",
    "around": "about",
    "nearly": "nearly",
    "some": "some",
    "approximately": "about",
    "more than": "more than",
    "over": "more than",
    "fewer than": "fewer than",
    "less than": "less than",
    "at least": "at least",
    "up to": "up to",
    "almost": "almost",
}


def _alt(words, after_waw: bool = False) -> str:
    """Alternation of whole words; with ``after_waw`` a word may also follow the conjunction «و» written
    onto it («وخمس مناطق»: the «و» stays out of the match)."""
    body = "|".join(sorted((re.escape(w) for w in words), key=len, reverse=True))
    before = r"(?<![^\Wو])" if after_waw else r"(?<!\w)"
    return rf"{before}(?:{body})(?!\w)"


# Thousands separated by , ٬ or an unspaced Arabic comma («11،787»), which Arabic text also uses.
_DIGITS = r"(?<![\d.,٫٬])\d{1,3}(?:[,٬،]\d{3})+(?:[.٫]\d+)?(?![\d])|(?<![\d.,٫٬])\d+(?:[.٫]\d+)?(?![\d])"
_TENS_BODY = "|".join(sorted(_AR_TENS, key=len, reverse=True))
_WORD_NUMBER = (
    rf"{_alt(_AR_UNITS, True)}\s+عشر[هة]?(?!\w)|{_alt(_AR_UNITS, True)}\s+و(?:{_TENS_BODY})(?!\w)"
    rf"|{_alt({**_AR_UNITS, **_AR_TENS}, True)}|{_alt(_EN_WORDS)}"
)
_NUMBER = re.compile(
    rf"(?:(?P<qual>{_alt(_QUALIFIERS)})\s+)?(?P<num>{_DIGITS}|{_WORD_NUMBER})"
    rf"(?:\s+(?P<scale>{_alt(_SCALES)}))?"
    rf"(?:\s?(?P<pct>[%٪])|\s+(?:من\s+)?(?P<unit>[\u0621-\u064a]+|(?!(?:and|or|of|the|in|on|to)\b)[a-z][a-z-]+))?"
)


@dataclass(frozen=True)
class Quantity:
    start: int  # span of the whole mention (qualifier, number, scale, unit) in the searched text
    end: int
    text: str
    value: float
    qualifier: str | None  # English qualifier: "about", "more than"
    unit: str | None  # the counted noun as written
    num_start: int  # span of the number alone
    num_end: int


def _value(num: str) -> float | None:
    num = num.strip()
    if num[0].isdigit():
        return float(re.sub(r"[,٬،]", "", num).replace("٫", "."))
    teen = re.fullmatch(r"(\S+)\s+عشر[هة]?", num)  # «تسعة عشر», «ثماني عشرة»
    if teen:
        unit = _AR_UNITS.get(teen.group(1))
        return None if unit is None else unit + 10.0
    parts = [p.strip() for p in re.split(r"\s+و", num)]
    total = 0.0
    for p in parts:
        v = _AR_UNITS.get(p, _AR_TENS.get(p, _EN_WORDS.get(p)))
        if v is None:
            return None
        total += v
    return total


_ORDINAL_BEFORE = re.compile(
    r"(?<!\w)(?:الحادي|الثاني|الثالث|الرابع|الخامس|السادس|السابع|الثامن|التاسع|حادي|ثاني|ثالث|رابع|خامس|سادس|سابع|ثامن|تاسع)\s+$"
)


def find_quantities(text: str) -> list[Quantity]:
    """Every number in ``text`` with its qualifier and counted noun; years and dates are included
    (callers drop the spans that dates cover)."""
    folded = fold_same_length(text)
    out = []
    for m in _NUMBER.finditer(folded):
        value = _value(m.group("num"))
        if value is None:
            continue
        if m.group("scale"):
            value *= _SCALES[m.group("scale")]
        unit = m.group("unit")
        end = m.end()
        qual = _QUALIFIERS.get(m.group("qual")) if m.group("qual") else None
        if m.group("pct"):  # «75%»: a share; its sign is its unit
            out.append(
                Quantity(
                    m.start(), end, text[m.start() : end], value, qual, "%", m.start("num"), m.end("num")
                )
            )
            continue
        # "2,500 US troops": a name, not the noun
        if unit and unit.isascii() and not text[m.start("unit")].islower():
            end, unit = m.start("unit") - 1, None
        if unit and (
            unit in _QUALIFIERS or unit in ("و", "في", "من", "على", "الى", "عن") or unit.startswith("وال")
        ):
            end, unit = m.start("unit") - 1, None  # «… والحالي» starts the next noun, not the counted one
        if not m.group("num")[0].isdigit() and _ORDINAL_BEFORE.search(
            folded, max(0, m.start("num") - 40), m.start("num")
        ):
            continue  # «الثاني عشر» is the twelfth, not ten of something (only the words just before are read)
        start = m.start()
        out.append(
            Quantity(
                start,
                end,
                text[start:end].rstrip(" ،,"),
                value,
                qual,
                text[m.start("unit") : m.end("unit")] if unit else None,
                m.start("num"),
                m.end("num"),
            )
        )
    return out


@lru_cache(maxsize=1)
def _units() -> dict[str, tuple[str, str]]:
    table = {}
    for line in (DATA / "units.tsv").read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            stems, singular, plural = line.split("\t")
            for s in stems.split("|"):
                table[s] = (singular, plural)
    return table


def unit_english(unit: str | None, value: float = 2) -> str | None:
    """English for an Arabic counted noun («هجوما» → "attacks"); English nouns come back as written."""
    if not unit:
        return None
    if re.fullmatch(r"[a-zA-Z-]+", unit):
        return unit
    w = normalize_ar(unit)
    w = re.sub(r"^(?:ال|لل|بال)", "", w)
    for cand in (w, re.sub(r"ا$", "", w), re.sub(r"(?:ين|ون|ات)$", "", w)):
        if cand in _units():
            singular, plural = _units()[cand]
            return singular if value == 1 else plural
    return None


def format_number(value: float) -> str:
    """2500 → '2,500'; 3e6 → '3 million'; 2.5 → '2.5'."""
    for scale, word in ((1e9, "billion"), (1e6, "million")):
        if value >= scale and (value / scale) == round(value / scale, 1):
            v = value / scale
            return f"{v:g} {word}"
    return f"{value:,.0f}" if value == int(value) else f"{value:,}"


def render_quantity(q: Quantity, lang: str) -> str:
    """The quantity in ``lang``: English is rendered ("about 3,000 soldiers"); Arabic keeps the words as written."""
    if lang == "ar":
        return q.text
    if q.unit == "%":
        return " ".join(x for x in (q.qualifier, f"{format_number(q.value)}%") if x)
    unit = unit_english(q.unit, q.value)
    number = format_number(q.value)
    if unit in ("million", "billion") and unit in number:
        unit = None
    return " ".join(x for x in (q.qualifier, number, unit) if x)
