"""Question sets for evaluation: the project's seed set and any SQuAD v1.1 file.

A dataset is documents plus questions whose gold is a set of document *sources*
(file names for the seeds, ``file#paragraph`` for SQuAD), so gold survives
re-ingestion, whatever the content-derived ids are.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from rag.data import PROJECT_ROOT
from rag.errors import IngestFileError
from rag.ingest.files import ingest_paths, parse_document
from rag.text.arabic import detect_language
from rag.types import Document

REPO = PROJECT_ROOT
SEED_QA = REPO / "eval" / "data" / "seeds_qa.jsonl"
SEED_KEY_FACTS = REPO / "eval" / "data" / "seeds_key_facts.json"
SEEDS_DIR = REPO / "seeds"


@dataclass
class Question:
    qid: str
    lang: str
    text: str
    gold: set[str]  # gold document sources
    evidence: list[str] = field(default_factory=list)
    answer: dict[str, str] = field(default_factory=dict)
    key_terms: list[str] = field(default_factory=list)
    qtype: str = ""
    answers: list[str] = field(default_factory=list)  # every gold short answer (SQuAD sets)
    group: str = ""  # the article the gold paragraph belongs to (SQuAD title)

    @property
    def answerable(self) -> bool:
        return bool(self.gold)


@dataclass
class Dataset:
    name: str
    documents: list[Document]
    questions: list[Question]


def load_seed_set(path: Path = SEED_QA, seeds_dir: Path = SEEDS_DIR) -> Dataset:
    result = ingest_paths([seeds_dir])
    docs = result.documents
    by_name = {Path(d.source).name: d.source for d in docs}
    questions = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        row = json.loads(line)
        questions.append(
            Question(
                row["id"],
                row["lang"],
                row["question"],
                {by_name[g] for g in row["gold"]},
                row["evidence"],
                row["answer"],
                row.get("key_terms", []),
                row.get("type", ""),
            )
        )
    return Dataset("seeds", docs, questions)


def _squad_rows(path: Path) -> list[tuple[str, str, int, dict]]:
    """(title, context, paragraph number, qa) for every question of a SQuAD v1.1 file."""
    rows, n = [], 0
    try:
        for article in json.loads(Path(path).read_text(encoding="utf-8"))["data"]:
            for para in article["paragraphs"]:
                for qa in para["qas"]:
                    rows.append((article.get("title", ""), para["context"], n, qa))
                n += 1
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ValueError(f"{path} is not a readable SQuAD v1.1 file ({type(e).__name__}: {e})") from None
    return rows


def load_squad(
    path: Path, questions_from: Path | None = None, question_lang: str | None = None, limit: int | None = None
) -> Dataset:
    """Each distinct context is a document; a question's gold is its own context.

    With ``questions_from`` (a parallel file, e.g. XQuAD in another language), the
    questions come from that file and are matched to this file's contexts by id.
    """
    path = Path(path)
    rows = _squad_rows(path)
    docs: dict[str, Document] = {}
    source_of_context: dict[str, str] = {}
    gold_of_id: dict[str, str] = {}
    title_of_id: dict[str, str] = {}
    for title, context, n, qa in rows:
        if context not in source_of_context:
            source = f"{path.name}#{n}"
            try:
                doc = parse_document(context, source)
            except IngestFileError:
                continue
            doc.title = title or doc.title
            if doc.doc_id not in docs:
                docs[doc.doc_id] = doc
            source_of_context[context] = docs[doc.doc_id].source
        if context in source_of_context:
            gold_of_id[qa["id"]] = source_of_context[context]
            title_of_id[qa["id"]] = title
    qrows = _squad_rows(Path(questions_from)) if questions_from else rows
    questions = []
    for _, _, _, qa in qrows:
        if qa["id"] not in gold_of_id:
            continue
        answers = [a["text"].strip() for a in qa.get("answers", [])]
        text = qa["question"].strip(" -")
        questions.append(
            Question(
                qa["id"],
                question_lang or detect_language(text),
                text,
                {gold_of_id[qa["id"]]},
                answer={"ref": answers[0]} if answers else {},
                answers=answers,
                group=title_of_id.get(qa["id"], ""),
            )
        )
        if limit and len(questions) >= limit:
            break
    name = path.stem if not questions_from else f"{Path(questions_from).stem}->{path.stem}"
    return Dataset(name, list(docs.values()), questions)


def subset(dataset: Dataset, articles: str = "all", limit: int | None = None, seed: int = 13) -> Dataset:
    """Only the even or odd articles (in file order: fit on one half, report on the other), then a fixed
    random sample of ``limit`` questions, the same every run."""
    import random

    if articles != "all":
        order = {g: i for i, g in enumerate(dict.fromkeys(q.group for q in dataset.questions))}
        dataset.questions = [q for q in dataset.questions if order[q.group] % 2 == (articles == "odd")]
        dataset.name += f"[{articles} articles]"
    if limit and limit < len(dataset.questions):
        dataset.questions = random.Random(seed).sample(dataset.questions, limit)
    return dataset
