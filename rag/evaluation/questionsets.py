"""Users' own question sets: CSV, JSONL, the BEIR layout and SQuAD JSON, read into one `Dataset`.

A row names a question and at least one way to score it: the ``source`` document it should find (a file
name, a source or a document id of the corpus), an ``evidence`` passage (the documents that contain it are
gold) or an ``answer`` (a retrieved chunk that contains it counts). The corpus is the set's own (BEIR's
``corpus.jsonl``, SQuAD's paragraphs) or, for CSV and JSONL, the documents given: an indexed corpus or a
folder of files. A malformed row is refused with the file, its line and what is missing; nothing is skipped
without a word.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator
from pathlib import Path

from rag.errors import IngestFileError, QuestionSetError
from rag.evaluation.datasets import Dataset, Question, load_seed_set, load_squad
from rag.evaluation.metrics import fold_spaces
from rag.ingest.files import parse_document
from rag.text.arabic import detect_language
from rag.types import Document

FORMATS = ("csv", "jsonl", "beir", "squad", "seeds")
# What a column may be called in a user's file; the first name is the one the docs use.
COLUMNS = {
    "question": ("question", "query", "q", "سؤال", "السؤال"),
    "answer": ("answer", "answers", "expected_answer", "الإجابة", "إجابة"),
    "source": ("source", "gold", "document", "doc", "file", "doc_id", "المصدر"),
    "evidence": ("evidence", "passage", "context", "الدليل"),
    "lang": ("lang", "language"),
    "id": ("id", "qid", "_id"),
}
ANSWER_SEPARATOR = " | "  # several acceptable answers in one CSV cell


def detect_format(path: Path) -> str:
    """The format a path holds, from its name or layout (a BEIR folder has queries.jsonl and corpus.jsonl)."""
    if str(path) == "seeds":
        return "seeds"
    if path.is_dir():
        if (path / "queries.jsonl").exists() and (path / "corpus.jsonl").exists():
            return "beir"
        raise QuestionSetError(
            f"{path} is a folder without queries.jsonl and corpus.jsonl: a BEIR set needs both (and qrels/)"
        )
    suffix = path.suffix.lower()
    if suffix in (".csv", ".tsv"):
        return "csv"
    if suffix in (".jsonl", ".ndjson"):
        return "jsonl"
    if suffix == ".json":
        return "squad"
    raise QuestionSetError(
        f"{path.name}: cannot tell the format from the name; use .csv, .jsonl, a SQuAD .json or a BEIR folder"
    )


def load_question_set(
    path: str | Path,
    corpus: list[Document] | None = None,
    fmt: str | None = None,
    split: str = "test",
    limit: int | None = None,
) -> Dataset:
    """Read a question set in any supported format; ``corpus`` is required by CSV and JSONL sets."""
    path = Path(path)
    if str(path) != "seeds" and not path.exists():
        raise QuestionSetError(f"{path}: no such file or folder")
    fmt = fmt or detect_format(path)
    if fmt == "seeds":
        data = load_seed_set()
    elif fmt == "squad":
        try:
            data = load_squad(path, limit=limit)
        except ValueError as e:
            raise QuestionSetError(str(e)) from None
    elif fmt == "beir":
        data = load_beir(path, split)
    elif fmt in ("csv", "jsonl"):
        if corpus is None:
            raise QuestionSetError(
                f"{path.name}: a {fmt.upper()} question set is scored against a corpus; give --corpus (a folder "
                "of articles) or use the indexed corpus"
            )
        rows = _csv_rows(path) if fmt == "csv" else _jsonl_rows(path)
        data = questions_over(path, rows, corpus)
    else:
        raise QuestionSetError(f"unknown question-set format '{fmt}'; use one of {', '.join(FORMATS)}")
    if limit:
        data.questions = data.questions[:limit]
    if not data.questions:
        raise QuestionSetError(f"{path}: no questions to score")
    return data


def _column(row: dict, name: str) -> object:
    for alias in COLUMNS[name]:
        for key, value in row.items():
            if key is not None and key.strip().lower() == alias and value not in (None, ""):
                return value
    return None


def _csv_rows(path: Path) -> Iterator[tuple[int, dict]]:
    text = _read(path)
    dialect = "excel-tab" if path.suffix.lower() == ".tsv" else "excel"
    reader = csv.DictReader(io.StringIO(text, newline=""), dialect=dialect)
    if not reader.fieldnames or not any(
        f and f.strip().lower() in COLUMNS["question"] for f in reader.fieldnames
    ):
        raise QuestionSetError(
            f"{path.name} line 1: the header has no 'question' column (found: "
            f"{', '.join(f for f in reader.fieldnames or [] if f) or 'nothing'}); expected question, answer, "
            "source, evidence"
        )
    for row in reader:
        if None in row:
            raise QuestionSetError(
                f"{path.name} line {reader.line_num}: more cells than the header has columns"
            )
        yield reader.line_num, row


def _jsonl_rows(path: Path) -> Iterator[tuple[int, dict]]:
    for n, line in enumerate(_read(path).splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError as e:
            raise QuestionSetError(f"{path.name} line {n}: not valid JSON ({e.msg})") from None
        if not isinstance(row, dict):
            raise QuestionSetError(f"{path.name} line {n}: expected an object with a 'question' field")
        yield n, row


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise QuestionSetError(f"{path.name}: not UTF-8 text (save it as UTF-8 and try again)") from None
    except OSError as e:
        raise QuestionSetError(f"{path.name}: cannot be read ({e.strerror or e})") from None


def _answers(value: object) -> list[str]:
    if value is None:
        return []
    if isinstance(value, dict):  # one answer per language: {"en": …, "ar": …}
        value = list(value.values())
    if isinstance(value, list):
        return [str(v).strip() for v in value if str(v).strip()]
    return [a.strip() for a in str(value).split(ANSWER_SEPARATOR.strip()) if a.strip()]


def questions_over(path: Path, rows: Iterable[tuple[int, dict]], corpus: list[Document]) -> Dataset:
    """Questions of a CSV or JSONL set, their gold documents resolved in ``corpus``."""
    by_name: dict[str, set[str]] = {}
    for d in corpus:
        for key in (d.source, Path(d.source).name, d.doc_id):
            by_name.setdefault(key, set()).add(d.source)
    bodies = [(d.source, fold_spaces(d.body())) for d in corpus]
    questions = []
    for line, row in rows:
        text = _column(row, "question")
        where = f"{path.name} line {line}"
        if not isinstance(text, str) or not text.strip():
            raise QuestionSetError(f"{where}: no question (the 'question' field is missing or empty)")
        answers = _answers(_column(row, "answer"))
        source = _column(row, "source")
        evidence = _column(row, "evidence")
        evidence_list = [
            str(e).strip() for e in (evidence if isinstance(evidence, list) else [evidence]) if e
        ]
        gold: set[str] = set()
        if source:
            names = source if isinstance(source, list) else [source]
            for name in names:
                found = by_name.get(str(name).strip())
                if not found:
                    raise QuestionSetError(f"{where}: source '{name}' is no document of the corpus")
                gold |= found
        elif evidence_list:
            needles = [fold_spaces(e) for e in evidence_list]
            gold = {s for s, body in bodies if any(n in body for n in needles)}
            if not gold:
                raise QuestionSetError(
                    f"{where}: the evidence text is in no document of the corpus (it must be copied exactly)"
                )
        if not (gold or answers):
            raise QuestionSetError(
                f"{where}: nothing to score the question by; give an answer, a source or an evidence passage"
            )
        lang = _column(row, "lang")
        questions.append(
            Question(
                str(_column(row, "id") or f"{path.stem}:{line}"),
                str(lang) if lang else detect_language(text),
                text.strip(),
                gold,
                evidence_list,
                {"ref": answers[0]} if answers else {},
                answers=answers,
            )
        )
    return Dataset(path.stem, corpus, questions)


def load_beir(folder: Path, split: str = "test") -> Dataset:
    """BEIR's layout: ``corpus.jsonl`` ({_id, title, text}), ``queries.jsonl`` ({_id, text}) and
    ``qrels/<split>.tsv`` (query-id, corpus-id, score; a positive score is gold)."""
    qrels_path = folder / "qrels" / f"{split}.tsv"
    if not qrels_path.exists():
        found = (
            sorted(p.name for p in (folder / "qrels").glob("*.tsv")) if (folder / "qrels").is_dir() else []
        )
        raise QuestionSetError(
            f"{folder.name}: no qrels/{split}.tsv"
            + (
                f" (found {', '.join(found)}; choose one with --split)"
                if found
                else " (and no qrels/ folder)"
            )
        )
    gold: dict[str, set[str]] = {}
    for n, line in enumerate(_read(qrels_path).splitlines(), start=1):
        cells = line.rstrip("\n").split("\t")
        if not line.strip() or (n == 1 and cells[0].lower() in ("query-id", "query_id", "qid")):
            continue
        if len(cells) not in (3, 4):
            raise QuestionSetError(
                f"qrels/{qrels_path.name} line {n}: expected query-id, corpus-id and score"
            )
        qid, cid, score = cells[0], cells[-2], cells[-1]
        try:
            relevant = float(score) > 0
        except ValueError:
            raise QuestionSetError(
                f"qrels/{qrels_path.name} line {n}: score '{score}' is not a number"
            ) from None
        if relevant:
            gold.setdefault(qid, set()).add(cid)
    docs, unreadable = [], 0
    for n, row in _jsonl_rows(folder / "corpus.jsonl"):
        if "_id" not in row or "text" not in row:
            raise QuestionSetError(f"corpus.jsonl line {n}: a document needs '_id' and 'text'")
        try:
            doc = parse_document(str(row["text"]), str(row["_id"]))
        except IngestFileError:
            unreadable += 1
            continue
        doc.title = str(row.get("title") or "") or doc.title
        docs.append(doc)
    known = {d.source for d in docs}
    questions = []
    for n, row in _jsonl_rows(folder / "queries.jsonl"):
        if "_id" not in row or "text" not in row:
            raise QuestionSetError(f"queries.jsonl line {n}: a query needs '_id' and 'text'")
        qid = str(row["_id"])
        if qid not in gold:
            continue  # not in this split
        missing = gold[qid] - known
        if missing == gold[qid]:
            raise QuestionSetError(
                f"qrels/{qrels_path.name}: query {qid}'s gold document(s) {', '.join(sorted(missing))} are not "
                "in corpus.jsonl"
                + (f" ({unreadable} documents there had no readable text)" if unreadable else "")
            )
        text = str(row["text"])
        questions.append(Question(qid, detect_language(text), text, gold[qid] & known))
    return Dataset(folder.name, docs, questions)
