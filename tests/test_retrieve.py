"""Retrieval quality on the real seeds with the real EmbeddingGemma model."""

import json

import pytest

from rag.interfaces.cli import main
from rag.retrieval.hybrid import IsnadRetriever, rrf
from rag.types import Filters

PLAN_EN = "When did Iraq and the US agree on a plan to redeploy coalition forces outside the country?"
PLAN_AR = "متى اتفق العراق والولايات المتحدة على خطة لإعادة انتشار قوات التحالف خارج البلاد؟"


def top_source(hits):
    return hits[0].source.split("/")[-1][:3]


@pytest.mark.parametrize("query", [PLAN_EN, PLAN_AR])
def test_plan_question_ranks_arabi_post_june_2021_first(isnad, query):
    hits = isnad.search(query, k=5)
    assert top_source(hits) == "000"
    assert hits[0].outlet == "عربي بوست" and hits[0].date == "2021-06-05"


@pytest.mark.parametrize(
    "query,expected",
    [
        ("How many coalition soldiers are still in Iraq, and how many of them are American?", {"003", "001"}),
        ("Which unit left Iraq for a base in Kuwait?", {"003"}),
        ("What did the Pentagon say about withdrawal talks with Iraq?", {"002"}),
        ("ما نتائج الجولة الثالثة من الحوار الاستراتيجي؟", {"004"}),
        ("كم عدد الهجمات على القواعد الأمريكية خلال عام 2020؟", {"004"}),
        ("من هو الناطق باسم القائد العام للقوات المسلحة العراقية؟", {"000", "001", "002", "004"}),
    ],
)
def test_known_passages_in_both_languages(isnad, query, expected):
    assert top_source(isnad.search(query, k=3)) in expected


def test_english_question_reaches_arabic_text_only_through_dense(isnad):
    q = "Kuwait base Camp Buehring helicopters infantry unit"
    assert isnad.search(q, k=3, mode="bm25") == []  # no English word occurs in the Arabic seeds
    dense = isnad.search(q, k=3, mode="dense")
    assert top_source(dense) == "003" and dense[0].dense_rank == 1


def test_bm25_finds_exact_arabic_names(isnad):
    hits = isnad.search("الطليباوي", k=3, mode="bm25")
    assert hits and "الطليباوي" in hits[0].text


def test_filters(isnad):
    hits = isnad.search("انسحاب القوات الأمريكية", k=10, filters=Filters(outlet="عنب بلدي"))
    assert hits and {h.outlet for h in hits} == {"عنب بلدي"}
    hits = isnad.search(
        "انسحاب القوات الأمريكية", k=10, filters=Filters(date_from="2021-07-01", date_to="2021-12-31")
    )
    assert hits and {h.date for h in hits} == {"2021-08-08"}


def test_rrf_fuses_ranks():
    fused = rrf([[1, 2, 3], [3, 1]], k=60)
    assert [i for i, _ in fused] == [1, 3, 2]
    assert fused[0][1] == pytest.approx(1 / 61 + 1 / 62)


def test_bad_mode_and_empty_query(isnad):
    with pytest.raises(ValueError, match="mode"):
        isnad.search("x", mode="magic")
    with pytest.raises(ValueError, match="empty"):
        isnad.search("   ")


def test_langchain_retriever(isnad):
    retriever = IsnadRetriever(searcher=isnad.searcher, k=2)
    docs = retriever.invoke(PLAN_EN)
    assert len(docs) == 2 and docs[0].metadata["source"].endswith("000_93952b5621d37da0.txt")
    assert (
        docs[0].page_content
        == isnad.searcher.documents()[docs[0].metadata["doc_id"]].text[
            docs[0].metadata["start"] : docs[0].metadata["end"]
        ]
    )


def test_cli_search_json(isnad, settings, capsys):
    assert main(["--index-dir", str(settings.index_dir), "search", PLAN_AR, "--k", "3", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == 3
    for key in ("doc_id", "source", "title", "outlet", "date", "text", "start", "end", "score"):
        assert key in rows[0]
    assert rows[0]["source"].endswith("000_93952b5621d37da0.txt")


def test_cli_info_and_missing_index(isnad, settings, tmp_path, capsys):
    assert main(["--index-dir", str(settings.index_dir), "info", "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["documents"] == 5 and stats["model_id"].startswith("google/embeddinggemma-300m")
    assert main(["--index-dir", str(tmp_path / "none"), "search", "x"]) == 1
    assert "isnad ingest" in capsys.readouterr().err


def test_reingest_is_a_no_op(isnad, seeds_dir):
    summary = isnad.ingest([seeds_dir])
    assert len(summary.report.unchanged) == 5 and not summary.rebuilt


@pytest.mark.parametrize("bad", ["2024-13-01", "yesterday", "01/02/2024"])
def test_an_invalid_date_filter_is_refused_not_ignored(settings, bad, capsys):
    with pytest.raises(SystemExit) as stop:
        main(["--index-dir", str(settings.index_dir), "search", "انسحاب", "--date-from", bad])
    assert (
        stop.value.code == 2 and f"'{bad}' is not a date; write it as YYYY-MM-DD" in capsys.readouterr().err
    )
