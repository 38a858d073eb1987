"""Bilingual names: which places, nationalities, organisations and people a text names, in either script.

The lexicon is data (``rag/data/names.*.tsv``: CLDR country and language names, plus a
hand-kept list of actors; users add a file with ``ISNAD_NAMES_FILE``). A name that is in
no list can still be matched across scripts by its consonant skeleton: "Kadhimi" and
«الكاظمي» both reduce to ``kdm``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from rag.text_ar import fold_same_length, normalize_ar

DATA = Path(__file__).resolve().parent / "data"
_AR_WORD = re.compile(r"[\u0621-\u064a]+")
_AR_TOKEN = re.compile(r"[\u0621-\u064a\u064b-\u0652\u0640]+")  # with diacritics and tatweel: spans cover them
_PROCLITICS = ("وب", "ول", "وال", "فال", "بال", "كال", "لل", "ال", "و", "ف", "ب", "ل", "ك")
_SUFFIXES = ("يون", "يين", "يات", "يه", "يا", "ين", "ي", "ه", "ا")  # nationality and feminine endings


@dataclass(frozen=True)
class Name:
    kind: str  # place, nationality, org, person
    english: tuple[str, ...]  # first is the display form
    arabic: tuple[str, ...]
    how: str = ""  # "transliteration": proposed by a model for a name found in the corpus, skeleton-checked

    @property
    def label(self) -> str:
        return self.english[0]


def stem_ar(word: str) -> str:
    """A name word without article, clitic prepositions or nationality endings: «للعراقيين» → «عراق»."""
    w = normalize_ar(word)
    for p in _PROCLITICS:
        if w.startswith(p) and len(w) - len(p) >= 3:
            w = w[len(p):]
            break
    for s in _SUFFIXES:
        if w.endswith(s) and len(w) - len(s) >= 3:
            return w[: -len(s)]
    return w


def _stems(text: str) -> list[str]:
    return [stem_ar(w) for w in _AR_WORD.findall(normalize_ar(text))]


class Lexicon:
    """Name lookup in both directions; built once from the data files."""

    def __init__(self, names: list[Name]):
        self.names = names
        self._ar = [(nm, [_stems(a) for a in nm.arabic]) for nm in names]
        self._en = [(nm, [_english_pattern(e) for e in nm.english]) for nm in names]
        self._stemset = {nm: {tuple(f) for f in forms if f} for nm, forms in self._ar}
        self._by_first: dict[str, list[tuple[Name, list[str], str]]] = {}
        for nm, forms in self._ar:
            for raw, form in zip(nm.arabic, forms):
                if form:
                    self._by_first.setdefault(form[0], []).append((nm, form, raw))

    @classmethod
    def from_files(cls, paths: list[Path]) -> "Lexicon":
        names = []
        for path in paths:
            for line in Path(path).read_text(encoding="utf-8").splitlines():
                if not line.strip() or line.startswith("#"):
                    continue
                kind, en, ar, how = (line.split("\t") + ["", "", ""])[:4]
                if en.strip() and ar.strip():
                    names.append(Name(kind.strip(), tuple(x.strip() for x in en.split("|")),
                                      tuple(x.strip() for x in ar.split("|")), how.strip()))
        return cls(names)

    def in_arabic(self, text: str) -> list[Name]:
        """Names whose Arabic form occurs in ``text`` (whole words, clitics allowed)."""
        return list(dict.fromkeys(nm for span in self.spans_arabic(text) for nm in span.names))

    def in_english(self, text: str) -> list[Name]:
        """Names written in ``text`` as in the lexicon: "Iraq" also matches "Iraqi" and "Iraqis"."""
        return [nm for nm, patterns in self._en if any(p.search(text) for p in patterns)]

    def related(self, a: Name, b: Name) -> bool:
        """Same thing in two entries: Iraq and Iraqi, the US and Washington share an Arabic form."""
        return a == b or bool(self._stemset[a] & self._stemset[b])

    def unmatched(self, text: str, other: str) -> list[Name]:
        """Names ``text`` gives that ``other`` (in either script) does not: what a claim or
        translation invented, or what it dropped when the arguments are swapped."""
        theirs, out = self.in_text(other), []
        for n in self.in_text(text):
            if not any(self.related(n, m) for m in theirs + out):  # Iraq and Iraqi are one miss, not two
                out.append(n)
        return out

    def in_text(self, text: str) -> list[Name]:
        found = self.in_arabic(text) + self.in_english(text)
        return list(dict.fromkeys(found))

    def spans_arabic(self, text: str) -> list[NameSpan]:
        """Where ``text`` writes a known name: longest match first, no overlaps, offsets into ``text``.

        A leading conjunction or preposition («و», «ب», «ل») stays outside the span, so a
        translation keeps "and"/"in" while the name itself is rendered from the lexicon.
        """
        folded = fold_same_length(text)
        tokens = [(m.start(), m.end(), _name_stem(m.group(), self._by_first)) for m in _AR_TOKEN.finditer(folded)]
        stems = [t[2] for t in tokens]
        out, i = [], 0
        while i < len(tokens):
            best: tuple[int, list[Name], str] | None = None
            for nm, form, raw in self._by_first.get(stems[i], ()):
                n = len(form)
                if n == 1 and len(form[0]) <= 3 and not _ends_with_form(folded[tokens[i][0]:tokens[i][1]], raw):
                    continue  # a short stem matches by accident («ايوا» is not «الإيوي»): want the written form
                if stems[i:i + n] == form and (best is None or n > best[0]):
                    best = (n, [nm], raw)
                elif best and n == best[0] and stems[i:i + n] == form and nm not in best[1]:
                    best[1].append(nm)
            if best is None:
                i += 1
                continue
            n, names, raw = best
            start = tokens[i][0] + _proclitic_length(folded[tokens[i][0]:tokens[i][1]], raw)
            out.append(NameSpan(start, tokens[i + n - 1][1], text[start:tokens[i + n - 1][1]], names))
            i += n
        return out

    def english_for(self, arabic_phrase: str) -> str | None:
        """The English label of the name an Arabic phrase is (None when it is none known)."""
        stems = _stems(arabic_phrase)
        for nm, forms in self._ar:
            if any(f == stems for f in forms):
                return nm.label
        return None


@dataclass
class NameSpan:
    start: int
    end: int
    text: str
    names: list[Name]  # every lexicon entry written this way («العراق»: the place and the nationality)

    @property
    def adjectival(self) -> bool:
        """«العراقية», «الأمريكيين»: the nationality adjective rather than the place."""
        return bool(re.search(r"(?:ي|يه|يين|يون|يات)$", normalize_ar(self.text.split()[-1])))

    def english(self) -> str:
        """The English to show for this span: the nationality for an adjective, else the place or actor;
        among equals the most specific entry (fewest Arabic forms: «واشنطن» is Washington before it is the US)."""
        adj = self.adjectival
        nm = min(self.names, key=lambda n: ((n.kind == "nationality") != adj, len(n.arabic)))
        if adj and nm.kind not in ("nationality", "person"):
            return next((e for e in nm.english if re.search(r"(?:an|i|ish|ese)$", e)), nm.label)
        if nm.kind == "person":  # «أوستن» after «لويد» is "Austin", not "Lloyd Austin" again
            words = len(self.text.split())
            return next((e for e in nm.english if len(e.split()) == words), nm.label)
        return nm.label


def _name_stem(token: str, known: dict) -> str:
    """The token's stem, or the stem after a conjunction when only that is a name: «وواشنطن» is
    «و» + «واشنطن», whose own «و» the stemmer would otherwise take as the conjunction."""
    stem = stem_ar(token)
    if stem not in known and token[:1] in "وف" and stem_ar(token[1:]) in known:
        return stem_ar(token[1:])
    return stem


def _ends_with_form(token: str, form: str) -> bool:
    core = fold_same_length(form)
    return token.endswith(core) or (core.startswith("ال") and token.endswith(core[2:]))


def _proclitic_length(token: str, form: str) -> int:
    """Letters of a conjunction or preposition before the name in ``token`` (folded): «والعراق» → 1."""
    first = fold_same_length(form.split()[0])
    for core in (first, first[2:] if first.startswith("ال") else None, stem_ar(first)):
        k = token.find(core) if core else -1
        if k > 0:
            prefix = token[:k]
            return k - 2 if prefix.endswith("ال") else (k - 1 if prefix.endswith("لل") else k)
        if k == 0:
            return 0
    return 0


def _english_pattern(form: str) -> re.Pattern:
    """Case-sensitive: acronyms ("US") whole, other names ("Iraq") with up to 3 more letters ("Iraqis")."""
    if form.upper() == form:
        return re.compile(rf"(?<![\w.]){re.escape(form)}(?![\w])")
    return re.compile(rf"\b{re.escape(form)}\w{{0,3}}\b")


@lru_cache(maxsize=8)
def load_lexicon(extra: str | Path | None = None, corpus: Path | None = None, version: int = 0) -> Lexicon:
    """The shipped name lists, the user's file (``ISNAD_NAMES_FILE``) and the names found in the corpus,
    built once per (files, version of the corpus file)."""
    files = sorted(DATA.glob("names.*.tsv"))
    files += [Path(f) for f in (extra, corpus) if f]
    return Lexicon.from_files(files)


def lexicon_for(settings) -> Lexicon:
    """The lexicon an index's readers use: shipped lists, the user's file, and the index's harvested names."""
    corpus = Path(settings.index_dir) / HARVESTED
    version = corpus.stat().st_mtime_ns if corpus.exists() else 0
    return load_lexicon(settings.names_file, corpus if version else None, version)


# ------------------------------------------------------------ names found in the corpus

HARVESTED = "names.harvested.tsv"  # in the index folder: kind, English (empty until transliterated), Arabic, how
# Construct-state nouns a title may govern before the name: «قائد فيلق القدس», «المتحدث باسم قيادة العمليات».
_GOVERNED = {"فيلق", "قياده", "مجلس", "هيئه", "وزاره", "جهاز", "حزب", "حركه", "لجنه", "قوات", "جيش", "كتائب",
             "باسم", "عام", "اركان", "شؤون", "دوله", "حكومه", "اقليم", "منظمه", "بعثه", "تحالف", "قسم", "مكتب",
             "كتله", "فريق", "وفد"}
# Words that end a name: particles, prepositions and verbs of saying that follow a title.
_NOT_NAME = {"في", "الى", "علي", "من", "عن", "ان", "انه", "قد", "لقد", "قال", "يقول", "اكد", "يؤكد", "اعلن",
             "يعلن", "اشار", "يشير", "اوضح", "يوضح", "لم", "لن", "لا", "ما", "مع", "بعد", "قبل", "خلال", "حول",
             "عبر", "او", "ثم", "بين", "لدي", "الذي", "التي", "هو", "هي", "كان", "كانت", "يوم", "امس", "اليوم",
             "بحسب", "وفق", "وفقا", "حيث", "كما", "لكن", "بان", "بانه", "زار", "يزور", "التقي", "دعا",
             "يدعو", "شدد", "يشدد", "نفي", "ينفي", "ذكر", "تابع", "اضاف", "يضيف", "بدوره", "نفسه", "السابق"}
_NOT_ORG = {"باسم", "عام", "اركان", "شؤون"}
_TITLE_WORD = re.compile(r"^[\u0621-\u064a]+$")


@lru_cache(maxsize=1)
def _title_stems() -> set[str]:
    """First words of the roles in ``titles.tsv`` («رئيس», «وزير», «لواء», «متحدث»), as stems."""
    out = set()
    for line in (DATA / "titles.tsv").read_text(encoding="utf-8").splitlines():
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
        if not _TITLE_WORD.match(w) or stem_ar(w) not in titles or (len(w) > 5 and w.endswith(("ين", "ون", "ات"))):
            continue  # a plural («المستشارين») is not one person
        j = i + 1
        while j < len(plain) and _TITLE_WORD.match(plain[j]) and (plain[j].startswith(("ال", "لل", "بال"))
                                                                  or plain[j] in _GOVERNED):
            j += 1
        if any(w in _GOVERNED and w not in _NOT_ORG for w in plain[i + 1:j]) and not plain[j - 1].startswith("ال"):
            continue  # «باسم حركة عصائب أهل الحق»: an organisation's own name may follow; where it ends is unknown
        name = []
        compound = j < len(plain) and plain[j] in ("عبد", "ابو", "ابن")  # «عبد الأمير الشمري»: three words
        for k in (j, j + 1, j + 2)[:3 if compound else 2]:
            if k >= len(plain) or not _TITLE_WORD.match(plain[k]) or plain[k] in _NOT_NAME \
                    or stem_ar(plain[k]) in titles or (k == j and plain[k].startswith("ال")) or len(plain[k]) < 2 \
                    or (k == j + 2 and not plain[k].startswith("ال")):
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
    new = [name for name in dict.fromkeys(n for text in texts for n in harvest_people(text))
           if name not in known and not lexicon.spans_arabic(name)]
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


def transliteration_fits(arabic: str, latin: str) -> bool:
    """A proposed transliteration is accepted only when, word by word, its consonant skeleton is the
    Arabic's: "Yahya Rasool" fits «يحيى رسول», "Yahya Rasoul Khan" and "General Rasool" do not."""
    ar = [skeleton_ar(w) for w in _AR_WORD.findall(normalize_ar(arabic))]
    la = [skeleton_latin(w) for w in re.split(r"\s+", latin.strip()) if w]
    return bool(la) and len(ar) == len(la) and all(a == b and a for a, b in zip(ar, la)) \
        and bool(re.fullmatch(r"[A-Z][A-Za-z'’-]*(?: (?:al-|el-)?[A-Z][A-Za-z'’-]*)*", latin.strip()))


# ------------------------------------------------------------ consonant skeletons

_AR_CLASS = str.maketrans({
    "ب": "b", "ت": "t", "ث": "t", "ط": "t", "ج": "g", "غ": "g", "ح": "h", "ه": "h", "خ": "k", "ك": "k", "ق": "k",
    "د": "d", "ذ": "d", "ض": "d", "ظ": "d", "ز": "d", "ر": "r", "س": "s", "ش": "s", "ص": "s", "ف": "f",
    "ل": "l", "م": "m", "ن": "n",
    "ا": None, "و": None, "ي": None, "ء": None, "ئ": None, "ؤ": None, "ع": None,
})
_LATIN_DIGRAPHS = (("sh", "s"), ("th", "t"), ("kh", "k"), ("dh", "d"), ("gh", "g"), ("ph", "f"), ("ck", "k"),
                   ("ch", "s"), ("ou", "w"))
_LATIN_CLASS = str.maketrans({"b": "b", "p": "b", "t": "t", "j": "g", "g": "g", "h": "h", "k": "k", "q": "k",
                              "c": "k", "d": "d", "z": "d", "r": "r", "s": "s", "f": "f", "v": "f", "l": "l",
                              "m": "m", "n": "n", "x": "ks"})


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


# ------------------------------------------------------------ rule-based romanisation

_ROMAN = {"ب": "b", "ت": "t", "ث": "th", "ج": "j", "ح": "h", "خ": "kh", "د": "d", "ذ": "dh", "ر": "r", "ز": "z",
          "س": "s", "ش": "sh", "ص": "s", "ض": "d", "ط": "t", "ظ": "z", "ع": "", "غ": "gh", "ف": "f", "ق": "q",
          "ك": "k", "ل": "l", "م": "m", "ن": "n", "ه": "h", "ء": "", "ئ": "", "ؤ": "", "ة": "a", "ى": "a"}


def romanize(arabic: str) -> str:
    """A plain Latin spelling of an Arabic name, letter by letter (long vowels only: Arabic writes no short
    ones): «سابرينا سينغ» → "Sabrina Singh". Its consonant skeleton is the Arabic's by construction, so it
    passes `transliteration_fits`; it is a reading aid, always shown marked as a transliteration."""
    words = []
    plain = re.sub(r"[\u064b-\u0652\u0640]", "", arabic)  # short vowels and tatweel; ى and ة kept, unlike normalize_ar
    for word in re.findall(r"[\u0621-\u064a]+", plain):
        article = re.match(r"^ال(?=\S{3})", word)
        body, out = word[article.end():] if article else word, []
        for i, ch in enumerate(body):
            nxt, prev, last = body[i + 1:i + 2], body[i - 1:i] if i else "", i == len(body) - 1
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
