"""Users' question sets: CSV, JSONL and BEIR read into one dataset; malformed rows refused with their line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rag.errors import QuestionSetError
from rag.evaluation.questionsets import load_question_set
from rag.ingest.files import ingest_paths

SEEDS = Path(__file__).resolve().parents[1] / "seeds"


@pytest.fixture(scope="module")
def seed_docs():
    return ingest_paths([SEEDS]).documents


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_csv_rows_resolve_sources_evidence_and_answers(tmp_path, seed_docs):
    name = Path(seed_docs[0].source).name
    evidence = seed_docs[1].body().split("\n")[1][:80]
    qs = _write(
        tmp_path / "qs.csv",
        "question,answer,source,evidence\n"
        f'"When did it happen?\nasked on two lines",26 July 2021 | 26/7/2021,{name},\n'
        f"من أعلن ذلك؟,,,{evidence}\n"
        "How many troops remain?,2500,,\n",
    )
    data = load_question_set(qs, seed_docs)
    first, second, third = data.questions
    assert first.text.startswith("When did it happen?\nasked") and first.gold == {seed_docs[0].source}
    assert first.answers == ["26 July 2021", "26/7/2021"] and first.lang == "en"
    assert second.gold == {seed_docs[1].source} and second.lang == "ar" and second.evidence == [evidence]
    assert third.gold == set() and third.answers == ["2500"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("answer,source\n1,x\n", "line 1: the header has no 'question' column (found: answer, source)"),
        ("question,answer\n,5\n", "qs.csv line 2: no question"),
        ("question,source\nWhy?,missing.txt\n", "qs.csv line 2: source 'missing.txt' is no document"),
        (
            "question,evidence\nWhy?,نص لا يوجد في أي مقال\n",
            "qs.csv line 2: the evidence text is in no document",
        ),
        ("question\nWhy?\n", "qs.csv line 2: nothing to score the question by"),
        ("question,answer\nWhy?,1,extra\n", "qs.csv line 2: more cells than the header has columns"),
    ],
)
def test_malformed_csv_rows_are_refused_with_their_line(tmp_path, seed_docs, text, message):
    with pytest.raises(
        QuestionSetError, match=message.replace("?", r"\?").replace("(", r"\(").replace(")", r"\)")
    ):
        load_question_set(_write(tmp_path / "qs.csv", text), seed_docs)


def test_jsonl_errors_name_the_line_and_a_set_without_corpus_is_refused(tmp_path, seed_docs):
    qs = _write(tmp_path / "qs.jsonl", '{"question": "Why?", "answer": ["x"]}\n\n{"question": "When?",\n')
    with pytest.raises(QuestionSetError, match=r"qs.jsonl line 3: not valid JSON"):
        load_question_set(qs, seed_docs)
    with pytest.raises(QuestionSetError, match="scored against a corpus"):
        load_question_set(qs, None)
    _write(qs, '["not", "an", "object"]\n')
    with pytest.raises(QuestionSetError, match="line 1: expected an object"):
        load_question_set(qs, seed_docs)
    with pytest.raises(QuestionSetError, match="cannot tell the format"):
        load_question_set(_write(tmp_path / "qs.txt", "x"), seed_docs)


def _beir(folder: Path, seed_docs, qrels: str) -> Path:
    (folder / "qrels").mkdir(parents=True)
    _write(
        folder / "corpus.jsonl",
        "\n".join(
            json.dumps({"_id": f"d{i}", "title": d.title, "text": d.body()}, ensure_ascii=False)
            for i, d in enumerate(seed_docs)
        ),
    )
    _write(
        folder / "queries.jsonl",
        '{"_id": "q1", "text": "متى اتفق العراق والولايات المتحدة على انسحاب القوات القتالية؟"}\n'
        '{"_id": "q2", "text": "unused"}\n',
    )
    _write(folder / "qrels" / "test.tsv", qrels)
    return folder


def test_beir_layout_reads_corpus_queries_and_qrels(tmp_path, seed_docs):
    folder = _beir(tmp_path / "beir", seed_docs, "query-id\tcorpus-id\tscore\nq1\td2\t1\nq1\td3\t0\n")
    data = load_question_set(folder)
    assert len(data.documents) == len(seed_docs) and [q.qid for q in data.questions] == ["q1"]
    assert data.questions[0].gold == {"d2"} and data.questions[0].lang == "ar"
    with pytest.raises(
        QuestionSetError, match="no qrels/dev.tsv \\(found test.tsv; choose one with --split\\)"
    ):
        load_question_set(folder, split="dev")
    bad = _beir(tmp_path / "bad", seed_docs, "q1\td2\tmany\n")
    with pytest.raises(QuestionSetError, match="qrels/test.tsv line 1: score 'many' is not a number"):
        load_question_set(bad)
    missing = _beir(tmp_path / "missing", seed_docs, "q1\td99\t1\n")
    with pytest.raises(QuestionSetError, match="query q1's gold document\\(s\\) d99 are not in corpus.jsonl"):
        load_question_set(missing)


def test_the_seed_question_file_reads_as_a_jsonl_set(tmp_path, seed_docs):
    """The project's own seed questions (gold file names, evidence lists, answers per language) are a
    JSONL set as a user would write one."""
    root = Path(__file__).resolve().parents[1]
    rows = [json.loads(line) for line in (root / "eval/data/seeds_qa.jsonl").read_text().splitlines() if line]
    answerable = [r for r in rows if r["gold"]]
    qs = _write(
        tmp_path / "seeds.jsonl", "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in answerable)
    )
    data = load_question_set(qs, seed_docs)
    assert len(data.questions) == len(answerable)
    first = data.questions[0]
    assert first.gold == {d.source for d in seed_docs if Path(d.source).name == answerable[0]["gold"][0]}
    assert set(first.answers) == set(answerable[0]["answer"].values())


def test_a_beir_folder_uploaded_as_zip_is_unpacked_by_name_only(tmp_path, seed_docs):
    """The app takes a BEIR folder as a .zip: only corpus.jsonl, queries.jsonl and qrels/*.tsv are taken,
    by their names, wherever the archive puts them (a path climbing out of the folder goes nowhere)."""
    import io
    import zipfile

    from rag.interfaces.workbench import unpacked

    folder = _beir(tmp_path / "src", seed_docs, "q1\td2\t1\n")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.write(folder / "corpus.jsonl", "my-set/corpus.jsonl")
        z.write(folder / "queries.jsonl", "../../queries.jsonl")
        z.write(folder / "qrels" / "test.tsv", "my-set/qrels/test.tsv")
        z.writestr("../../../etc/evil.sh", "echo hi")
    out = tmp_path / "out"
    out.mkdir()
    root = unpacked(buf.getvalue(), "set.zip", out)
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()) == [
        "beir/corpus.jsonl",
        "beir/qrels/test.tsv",
        "beir/queries.jsonl",
    ]
    assert [q.qid for q in load_question_set(root).questions] == ["q1"]
    with pytest.raises(QuestionSetError, match="not a readable .zip"):
        unpacked(b"not a zip", "set.zip", tmp_path)
