"""Person names found in the corpus itself (a title, then a name), kept beside the lexicon with the
English spelling each got."""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

from rag.data import DATA_DIR
from rag.text.arabic import normalize_ar
from rag.text.lexicon import Lexicon, stem_ar

# Construct-state nouns a title may govern before the name: «قائد فيلق القدس», «المتحدث باسم قيادة العمليات».
# fmt: off
_GOVERNED = {
    "فيلق", "قياده", "مجلس", "هيئه", "وزاره", "جهاز", "حزب", "حركه", "لجنه", "قوات", "جيش", "كتائب", "باسم",
    "عام", "اركان", "شؤون", "دوله", "حكومه", "اقليم", "منظمه", "بعثه", "تحالف", "قسم", "مكتب", "كتله", "فريق",
    "وفد",
}
# fmt: on


# Words that end a name: particles, prepositions and verbs of saying that follow a title.
# fmt: off
_NOT_NAME = {
    "في", "الى", "علي", "من", "عن", "ان", "انه", "قد", "لقد", "قال", "يقول", "اكد", "يؤكد", "اعلن", "يعلن",
    "اشار", "يشير", "اوضح", "يوضح", "لم", "لن", "لا", "ما", "مع", "بعد", "قبل", "خلال", "حول", "عبر", "او",
    "ثم", "بين", "لدي", "الذي", "التي", "هو", "هي", "كان", "كانت", "يوم", "امس", "اليوم", "بحسب", "وفق",
    "وفقا", "حيث", "كما", "لكن", "بان", "بانه", "زار", "يزور", "التقي", "دعا", "يدعو", "شدد", "يشدد", "نفي",
    "ينفي", "ذكر", "تابع", "اضاف", "يضيف", "بدوره", "نفسه", "السابق",
}
# fmt: on


_NOT_ORG = {"باسم", "عام", "اركان", "شؤون"}


_TITLE_WORD = re.compile(r"^[\u0621-\u064a]+$")


@lru_cache(maxsize=1)
def _title_stems() -> set[str]:
    """First words of the roles in ``titles.tsv`` («رئيس», «وزير», «لواء», «متحدث»), as stems."""
    out = set()
    for line in (DATA_DIR / "titles.tsv").read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            out |= {stem_ar(a.split()[0]) for a in line.split("\t")[1].split("|")}
    return out


def harvest_people(text: str) -> list[str]:
    """People an Arabic text names after a title or role: «اللواء يحيى رسول», «وزير الخارجية العراقي
    فؤاد حسين», «رئيس الوزراء مصطفى الكاظمي». One or two words after the title and the words it governs;
    a single word only when it cannot be a verb (no imperfect prefix)."""
    words = re.findall(r"[\u0621-\u064a\u064b-\u0652\u0640]+|[^\s\u0621-\u064a]+", text)
    plain = [normalize_ar(w) for w in words]
    titles, found = _title_stems(), []
    for i, w in enumerate(plain):
        if (
            not _TITLE_WORD.match(w)
            or stem_ar(w) not in titles
            or (len(w) > 5 and w.endswith(("ين", "ون", "ات")))
        ):
            continue  # a plural («المستشارين») is not one person
        j = i + 1
        while (
            j < len(plain)
            and _TITLE_WORD.match(plain[j])
            and (plain[j].startswith(("ال", "لل", "بال")) or plain[j] in _GOVERNED)
        ):
            j += 1
        if any(w in _GOVERNED and w not in _NOT_ORG for w in plain[i + 1 : j]) and not plain[
            j - 1
        ].startswith("ال"):
            continue  # «باسم حركة عصائب أهل الحق»: an organisation's own name may follow; where it ends is unknown
        name = []
        compound = j < len(plain) and plain[j] in ("عبد", "ابو", "ابن")  # «عبد الأمير الشمري»: three words
        for k in (j, j + 1, j + 2)[: 3 if compound else 2]:
            if (
                k >= len(plain)
                or not _TITLE_WORD.match(plain[k])
                or plain[k] in _NOT_NAME
                or stem_ar(plain[k]) in titles
                or (k == j and plain[k].startswith("ال"))
                or len(plain[k]) < 2
                or (k == j + 2 and not plain[k].startswith("ال"))
            ):
                break
            name.append(words[k])
        if len(name) == 1 and (plain[j][0] in "يتناولبف" or len(plain[j]) < 4):
            continue  # one word that may be a verb («يعلن») or carry a clitic («ولفت»)
        if len(name) == 2 and plain[j][0] in "ولبف" and not plain[j + 1].startswith("ال"):
            continue  # «لعقد محادثات»: a preposition, not a name, unless a family name follows
        if name and " ".join(name) not in found:
            found.append(" ".join(name))
    return found


def update_harvest(path: Path, texts: list[str], lexicon: Lexicon) -> int:
    """Add the people ``texts`` name that no list knows to the index's harvested names (English left
    empty for a transliteration to fill); returns how many were new. Call under the index's writer lock."""
    rows = read_harvest(path)
    known = {r["arabic"] for r in rows}
    new = [
        name
        for name in dict.fromkeys(n for text in texts for n in harvest_people(text))
        if name not in known and not lexicon.spans_arabic(name)
    ]
    if new:
        write_harvest(path, rows + [{"kind": "person", "english": "", "arabic": n, "how": ""} for n in new])
    return len(new)


def record_spellings(path: Path, spelled: dict[str, tuple[str, str]]) -> None:
    """Store transliterations (Arabic → (English or "", how)) into the harvested names, re-read first so
    names another ingest added meanwhile are kept. Call under the index's writer lock."""
    rows = read_harvest(path)
    for row in rows:
        if row["arabic"] in spelled and not (row["english"] or row["how"]):
            row["english"], row["how"] = spelled[row["arabic"]]
    write_harvest(path, rows)


def read_harvest(path: Path) -> list[dict]:
    if not path.exists():
        return []
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            kind, en, ar, how = (line.split("\t") + ["", "", ""])[:4]
            rows.append({"kind": kind, "english": en, "arabic": ar, "how": how})
    return rows


def write_harvest(path: Path, rows: list[dict]) -> None:
    head = "# kind\tenglish (empty until transliterated)\tarabic\thow: people named after a title in this corpus\n"
    body = "".join(f"{r['kind']}\t{r['english']}\t{r['arabic']}\t{r['how']}\n" for r in rows)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(head + body, encoding="utf-8")
    tmp.replace(path)
