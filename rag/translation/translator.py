"""Fact-locked translation: the model writes the prose, the facts never pass through it.

Before the model sees a sentence, every date, quantity and known name is rendered by rule and
written in English inside the Arabic («اتفق Iraq و United States، Saturday 5 June 2021، …»): dates
by ``rag.text.dates`` resolved against the article date, quantities by ``rag.text.numbers``, names from the
lexicon. The model translates around them; every rendering must come back (a date by its day,
month and year), and the prose may add no number, month, name or negation of its own, else one
stricter retry and then the line is withheld with the reason. So a shown translation can neither
drop nor invent a number, a date or a known name. The renderings are written in English rather
than as opaque placeholders because a small model keeps English words and writes grammatical prose
around them, where it drops or garbles placeholders. What the checks cannot see (meaning) is caught,
coarsely, by a similarity floor and a negation count, and by agreement: each unit is drafted several
times, the draft closest to the others is chosen, and it is shown only above floors fitted per model on
XQuAD-R (``isnad eval translation --sentences``); a model whose floors show nothing is not asked.

Without a generator the other language gets a "key facts" line built from the same renderings.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from rag.config import Settings
from rag.data import DATA_DIR
from rag.models.embedder import Embedder
from rag.models.llm import Generator
from rag.models.prompts import load_prompt
from rag.text.arabic import ARABIC_LETTER, fold_same_length
from rag.text.dates import ENGLISH_MONTHS, find_dates, render_date
from rag.text.lexicon import Lexicon, lexicon_for
from rag.text.numbers import find_quantities, format_number, render_quantity, unit_english
from rag.text.transliteration import transliteration_fits
from rag.verification.facts import check_translation, meaning_problems, months_in, numbers

_DIGITS = re.compile(r"[0-9\u0660-\u0669\u06f0-\u06f9]+")
YEARS = (1000, 2100)  # a bare number in this range is written as a year: «في 1279» is "in 1279", not "1,279"
KEY_FACTS_LABEL = {"en": "key facts (no translation)", "ar": "أبرز الوقائع (بلا ترجمة)"}
_KIND_ORDER = ("date", "number", "person", "org", "nationality", "place")


@dataclass
class Fact:
    """A span of the source sentence the model never sees, and what stands in its place."""

    start: int
    end: int
    kind: str  # date, number, person, org, nationality, place
    source: str
    english: str  # what fills the placeholder
    label: str = (
        ""  # what a key-facts line says ("end of 2021" where the sentence writes «نهاية» outside the span)
    )
    transliterated: bool = False  # a name a model spelled (skeleton-checked), marked where it is shown
    variants: tuple[
        str, ...
    ] = ()  # other English forms of the same name the prose may use ("US" for "American")

    def __post_init__(self):
        self.label = self.label or self.english


def find_facts(text: str, ref: dt.date | None, lexicon: Lexicon) -> list[Fact]:
    """Dates, quantities and lexicon names in an Arabic sentence, without overlaps, in text order."""
    facts: list[Fact] = []

    def free(a: int, b: int) -> bool:
        return a < b and all(b <= f.start or a >= f.end for f in facts)

    for m in find_dates(text, ref):
        label = render_date(m, "en")
        if m.edge and not re.search(r"نهاي|بداي|مطلع|أواخر|اواخر|end|start", m.text):
            m = replace(m, edge="")  # "end of" is written before the span: the model translates it
        # in prose the month alone, as written
        english = render_date(m, "en").replace(" (year not stated)", "").replace(" (article undated)", "")
        if free(m.start, m.end) and not ARABIC_LETTER.search(english):
            facts.append(Fact(m.start, m.end, "date", m.text, english, label))
    for q in find_quantities(text):
        end, english = q.end, render_quantity(q, "en")
        if not q.unit and q.value == int(q.value) and YEARS[0] <= q.value <= YEARS[1]:
            english = " ".join(x for x in (q.qualifier, str(int(q.value))) if x)
        if q.unit and not unit_english(q.unit, q.value):  # an unknown noun: the model translates it
            end = q.start + q.text.rfind(q.unit)
            year = q.value == int(q.value) and YEARS[0] <= q.value <= YEARS[1]
            english = " ".join(
                x for x in (q.qualifier, str(int(q.value)) if year else format_number(q.value)) if x
            )
        end = len(text[:end].rstrip(" ،,"))
        if not _DIGITS.search(text[q.start : end]) and not unit_english(q.unit, q.value):
            continue  # a number word without a known noun is often an ordinal («السادس عشر»)
        if free(q.start, end):
            facts.append(Fact(q.start, end, "number", text[q.start : end], english))
    spans = lexicon.spans_arabic(text)
    for prev, s in zip([None] + spans, spans):
        if (
            prev
            and not text[prev.end : s.start].strip()
            and facts
            and facts[-1].end == prev.end
            and any(lexicon.related(a, b) for a in prev.names for b in s.names)
        ):
            facts[
                -1
            ].end = s.end  # «الولايات المتحدة الأمريكية» is one United States, not "United States American"
            facts[-1].source = text[facts[-1].start : s.end]
            continue
        if free(s.start, s.end):
            spelled = any(n.how == "transliteration" for n in s.names)
            facts.append(
                Fact(
                    s.start,
                    s.end,
                    s.names[0].kind,
                    s.text,
                    s.english(),
                    f"{s.english()} (transliterated)" if spelled else "",
                    spelled,
                    tuple(e for n in s.names for e in n.english),
                )
            )
    for m in _DIGITS.finditer(text):  # any digit the finders missed is still never the model's to copy
        if free(m.start(), m.end()):
            facts.append(Fact(m.start(), m.end(), "number", m.group(), _plain_number(m.group())))
    return _merge_years(sorted(facts, key=lambda f: f.start), text)


def _plain_number(digits: str) -> str:
    """Digits as English writes them: "3,000", but a year stays "1279"."""
    value = int(fold_same_length(digits))
    return str(value) if YEARS[0] <= value <= YEARS[1] else format_number(value)  # a year is not "2,021"


def _merge_years(facts: list[Fact], text: str) -> list[Fact]:
    """«نهاية العام الجاري 2021»: a year written right after a date that already says it joins the date."""
    out: list[Fact] = []
    for f in facts:
        prev = out[-1] if out else None
        if (
            prev
            and prev.kind == "date"
            and f.kind == "number"
            and not text[prev.end : f.start].strip()
            and f.english in prev.english
        ):
            out[-1] = Fact(prev.start, f.end, "date", text[prev.start : f.end], prev.english, prev.label)
        else:
            out.append(f)
    return out


def inline(text: str, facts: list[Fact]) -> str:
    """The sentence with each fact written as its English rendering: what the model translates."""
    out, last = [], 0
    for f in facts:
        out += [text[last : f.start], f" {f.english} "]
        last = f.end
    return re.sub(r" {2,}", " ", "".join(out + [text[last:]])).strip()


LONG_SENTENCE = 50  # words: clauses() leaves a shorter sentence whole unless told otherwise
SMALL_UNITS = 20  # words: a sentence longer than this is translated clause by clause
# qualifiers that say the same about a number
_BOUND = {
    "about": "about",
    "nearly": "about",
    "some": "about",
    "more than": "more",
    "at least": "more",
    "fewer than": "fewer",
    "less than": "fewer",
}


def restore_days(translation: str, facts: list[Fact]) -> str:
    """Put back a day the model dropped from a dated fact: "announced in April 2021" for
    "7 April 2021" becomes "announced on 7 April 2021". The date is the rule's, not the model's;
    only a month the translation names once is touched."""
    for f in facts:
        if f.kind != "date" or not missing_facts(translation, [f]) or len(months_in(f.english)) != 1:
            continue
        month = ENGLISH_MONTHS[next(iter(months_in(f.english))) - 1]
        hits = list(
            re.finditer(
                rf"\b(?:in |on )?(?:(?:early|late|mid-?) )?{month}\b(?:,? \d{{4}})?",
                translation,
                re.IGNORECASE,
            )
        )
        if len(hits) == 1:
            m = hits[0]
            lead = (
                "on "
                if re.match(r"\d", f.english) and m.group().lower().startswith(("in ", "on "))
                else ("in " if m.group().lower().startswith(("in ", "on ")) else "")
            )
            translation = translation[: m.start()] + lead + f.english + translation[m.end() :]
    return translation


def missing_facts(translation: str, facts: list[Fact]) -> list[str]:
    """Renderings the translation lost. A name or quantity must appear as written; a date by its
    numbers and month ("June 5, 2021" keeps "5 June 2021"), since English may order them either way."""
    lost, said = [], [(q.value, _BOUND.get(q.qualifier or "")) for q in find_quantities(translation)]
    for f in facts:
        if f.kind == "date":
            kept = numbers(f.english) <= numbers(translation) and months_in(f.english) <= months_in(
                translation
            )
        # "around 3,000 coalition soldiers" keeps "about 3,000 soldiers"; "3,000" alone does not
        elif f.kind == "number":
            kept = all((q.value, _BOUND.get(q.qualifier or "")) in said for q in find_quantities(f.english))
        else:
            kept = any(
                re.search(rf"\b{re.escape(v)}", translation, re.IGNORECASE) for v in (f.english, *f.variants)
            )
        if not kept and f.english not in lost:
            lost.append(f.english)
    return lost


def clauses(text: str, min_words: int = 6, long_sentence: int = LONG_SENTENCE) -> list[tuple[str, str]]:
    """A long sentence split at clause boundaries («،» «؛» and a clause-initial «و»/«ف»/«ثم» before a
    verb of saying or a quotation), as (clause, English separator after it). Short pieces stay joined."""
    if len(text.split()) <= long_sentence:
        return [(text, "")]
    cuts = [
        m
        for m in re.finditer(
            r"\s*[،؛]\s*|\s+(?=(?:و|ف|ثم\s)(?:قال|أضاف|اضاف|أكد|اكد|أشار|اشار|أوضح|اوضح|تابع|"
            r"لفت|شدد|بين|أعلن|اعلن|كان|لم|لا|إن|ان|أن)\b)|\s+(?=[«\"])",
            text,
        )
    ]
    pieces, last = [], 0
    for m in cuts:
        piece = text[last : m.start()]
        if len(piece.split()) >= min_words and len(text[m.end() :].split()) >= min_words:
            sep = {"،": ", ", "؛": "; "}.get(m.group().strip(), " ")
            pieces.append((piece, sep))
            last = m.end()
    pieces.append((text[last:], ""))
    return pieces


def key_facts(text: str, ref: dt.date | None, lexicon: Lexicon) -> str:
    """What a reader of the other language can use without a translation: "5 June 2021 · 2,500 soldiers ·
    Kadhimi · Baghdad, Washington" (dates, quantities, people, organisations, places)."""
    by_kind: dict[str, list[str]] = {}
    for f in find_facts(text, ref, lexicon):
        if f.label not in by_kind.setdefault(f.kind, []):
            by_kind[f.kind].append(f.label)
    return " · ".join(", ".join(by_kind[k]) for k in _KIND_ORDER if by_kind.get(k))


WITHHELD = "English withheld: could not be checked"
WITHHELD_MODEL = (
    "translation withheld: this model's translations are not faithful often enough to be shown "
    "(fitted floors, docs/translation.md)"
)


def reader_note(note: str | None) -> str:
    """What a reader sees for a withheld translation: plain words. The check that withheld it (``note``)
    stays in the JSON and on hover."""
    if not note or note == WITHHELD_MODEL:  # said once for the whole answer or briefing, not per line
        return ""
    return (
        "no machine translation: no generator is configured" if note.startswith("no generator") else WITHHELD
    )


@dataclass
class Translation:
    text: str | None  # None: withheld
    note: str  # why withheld ("" when shown)
    facts: str  # the key-facts line, shown when there is no translation


class TranslationCache:
    """The model's drafts by (model, target, sentence), one JSON line each, in the index folder, with
    their similarity to the source: a sentence is paid for once, whatever asks for it (answers,
    briefings, `isnad translate`, the app's background pass), and re-judged when the floor changes."""

    def __init__(self, path: Path | None):
        self.path = path
        self._lock = threading.Lock()
        self._rows: dict[str, dict] = {}
        if path and path.exists():
            for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
                try:
                    row = json.loads(line)
                    self._rows[row["key"]] = row
                except (ValueError, KeyError, TypeError):
                    continue  # a torn last line after a crash costs one entry, not the cache

    @staticmethod
    def key(model: str, target: str, text: str) -> str:
        return hashlib.sha256(f"{model}\n{target}\n{text}".encode()).hexdigest()[:32]

    def get(self, key: str) -> dict | None:
        return self._rows.get(key)

    def put(self, key: str, row: dict) -> None:
        row = {"key": key, **row}
        with self._lock:
            self._rows[key] = row
            if self.path:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                with self.path.open("a", encoding="utf-8") as f:
                    f.write(json.dumps(row, ensure_ascii=False) + "\n")

    def __len__(self) -> int:
        return len(self._rows)


class Translator:
    """Arabic → English, clause by clause, facts locked, checked; English → Arabic is a plain checked call."""

    def __init__(
        self,
        generator: Generator | None,
        embedder: Embedder | None,
        settings: Settings,
        lexicon: Lexicon,
        cache: TranslationCache | None = None,
    ):
        self.generator = generator
        self.embedder = embedder
        self.settings = settings
        self.lexicon = lexicon
        self.cache = cache if cache is not None else TranslationCache(None)
        self.pause: Callable[[], None] | None = None  # called before each model call (background work yields)

    @property
    def label(self) -> str:
        return self.generator.label if self.generator else "none"

    def translate(self, text: str, target: str = "en", ref: dt.date | None = None) -> Translation:
        """A checked translation, or the reason it is withheld; facts line always filled.

        Raises GeneratorUnavailable (from the client) when the endpoint cannot be reached."""
        facts = key_facts(text, ref, self.lexicon) if target == "en" else ""
        if self.generator is None:
            return Translation(None, "no generator is configured", facts)
        if target == "en" and self.withholds_all:
            return Translation(None, WITHHELD_MODEL, facts)
        out, note = self.judge(self.drafted(text, target, ref))
        return Translation(out, note, facts)

    def drafted(self, text: str, target: str = "en", ref: dt.date | None = None, unit: bool = False) -> dict:
        """The cached row for a sentence or clause (the chosen draft, every draft, the agreement and the
        similarity), drafted now when the cache has none that fits the settings. ``unit``: translate
        ``text`` as one unit, not clause by clause."""
        key = TranslationCache.key(self.label, target, text)
        row = self.cache.get(key)
        if self._needs_drafting(row):
            row = self._draft(text, target, ref, unit)
            self.cache.put(key, row)
        return row

    def _draft(self, text: str, target: str, ref: dt.date | None, unit: bool) -> dict:
        """A sentence of up to SMALL_UNITS words is one unit. A longer one is translated clause by clause,
        each clause cached as a unit of its own (an answer can show just the clause that carries it); the
        sentence's draft is its clauses' drafts joined, its agreement that of its least agreed clause."""
        if target != "en":
            draft, note = self._plain(text, target)
            return self._row(text, target, draft, note, None, [])
        pieces = [(text, "")] if unit else clauses(text, long_sentence=SMALL_UNITS)
        if len(pieces) == 1:
            return self._row(text, "en", *self._unit(text, ref))
        parts, agreements = [], []
        for clause, sep in pieces:
            row = self.drafted(clause, "en", ref, unit=True)
            if row["draft"] is None:
                return self._row(text, "en", None, row["note"], None, [])
            out = row["draft"]
            if row.get("agreement") is not None:
                agreements.append(row["agreement"])
            if parts and re.match(r"(?:The|A|An|It|This|These|That|He|She|They|And|But)\b", out):
                out = out[0].lower() + out[1:]  # a clause continues the sentence
            parts.append(out.rstrip(".") + sep if sep else out)
        english = "".join(parts).strip()
        return self._row(text, "en", english[:1].upper() + english[1:], "", min(agreements, default=None), [])

    def _row(
        self, text: str, target: str, draft: str | None, note: str, agreement: float | None, drafts: list[str]
    ) -> dict:
        similarity = None
        if draft is not None and self.embedder is not None:
            a, b = self.embedder.embed_documents([text, draft])
            similarity = round(float(a @ b), 4)
        return {
            "model": self.label,
            "target": target,
            "source": text,
            "draft": draft,
            "note": note,
            "similarity": similarity,
            "agreement": agreement,
            "drafts": drafts,
        }

    def _needs_drafting(self, row: dict | None) -> bool:
        """No row, or a row drafted with a single draft while the settings ask for several (its
        agreement unknown): paid for again rather than shown unchecked."""
        if row is None or "draft" not in row:
            return True
        return (
            self.settings.translation_drafts > 1
            and row.get("target") == "en"
            and row["draft"] is not None
            and row.get("agreement") is None
        )

    def judge(self, row: dict) -> tuple[str | None, str]:
        """The cached draft shown or withheld under today's floors, negation and name rules, so changing
        any of them re-judges the cache instead of paying the model again."""
        draft, similarity, agreement = row["draft"], row.get("similarity"), row.get("agreement")
        if draft is None:
            return None, row["note"]
        if problems := meaning_problems(row["source"], draft, self.lexicon):
            return None, f"translation withheld: {problems[0]}"
        min_agreement, min_similarity = self.floors()
        if similarity is not None and similarity < min_similarity:
            return None, f"translation withheld: meaning drifted (similarity {similarity:.2f})"
        if agreement is not None and agreement < min_agreement:
            return None, f"translation withheld: the model's drafts disagree (agreement {agreement:.2f})"
        return draft, ""

    @property
    def withholds_all(self) -> bool:
        """The floors fitted for this model show none of its translations: no draft is paid for."""
        return max(self.floors()) >= 1.0

    def floors(self) -> tuple[float, float]:
        """(agreement floor, similarity floor) for this translator's model: the settings' when an agreement
        floor is set there, else the floors fitted for the model (``rag/data/translation_floors.json``),
        else no agreement floor and the settings' similarity floor."""
        if self.settings.translation_min_agreement is not None:
            return self.settings.translation_min_agreement, self.settings.translation_min_similarity
        fitted = fitted_floors().get(getattr(self.generator, "model", None) or "", {})
        return fitted.get("agreement", 0.0), max(
            self.settings.translation_min_similarity, fitted.get("similarity", 0.0)
        )

    def _unit(self, text: str, ref: dt.date | None) -> tuple[str | None, str, float | None, list[str]]:
        """(English, why withheld, agreement, the drafts) for one unit, its facts locked."""
        facts = find_facts(text, ref, self.lexicon)
        out, why, agreed, drafts = self._best_draft(inline(text, facts), facts)
        if out is None:
            return None, f"translation withheld: {why}", None, drafts
        for name in dict.fromkeys(f.english for f in facts if f.transliterated):
            out = out.replace(name, f"{name} (transliterated)", 1)
        return out, "", agreed, drafts

    def _best_draft(self, source: str, facts: list[Fact]) -> tuple[str | None, str, float | None, list[str]]:
        """Minimum Bayes risk over several drafts, one greedy and the rest sampled: among the drafts
        that keep every fact, the one closest (chrF++) to all the others is chosen, and that closeness
        is its agreement. A small model that knows what a sentence says writes it the same way each
        time; one that guesses writes something different each time. When no draft keeps the facts,
        one stricter greedy retry."""
        n = self.settings.translation_drafts
        temperature = self.settings.translation_temperature
        drafts = [self._complete(source, facts, strict=False)]
        drafts += [self._complete(source, facts, False, temperature, seed) for seed in range(1, n)]
        judged = [self._accept(source, d, facts) for d in drafts]
        if not any(out for out, _ in judged):
            drafts.append(self._complete(source, facts, strict=True))
            judged.append(self._accept(source, drafts[-1], facts))
        tidied = [tidy(d) for d in drafts]
        kept = [(i, out) for i, (out, _) in enumerate(judged) if out is not None]
        if not kept:
            return None, judged[0][1], None, tidied
        if n == 1:
            return kept[0][1], "", None, tidied
        scored = [(agreement(tidied[i], tidied[:i] + tidied[i + 1 :]), out) for i, out in kept]
        best, out = max(scored, key=lambda x: x[0])
        return out, "", round(best, 4), tidied

    def _complete(
        self,
        source: str,
        facts: list[Fact],
        strict: bool,
        temperature: float | None = None,
        seed: int | None = None,
    ) -> str:
        rule = (
            ""
            if not facts
            else "Keep these exactly as written: " + "; ".join(dict.fromkeys(f.english for f in facts)) + "."
        )
        messages = load_prompt("translate_facts", "en", text=source, rule=rule if strict else "")
        if self.pause is not None:
            self.pause()
        return self.generator.complete(
            messages,
            max_tokens=min(400, 40 + 3 * len(source.split()) * 2),
            temperature=temperature,
            seed=seed,
        )

    def _accept(self, source: str, raw: str, facts: list[Fact]) -> tuple[str | None, str]:
        out = tidy(raw)
        if not out:
            return None, "empty translation"
        if ARABIC_LETTER.search(out):
            return None, "the model left Arabic in the English"
        out = restore_days(out, facts)
        if lost := missing_facts(out, facts):
            return None, f"dropped {', '.join(lost)}"
        # Nothing of the model's own: no number, month, name or negation the source (facts in English) lacks.
        problems = check_translation(source, out, lexicon=self.lexicon)
        return (None, "; ".join(problems)) if problems else (out, "")

    def transliterate(self, arabic: str) -> tuple[str, str]:
        """(English spelling, "transliteration") for a name found in the corpus, or ("", "no fit: …") when
        the model's proposal does not match the Arabic's consonant skeleton word by word (kept, not re-asked)."""
        proposal = (
            tidy(self.generator.complete(load_prompt("transliterate", "en", arabic=arabic), max_tokens=24))
            .split("\n")[0]
            .strip()
        )
        if transliteration_fits(arabic, proposal):
            return proposal, "transliteration"
        return "", f"no fit: {proposal[:40]}"

    def _plain(self, text: str, target: str) -> tuple[str | None, str]:
        out = tidy(self.generator.complete(load_prompt("translate", target, text=text), max_tokens=300))
        problems = check_translation(text, out, lexicon=self.lexicon)
        return (None, "translation withheld: " + "; ".join(problems)) if problems else (out, "")


@functools.lru_cache(maxsize=1)
def fitted_floors() -> dict[str, dict]:
    """Agreement and similarity floors fitted per model by `isnad eval translation --sentences`."""
    return json.loads((DATA_DIR / "translation_floors.json").read_text(encoding="utf-8"))["models"]


def agreement(draft: str, others: list[str]) -> float:
    """Mean chrF++ (0–1) of a draft against the other drafts of the same sentence."""
    from sacrebleu.metrics import CHRF

    if not others:
        return 1.0
    chrf = CHRF(word_order=2)
    return sum(chrf.sentence_score(draft, [o]).score for o in others) / (100 * len(others))


def tidy(raw: str) -> str:
    """The model's answer without chatter: first paragraph, no label, no wrapping quotes."""
    out = raw.strip().split("\n\n")[0].strip()
    out = re.sub(r"^(?:english|translation)\s*:\s*", "", out, flags=re.IGNORECASE).strip()
    return out.strip("\"'“”«» ")


_CACHES: dict[Path, TranslationCache] = {}


def translator_for(generator: Generator | None, embedder: Embedder | None, settings: Settings) -> Translator:
    """A translator with the settings' lexicon over the index folder's cache (one cache object per folder)."""
    path = (settings.index_dir / "translations.jsonl").resolve()
    if path not in _CACHES:
        _CACHES[path] = TranslationCache(path)
    return Translator(generator, embedder, settings, lexicon_for(settings), _CACHES[path])
