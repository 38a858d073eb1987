"""A starter question set written from the corpus, for users who have none yet.

Candidates come from sampled sentences: with a generator, it writes a question and copies the answer from
the sentence; without one, typed questions are built from the facts Isnad already reads (full dates,
counted quantities, people named after a title). A candidate is kept only when it passes every check:
the question is well formed in the sentence's language, the answer is a short span of its sentence, the
question does not give the answer away, the question retrieves its own sentence among the first k
chunks, and (for a generator's questions) Isnad's own short answer to it agrees.
Every kept row says it was generated and how; the counts of candidates dropped by each check are
reported, because a set that kept everything would flatter any retriever.
"""

from __future__ import annotations

import json
import random
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from rag.evaluation.metrics import TokenF1, fold_spaces, normalize_answer
from rag.text.arabic import normalize_ar, sentence_spans
from rag.text.dates import arabic_months_in, find_dates
from rag.text.harvest import harvest_people
from rag.text.numbers import find_quantities
from rag.types import Document

CHECKS = (
    "no question could be written",
    "the question is not a well-formed question in the sentence's language",
    "the answer is not in its sentence",
    "the question gives the answer away",
    "the question does not retrieve its sentence",
    "Isnad's own reading finds no answer or another one",
)
MAX_ANSWER_WORDS = 8
# Rank words that end a role phrase before the name: «المتحدث باسم …، اللواء يحيى رسول».
RANKS = {"اللواء", "العميد", "العقيد", "الفريق", "المقدم", "الرائد", "النقيب", "الشيخ", "السيد", "الدكتور"}
_NOT_COUNTED = {
    "كم",
    "كلم",
    "سم",
    "ملم",
    "م",
}  # «100 كم جنوب بغداد»: a distance, and «كم كم» reads as nonsense
_LEADING = {
    normalize_ar(w) for w in ("إن", "أن", "وإن", "وأن", "كما", "فيما", "حيث", "قد", "وقد", "بأن", "لأن")
}
_WORD = re.compile(r"[\w\u0600-\u06ff]+(?:[-/][\w\u0600-\u06ff]+)*")


@dataclass
class Starter:
    """The kept questions (rows a question set file holds) and what the checks dropped."""

    rows: list[dict]
    candidates: int
    dropped: Counter = field(default_factory=Counter)
    method: str = "template"

    def jsonl(self) -> str:
        return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in self.rows)

    def summary(self) -> str:
        drops = "; ".join(f"{n} {why}" for why, n in self.dropped.items() if n) or "none dropped"
        return (
            f"{len(self.rows)} of {self.candidates} candidate questions kept ({self.method}); dropped: {drops}. "
            "The set is generated: label it so wherever its figures are reported"
            + (
                "; a generator's questions are kept only when Isnad answers them, so they lean easy."
                if self.method == "generator"
                else "."
            )
        )


def _words(text: str) -> list[str]:
    return _WORD.findall(text)


def _clause(sentence: str, start: int, end: int) -> tuple[str, str]:
    """The words of the clause before and after [start, end) (clauses end at «،» «؛» and full stops)."""
    left = re.split(r"[،؛:.!?؟\"«»]", sentence[:start])[-1]
    right = re.split(r"[،؛:.!?؟\"«»]", sentence[end:])[0]
    return left, right


def template_questions(sentence: str) -> list[tuple[str, str, str]]:
    """(kind, question, answer) written from one Arabic sentence's facts, without a generator."""
    out = []
    dates = find_dates(sentence)
    for m in dates:
        if m.relative or m.date is None or m.precision == "year":
            continue
        left, right = _clause(sentence, m.start, m.end)
        words = [w for w in _words(left) if normalize_ar(w) not in ("في", "يوم", "منذ")][-8:] + _words(right)[
            :8
        ]
        words = [
            w
            for w in words
            if not re.fullmatch(r"(ال)?(سبت|احد|أحد|اثنين|إثنين|ثلاثاء|أربعاء|اربعاء|خميس|جمعة)", w)
        ]
        while words and normalize_ar(words[0]) in _LEADING:
            words = words[1:]
        if len(words) >= 4:
            first = re.sub(r"^و(?=\w{3})", "", words[0])
            out.append(("date", "متى " + " ".join([first, *words[1:]]) + "؟", m.text))
    for q in find_quantities(sentence):
        in_date = any(m.start < q.end and q.start < m.end for m in dates)
        if (
            not q.unit
            or q.value < 2
            or in_date
            or arabic_months_in(q.unit)
            or normalize_ar(q.unit) in _NOT_COUNTED
        ):
            continue
        _, right = _clause(sentence, q.end, q.end)
        rest = _words(right)[:8]
        if len(rest) >= 2:
            out.append(("number", f"كم {q.unit} {' '.join(rest)}؟", sentence[q.num_start : q.num_end]))
    for name in harvest_people(sentence):
        at = sentence.find(name)
        if at < 0:
            continue
        left, _ = _clause(sentence, at, at)
        role = _words(left)
        if not role and at > 1:  # «المتحدث باسم …، اللواء يحيى رسول»: the role is the clause before
            role = _words(re.split(r"[؛:.!?؟\"«»]", sentence[:at])[-1])
        role = [w for w in role if w not in RANKS][-7:]
        while role and not normalize_ar(role[0]).startswith(("ال", "وزير", "رئيس", "قائد", "نائب", "مستشار")):
            role = role[1:]
        if len(role) >= 2:
            out.append(("person", "من هو " + " ".join(role) + "؟", name))
    return out


def generated_question(generator, sentence: str, lang: str) -> tuple[str, str, str] | None:
    """(kind, question, answer) written by the generator, or None when its reply is not the JSON asked for."""
    from rag.models.prompts import load_prompt

    reply = generator.complete(
        load_prompt("question", lang, sentence=sentence), max_tokens=160, temperature=0.0
    )
    found = re.search(r"\{.*\}", reply, re.S)
    try:
        data = json.loads(found.group(0)) if found else {}
    except ValueError:
        return None
    q, a = str(data.get("question", "")).strip(), str(data.get("answer", "")).strip()
    return ("generated", q, a) if q and a else None


def _sentences(docs: list[Document]) -> list[tuple[Document, str]]:
    out = []
    for doc in docs:
        for p0, p1 in doc.paragraphs:
            for a, b in sentence_spans(doc.text, p0, p1):
                text = doc.text[a:b].strip()
                if 8 <= len(text.split()) <= 60:
                    out.append((doc, text))
    return out


def starter_set(
    docs: list[Document],
    searcher,
    n: int = 50,
    k: int = 5,
    seed: int = 13,
    generator=None,
    reader: Callable[[str], str | None] | None = None,
) -> Starter:
    """Up to ``n`` checked questions from sampled sentences of ``docs``; ``searcher`` runs the round trip.

    ``reader`` (a question → Isnad's own short answer, or None) checks a generator's questions once more
    (round-trip consistency): one Isnad does not answer with the value written for it is dropped. Those
    kept lean towards questions Isnad can answer, which the summary of a set says."""
    pool = _sentences(docs)
    random.Random(seed).shuffle(pool)
    result = Starter([], 0, Counter({why: 0 for why in CHECKS}), "generator" if generator else "template")
    seen: set[str] = set()
    for doc, sentence in pool:
        if len(result.rows) >= n:
            break
        if generator is not None:
            one = generated_question(generator, sentence, doc.language)
            candidates = [one] if one else []
            if not candidates:
                result.candidates += 1
                result.dropped[CHECKS[0]] += 1
        else:
            candidates = template_questions(sentence) if doc.language == "ar" else []
        for kind, question, answer in candidates[:1]:
            if question in seen:
                continue
            seen.add(question)
            result.candidates += 1
            why = _check(
                question, answer, sentence, doc, searcher, k, reader if generator is not None else None
            )
            if why:
                result.dropped[why] += 1
                continue
            result.rows.append(
                {
                    "id": f"starter-{len(result.rows) + 1:03d}",
                    "question": question,
                    "answer": answer,
                    "source": doc.source,
                    "evidence": sentence,
                    "lang": "ar" if re.search(r"[\u0600-\u06ff]", question) else "en",
                    "type": kind,
                    "generated": result.method,
                }
            )
    return result


def reader_of(isnad) -> Callable[[str], str | None]:
    """Isnad's own short answer to a question (shown or below its confidence line), or None."""

    def read(question: str) -> str | None:
        answer = isnad.ask(question)
        short = answer.short or answer.withheld_short
        return short.span if short else None

    return read


def well_formed(question: str, sentence: str) -> bool:
    """A question of three words or more, ending in a question mark, in the sentence's script only
    (the small generator mixes in other scripts: «في какой شهر»)."""
    arabic = bool(re.search(r"[\u0600-\u06ff]", sentence))
    letters = re.findall(r"[^\W\d_]", question)
    foreign = [c for c in letters if bool(re.match(r"[\u0600-\u06ff]", c)) != arabic]
    return len(question.split()) >= 3 and question.rstrip().endswith(("?", "؟")) and not foreign


def _check(
    question: str,
    answer: str,
    sentence: str,
    doc: Document,
    searcher,
    k: int,
    reader: Callable[[str], str | None] | None = None,
) -> str | None:
    """The first check a candidate fails, or None."""
    if not well_formed(question, sentence) or len(answer.split()) > MAX_ANSWER_WORDS:
        return CHECKS[1]
    if normalize_answer(answer) not in normalize_answer(sentence) or not normalize_answer(answer):
        return CHECKS[2]
    said = set(normalize_answer(answer).replace("/", " ").split())
    if len(said & set(normalize_answer(question).replace("/", " ").split())) * 2 >= len(said):
        return CHECKS[3]  # half the answer's words in the question: «في أي شهر تموز …» for «يوليو/ تموز»
    hits = searcher.search(question, k)
    needle = fold_spaces(sentence)
    if not any(h.source == doc.source and needle in fold_spaces(h.text) for h in hits):
        return CHECKS[4]
    if reader is not None and TokenF1()(reader(question) or "", [answer]) < 0.5:
        return CHECKS[5]
    return None
