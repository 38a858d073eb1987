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

from rag.data import DATA_DIR
from rag.text.arabic import fold_same_length, normalize_ar

DATA = DATA_DIR
_AR_WORD = re.compile(r"[\u0621-\u064a]+")
# with diacritics and tatweel: spans cover them
_AR_TOKEN = re.compile(r"[\u0621-\u064a\u064b-\u0652\u0640]+")
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
            w = w[len(p) :]
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
    def from_files(cls, paths: list[Path]) -> Lexicon:
        names = []
        for path in paths:
            for line in Path(path).read_text(encoding="utf-8").splitlines():
                if not line.strip() or line.startswith("#"):
                    continue
                kind, en, ar, how = (line.split("\t") + ["", "", ""])[:4]
                if en.strip() and ar.strip():
                    names.append(
                        Name(
                            kind.strip(),
                            tuple(x.strip() for x in en.split("|")),
                            tuple(x.strip() for x in ar.split("|")),
                            how.strip(),
                        )
                    )
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
        tokens = [
            (m.start(), m.end(), _name_stem(m.group(), self._by_first)) for m in _AR_TOKEN.finditer(folded)
        ]
        stems = [t[2] for t in tokens]
        out, i = [], 0
        while i < len(tokens):
            best: tuple[int, list[Name], str] | None = None
            for nm, form, raw in self._by_first.get(stems[i], ()):
                n = len(form)
                if (
                    n == 1
                    and len(form[0]) <= 3
                    and not _ends_with_form(folded[tokens[i][0] : tokens[i][1]], raw)
                ):
                    continue  # a short stem matches by accident («ايوا» is not «الإيوي»): want the written form
                if stems[i : i + n] == form and (best is None or n > best[0]):
                    best = (n, [nm], raw)
                elif best and n == best[0] and stems[i : i + n] == form and nm not in best[1]:
                    best[1].append(nm)
            if best is None:
                i += 1
                continue
            n, names, raw = best
            start = tokens[i][0] + _proclitic_length(folded[tokens[i][0] : tokens[i][1]], raw)
            out.append(NameSpan(start, tokens[i + n - 1][1], text[start : tokens[i + n - 1][1]], names))
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


# ------------------------------------------------------------ consonant skeletons


# ------------------------------------------------------------ rule-based romanisation


HARVESTED = (
    "names.harvested.tsv"  # in the index folder: kind, English (empty until transliterated), Arabic, how
)
