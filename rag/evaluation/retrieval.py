"""Retrieval evaluation: index a dataset with the real pipeline, score every mode and k."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from tqdm import tqdm

from rag.config import Settings
from rag.evaluation.datasets import Dataset
from rag.evaluation.metrics import MRR, NDCG, EvidenceRecallAtK, RecallAtK, bootstrap_ci

DEPTH = 10


@dataclass
class RetrievalRun:
    """Per-question scores plus aggregates with 95% bootstrap intervals."""

    dataset: str
    model_id: str
    n_docs: int
    n_chunks: int
    ks: list[int]
    summary: dict  # mode -> language -> metric -> {mean, ci, n}
    per_question: list[dict]
    store: str = "folders"

    def to_dict(self) -> dict:
        return asdict(self)


def evaluate_retrieval(
    dataset: Dataset,
    settings: Settings,
    modes: list[str],
    ks: list[int],
    progress: bool = False,
    stores: tuple[str, ...] = ("folders",),
) -> list[RetrievalRun]:
    """One run per store: the dataset is embedded once, in memory ("folders"), and copied into each other
    store (``sqlite``, ``postgresql://…`` naming an empty database), so only the engines' ranking differs."""
    import tempfile

    from rag.pipeline import Isnad
    from rag.store.registry import store_kind

    base = Isnad.in_memory(dataset.documents, settings, progress)
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        for i, store in enumerate(stores):
            app = base if store == "folders" else base.copied_to(store, Path(tmp) / str(i))
            runs.append(_evaluate(app.searcher, dataset, modes, ks, progress, store_kind(store)))
    return runs


def _evaluate(
    searcher, dataset: Dataset, modes: list[str], ks: list[int], progress: bool, store: str
) -> RetrievalRun:
    questions = [q for q in dataset.questions if q.answerable]
    searcher.embed_queries([q.text for q in questions])
    metrics = [RecallAtK(k) for k in ks] + [MRR(DEPTH), NDCG(DEPTH)]
    has_evidence = any(q.evidence for q in questions)
    evidence_metrics = [EvidenceRecallAtK(k) for k in ks] if has_evidence else []
    depth = max(DEPTH, *ks)
    rows = []
    for q in tqdm(questions, desc=f"evaluating {dataset.name}", unit="q", disable=not progress):
        row = {"id": q.qid, "lang": q.lang, "question": q.text, "gold": sorted(q.gold), "scores": {}}
        for mode in modes:
            hits = _search(searcher, q.text, depth, mode)
            ranked = [h.source for h in hits]
            scores = {m.name: m(ranked, q.gold) for m in metrics}
            if q.evidence:
                scores.update({m.name: m([h.text for h in hits], q.evidence) for m in evidence_metrics})
            row["scores"][mode] = scores
            row.setdefault("top", {})[mode] = ranked[:3]
        rows.append(row)
    names = [m.name for m in metrics] + [m.name for m in evidence_metrics]
    info = searcher.store.info()
    return RetrievalRun(
        dataset.name,
        info.model_id,
        info.n_docs,
        info.n_chunks,
        ks,
        summarise(rows, modes, names),
        rows,
        store,
    )


def _search(searcher, query: str, k: int, mode: str):
    """``mode`` may carry a BM25 weight for hybrid fusion: 'hybrid:0.25' (to choose the weight)."""
    name, _, weight = mode.partition(":")
    return searcher.search(query, k=k, mode=name, bm25_weight=float(weight) if weight else None)


def summarise(rows: list[dict], modes: list[str], names: list[str]) -> dict:
    langs = sorted({r["lang"] for r in rows})
    out: dict = {}
    for mode in modes:
        out[mode] = {}
        for lang in langs + (["all"] if len(langs) > 1 else []):
            subset = [r for r in rows if lang == "all" or r["lang"] == lang]
            out[mode][lang] = {}
            for name in names:
                values = [r["scores"][mode][name] for r in subset if name in r["scores"][mode]]
                if not values:
                    continue
                lo, hi = bootstrap_ci(values)
                out[mode][lang][name] = {
                    "mean": round(sum(values) / len(values), 4),
                    "ci95": [round(lo, 4), round(hi, 4)],
                    "n": len(values),
                }
    return out


def table(run: RetrievalRun) -> str:
    """Markdown table: one row per mode and language, mean [95% CI]."""
    names = list(next(iter(next(iter(run.summary.values())).values())).keys())
    lines = ["| mode | lang | n | " + " | ".join(names) + " |", "|---" * (len(names) + 3) + "|"]
    for mode, by_lang in run.summary.items():
        for lang, metrics in by_lang.items():
            n = next(iter(metrics.values()))["n"]
            cells = [f"{m['mean']:.3f} [{m['ci95'][0]:.2f}, {m['ci95'][1]:.2f}]" for m in metrics.values()]
            lines.append(f"| {mode} | {lang} | {n} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def write_report(run: RetrievalRun, out_dir: Path) -> dict[str, Path]:
    """JSON (everything), Markdown (table + chart) and a PNG bar chart."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir.mkdir(parents=True, exist_ok=True)
    stem = run.dataset.replace("/", "_").replace(">", "") + (
        "" if run.store == "folders" else f".{run.store}"
    )
    paths = {"json": out_dir / f"{stem}.json", "md": out_dir / f"{stem}.md", "png": out_dir / f"{stem}.png"}
    paths["json"].write_text(json.dumps(run.to_dict(), ensure_ascii=False, indent=1), encoding="utf-8")

    shown = [f"Recall@{k}" for k in run.ks[:3]] + ["MRR@10"]
    groups = [(mode, lang) for mode, by in run.summary.items() for lang in by]
    fig, ax = plt.subplots(figsize=(max(6, 1.3 * len(groups)), 4))
    width = 0.8 / len(shown)
    for j, name in enumerate(shown):
        means = [run.summary[m][lang].get(name, {}).get("mean", 0) for m, lang in groups]
        errs = [
            [
                means[i] - run.summary[m][lang].get(name, {}).get("ci95", [0, 0])[0]
                for i, (m, lang) in enumerate(groups)
            ],
            [
                run.summary[m][lang].get(name, {}).get("ci95", [0, 0])[1] - means[i]
                for i, (m, lang) in enumerate(groups)
            ],
        ]
        ax.bar([i + j * width for i in range(len(groups))], means, width, yerr=errs, capsize=2, label=name)
    ax.set_xticks([i + width * (len(shown) - 1) / 2 for i in range(len(groups))])
    ax.set_xticklabels([f"{m}\n{lang}" for m, lang in groups], fontsize=8)
    ax.set_ylim(0, 1.05)
    ax.set_title(f"{run.dataset}: {run.n_docs} documents, {run.n_chunks} chunks")
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(paths["png"], dpi=110)
    plt.close(fig)

    paths["md"].write_text(
        f"# Retrieval evaluation: {run.dataset}\n\nModel `{run.model_id}`; {run.n_docs} documents, "
        f"{run.n_chunks} chunks; mean over questions with 95% bootstrap intervals (1000 resamples, seed 0).\n\n"
        f"{table(run)}\n\n![chart]({paths['png'].name})\n",
        encoding="utf-8",
    )
    return paths
