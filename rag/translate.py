"""Fact-locked translation: the model writes the prose, the facts never pass through it.

Before the model sees a sentence, every date, quantity and known name is replaced by a
placeholder (⟦1⟧, ⟦2⟧ …). The model translates the masked clause; every placeholder must come
back exactly once (else one stricter retry, then the line is withheld), and is then filled with a
deterministic rendering: dates by ``rag.dates`` resolved against the article date, quantities by
``rag.numbers``, names from the lexicon. So a shown translation can neither drop nor invent a
number, a date or a known name. What the check below cannot see (meaning) is caught, coarsely,
by a similarity floor calibrated on XQuAD parallel sentences (``isnad eval translation``).

Without a generator the other language gets a "key facts" line built from the same renderings.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import threading
from dataclasses import dataclass, replace
from pathlib import Path

from rag.config import Settings
from rag.dates import find_dates, render_date
from rag.lexicon import Lexicon, load_lexicon
from rag.llm import Generator
from rag.models import Embedder
from rag.numbers import find_quantities, format_number, render_quantity, unit_english
from rag.prompts import load_prompt
from rag.text_ar import fold_same_length
from rag.verify import check_translation

PLACEHOLDER = re.compile(r"[⟦\[【{]\s*(\d{1,2})\s*[⟧\]】}]")
_ARABIC = re.compile(r"[\u0600-\u06ff]")
_DIGITS = re.compile(r"[0-9\u0660-\u0669\u06f0-\u06f9]+")
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
    label: str = ""  # what a key-facts line says ("end of 2021" where the sentence writes «نهاية» outside the span)

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
        english = render_date(m, "en").replace(" (year not stated)", "")  # in prose the month alone, as written
        if free(m.start, m.end) and not _ARABIC.search(english):
            facts.append(Fact(m.start, m.end, "date", m.text, english, label))
    for q in find_quantities(text):
        end, english = q.end, render_quantity(q, "en")
        if not q.unit and q.value == int(q.value) and 1800 <= q.value <= 2100:
            english = " ".join(x for x in (q.qualifier, str(int(q.value))) if x)
        if q.unit and not unit_english(q.unit, q.value):  # an unknown noun: the model translates it
            end = q.start + q.text.rfind(q.unit)
            english = " ".join(x for x in (q.qualifier, format_number(q.value)) if x)
        end = len(text[:end].rstrip(" ،,"))
        if not _DIGITS.search(text[q.start:end]) and not unit_english(q.unit, q.value):
            continue  # a number word without a known noun is often an ordinal («السادس عشر»)
        if free(q.start, end):
            facts.append(Fact(q.start, end, "number", text[q.start:end], english))
    for s in lexicon.spans_arabic(text):
        if free(s.start, s.end):
            facts.append(Fact(s.start, s.end, s.names[0].kind, s.text, s.english()))
    for m in _DIGITS.finditer(text):  # any digit the finders missed is still never the model's to copy
        if free(m.start(), m.end()):
            facts.append(Fact(m.start(), m.end(), "number", m.group(), _plain_number(m.group())))
    return _merge_years(sorted(facts, key=lambda f: f.start), text)


def _plain_number(digits: str) -> str:
    value = int(fold_same_length(digits))
    return str(value) if 1800 <= value <= 2100 else format_number(value)  # a year is not "2,021"


def _merge_years(facts: list[Fact], text: str) -> list[Fact]:
    """«نهاية العام الجاري 2021»: a year written right after a date that already says it joins the date."""
    out: list[Fact] = []
    for f in facts:
        prev = out[-1] if out else None
        if prev and prev.kind == "date" and f.kind == "number" and not text[prev.end:f.start].strip() \
                and f.english in prev.english:
            out[-1] = Fact(prev.start, f.end, "date", text[prev.start:f.end], prev.english, prev.label)
        else:
            out.append(f)
    return out


def mask(text: str, facts: list[Fact]) -> str:
    """The sentence with fact i (1-based, text order) replaced by ⟦i⟧."""
    out, last = [], 0
    for i, f in enumerate(facts, start=1):
        out += [text[last:f.start], f"⟦{i}⟧"]
        last = f.end
    return "".join(out + [text[last:]])


def fill(translated: str, facts: list[Fact]) -> tuple[str | None, str]:
    """The translation with each placeholder replaced by its rendering, or (None, why) when a
    placeholder is missing, repeated or unknown."""
    found = [int(n) for n in PLACEHOLDER.findall(translated)]
    wanted = list(range(1, len(facts) + 1))
    if sorted(found) != wanted:
        missing = sorted(set(wanted) - set(found))
        extra = sorted({n for n in found if found.count(n) > 1 or n not in wanted})
        why = "; ".join(x for x in (f"dropped {', '.join(facts[n - 1].english for n in missing)}" if missing else "",
                                    f"repeated or unknown placeholders {extra}" if extra else "") if x)
        return None, why or "placeholders out of place"
    return PLACEHOLDER.sub(lambda m: facts[int(m.group(1)) - 1].english, translated), ""


def clauses(text: str, min_words: int = 6, long_sentence: int = 28) -> list[tuple[str, str]]:
    """A long sentence split at clause boundaries («،» «؛» and a clause-initial «و»/«ف»/«ثم» before a
    verb of saying or a quotation), as (clause, English separator after it). Short pieces stay joined."""
    if len(text.split()) <= long_sentence:
        return [(text, "")]
    cuts = [m for m in re.finditer(r"\s*[،؛]\s*|\s+(?=(?:و|ف|ثم\s)(?:قال|أضاف|اضاف|أكد|اكد|أشار|اشار|أوضح|اوضح|تابع|"
                                   r"لفت|شدد|بين|أعلن|اعلن|كان|لم|لا|إن|ان|أن)\b)|\s+(?=[«\"])", text)]
    pieces, last = [], 0
    for m in cuts:
        piece = text[last:m.start()]
        if len(piece.split()) >= min_words and len(text[m.end():].split()) >= min_words:
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


@dataclass
class Translation:
    text: str | None  # None: withheld
    note: str  # why withheld ("" when shown)
    facts: str  # the key-facts line, shown when there is no translation


class TranslationCache:
    """Accepted and withheld translations by (model, target, sentence), one JSON line each, in the
    index folder: a sentence is paid for once, whatever asks for it (answers, briefings, `isnad translate`)."""

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

    def __init__(self, generator: Generator | None, embedder: Embedder | None, settings: Settings,
                 lexicon: Lexicon, cache: TranslationCache | None = None):
        self.generator = generator
        self.embedder = embedder
        self.settings = settings
        self.lexicon = lexicon
        self.cache = cache if cache is not None else TranslationCache(None)

    @property
    def label(self) -> str:
        return self.generator.label if self.generator else "none"

    def translate(self, text: str, target: str = "en", ref: dt.date | None = None) -> Translation:
        """A checked translation, or the reason it is withheld; facts line always filled.

        Raises GeneratorUnavailable (from the client) when the endpoint cannot be reached."""
        facts = key_facts(text, ref, self.lexicon) if target == "en" else ""
        if self.generator is None:
            return Translation(None, "no generator is configured", facts)
        key = TranslationCache.key(self.label, target, text)
        if (row := self.cache.get(key)) is not None:
            return Translation(row["text"], row["note"], facts)
        out, note = (self._locked(text, ref) if target == "en" else self._plain(text, target))
        if out is not None and self.embedder is not None:
            a, b = self.embedder.embed_documents([text, out])
            if float(a @ b) < self.settings.translation_min_similarity:
                out, note = None, f"translation withheld: meaning drifted (similarity {float(a @ b):.2f})"
        self.cache.put(key, {"model": self.label, "target": target, "source": text, "text": out, "note": note,
                             "facts": facts})
        return Translation(out, note, facts)

    def _locked(self, text: str, ref: dt.date | None) -> tuple[str | None, str]:
        parts = []
        for clause, sep in clauses(text):
            facts = find_facts(clause, ref, self.lexicon)
            masked = mask(clause, facts)
            out, why = None, ""
            for strict in (False, True):
                raw = self._complete(masked, len(facts), strict)
                out, why = self._accept(masked, raw, facts)
                if out is not None:
                    break
            if out is None:
                return None, f"translation withheld: {why}"
            if parts and re.match(r"(?:The|A|An|It|This|These|That|He|She|They|And|But)\b", out):
                out = out[0].lower() + out[1:]  # a clause continues the sentence
            parts.append(out.rstrip(".") + sep if sep else out)
        english = "".join(parts).strip()
        return english[:1].upper() + english[1:], ""

    def _complete(self, masked: str, n: int, strict: bool) -> str:
        rule = ("" if not n else f"The text has {n} placeholder(s): {' '.join(f'⟦{i}⟧' for i in range(1, n + 1))}. "
                "Copy each one exactly once, unchanged, where it belongs in the English sentence.")
        messages = load_prompt("translate_facts", "en", text=masked, rule=rule if strict else "")
        return self.generator.complete(messages, max_tokens=min(400, 40 + 3 * len(masked.split()) * 2))

    def _accept(self, masked: str, raw: str, facts: list[Fact]) -> tuple[str | None, str]:
        out = tidy(raw)
        if not out:
            return None, "empty translation"
        if _ARABIC.search(out):
            return None, "the model left Arabic in the English"
        # The prose must add no number, month or name of its own: compare the masked texts.
        problems = check_translation(PLACEHOLDER.sub("", masked), PLACEHOLDER.sub("", out), lexicon=self.lexicon)
        if problems:
            return None, "; ".join(problems)
        return fill(out, facts)

    def _plain(self, text: str, target: str) -> tuple[str | None, str]:
        out = tidy(self.generator.complete(load_prompt("translate", target, text=text), max_tokens=300))
        problems = check_translation(text, out, lexicon=self.lexicon)
        return (None, "translation withheld: " + "; ".join(problems)) if problems else (out, "")


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
    return Translator(generator, embedder, settings, load_lexicon(settings.names_file), _CACHES[path])
