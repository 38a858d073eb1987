"""Users' question sets, configurations compared with paired tests, and the metrics checked against trec_eval."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from rag.evaluation.compare import Config, compare, document_ranking, grid, holm, load_grid, paired_test
from rag.evaluation.metrics import MRR, NDCG, RecallAtK

ROOT = Path(__file__).resolve().parents[1]
SEEDS = ROOT / "seeds"
XQUAD = ROOT.parent / "shared" / "evaldata" / "xquad" / "xquad.ar.json"


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


# ---------------------------------------------------------------- grid and statistics


def test_grid_varies_the_bm25_weight_of_hybrid_configurations_only(settings, tmp_path):
    configs = grid(settings, chunk_tokens=[128, 256], modes=["dense", "hybrid"], bm25_weights=[0.5, 1.0])
    assert len(configs) == 2 * (1 + 2)
    assert {c.bm25_weight for c in configs if c.mode == "dense"} == {settings.bm25_weight}
    toml = _write(
        tmp_path / "grid.toml",
        'baseline = "small"\n[grid]\nmodes = ["dense"]\n[[config]]\nname = "small"\nchunk_tokens = 128\n',
    )
    loaded, baseline = load_grid(toml, settings)
    assert baseline == "small" and [c.label for c in loaded][-1] == "small" and loaded[0].mode == "dense"
    with pytest.raises(ValueError, match=r"\[grid\] does not know sizes"):
        load_grid(_write(tmp_path / "bad.toml", "[grid]\nsizes = [1]\n"), settings)
    with pytest.raises(ValueError, match="unknown retrieval mode 'sparse'"):
        Config("m", 256, 1, mode="sparse")


def test_paired_test_and_holm():
    same = [random.Random(1).random() for _ in range(50)]
    assert paired_test(same, same) == 1.0
    better = [x + 0.2 for x in same]
    assert paired_test(same, better) < 0.001
    noisy = [x + random.Random(i).choice((-0.1, 0.1)) for i, x in enumerate(same)]
    assert paired_test(same, noisy) > 0.05
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])


def _trec(rankings: dict[str, list[str]], golds: dict[str, set[str]]) -> dict:
    import pytrec_eval

    qrels = {q: {d: 1 for d in g} for q, g in golds.items()}
    run = {q: {d: 1.0 / r for r, d in enumerate(ranked, start=1)} for q, ranked in rankings.items()}
    measures = {"recall_1", "recall_3", "recall_5", "recall_10", "recip_rank", "ndcg_cut_10"}
    return pytrec_eval.RelevanceEvaluator(qrels, measures).evaluate(run)


def _ours(ranked: list[str], gold: set[str]) -> dict[str, float]:
    out = {f"recall_{k}": RecallAtK(k)(ranked, gold) for k in (1, 3, 5, 10)}
    return out | {"recip_rank": MRR(10)(ranked, gold), "ndcg_cut_10": NDCG(10)(ranked, gold)}


def test_metrics_match_trec_eval_on_random_rankings():
    rng = random.Random(7)
    docs = [f"d{i}" for i in range(30)]
    rankings, golds = {}, {}
    for n in range(300):
        rankings[f"q{n}"] = rng.sample(docs, 10)
        golds[f"q{n}"] = set(rng.sample(docs, rng.choice((1, 1, 2, 3))))
    trec = _trec(rankings, golds)
    for q, ranked in rankings.items():
        assert _ours(ranked, golds[q]) == pytest.approx(trec[q], abs=1e-4), q


def test_compare_on_real_questions_matches_trec_eval_and_caches(embedder, settings, tmp_path):
    """XQuAD-ar's first three articles, four configurations: the per-question figures of the report are
    trec_eval's on the same document rankings, and a second run reuses every index and query vector."""
    from rag.evaluation.datasets import load_squad

    data = load_squad(XQUAD)
    groups = list(dict.fromkeys(q.group for q in data.questions))[:3]
    data.questions = [q for q in data.questions if q.group in groups][:60]
    gold_sources = {s for q in data.questions for s in q.gold}
    data.documents = [d for d in data.documents if d.source in gold_sources] + data.documents[-20:]
    configs = grid(settings, chunk_tokens=[128, 256], modes=["dense", "hybrid"])
    comp = compare(data, configs, settings, cache=tmp_path / "cache")
    assert comp.n_questions == 60 and len(comp.summary) == 4
    for c in configs:
        rankings = {q["id"]: q["runs"][c.label]["ranking"] for q in comp.questions}
        golds = {q["id"]: set(q["gold"]) for q in comp.questions}
        trec = _trec(rankings, golds)
        for q in comp.questions:
            s = q["runs"][c.label]["scores"]
            assert [s["R@1"], s["R@5"], s["MRR@10"], s["nDCG@10"]] == pytest.approx(
                [trec[q["id"]][m] for m in ("recall_1", "recall_5", "recip_rank", "ndcg_cut_10")], abs=1e-4
            )
        assert all(document_ranking(r) == r for r in rankings.values())
    hybrid = comp.summary[configs[1].label]["ar"]["MRR@10"]["mean"]
    assert hybrid > 0.6, "hybrid retrieval finds XQuAD's gold paragraph first most of the time"
    again = compare(data, configs, settings, cache=tmp_path / "cache")
    assert all(t["index_cached"] for t in again.timings.values())
    assert again.summary == comp.summary and again.paired == comp.paired


def test_eval_compare_command_writes_a_report_that_escapes_what_it_shows(embedder, tmp_path, capsys):
    from rag.interfaces.cli import main

    qs = _write(
        tmp_path / "qs.jsonl",
        "\n".join(
            json.dumps(row, ensure_ascii=False)
            for row in [
                {
                    "question": "<b>When</b> did Iraq and the US agree to withdraw combat forces?",
                    "answer": "1066",
                },
                {"question": "كم عدد الجنود الأمريكيين في العراق؟", "source": "001_eb0e55b8ce852041.txt"},
                {"question": "Who is the spokesman of the Iraqi commander-in-chief?", "answer": "يحيى رسول"},
            ]
        ),
    )
    out = tmp_path / "report"
    code = main(
        ["eval", "compare", "--dataset", str(qs), "--corpus", str(SEEDS), "--modes", "hybrid,bm25",
         "--cache", str(tmp_path / "cache"), "--out", str(out)]
    )  # fmt: skip
    assert code == 0
    printed = capsys.readouterr().out
    assert "hybrid w=0.5" in printed and "(baseline)" in printed and "html:" in printed
    page = (out / "comparison.html").read_text(encoding="utf-8")
    assert "&lt;b&gt;When&lt;/b&gt;" in page and "<b>When</b>" not in page
    assert '<img alt="plot" src="data:image/png;base64,' in page
    saved = json.loads((out / "comparison.json").read_text(encoding="utf-8"))
    assert {"Answer@k", "R@1"} <= set(saved["summary"][saved["baseline"]]["all"])


def test_a_stopped_comparison_ends_and_keeps_nothing(embedder, settings, tmp_path):
    import threading

    from rag.evaluation.compare import Cancelled
    from rag.evaluation.datasets import load_seed_set

    stop, seen = threading.Event(), []

    def progress(done: int, total: int, what: str) -> None:
        seen.append(done)
        if done >= 20:
            stop.set()  # the user pressed Stop part-way

    with pytest.raises(Cancelled):
        compare(
            load_seed_set(),
            grid(settings, modes=["dense", "bm25"]),
            settings,
            tmp_path / "c",
            None,
            progress,
            stop,
        )
    assert max(seen) < 2 * 56 and not (tmp_path / "report").exists()
