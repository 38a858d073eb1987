"""Configurations compared on the same questions, with intervals and paired tests against a baseline.

A configuration is what a user can change about retrieval: the embedding model, the chunk size and overlap
(each needs its own index), the retrieval mode, the BM25 weight, how many chunks are retrieved, and the
store engine. Each index is built once per (corpus, model, chunker) and kept in a cache folder, and so are
the questions' vectors, so a second run only searches.

Ranking metrics are computed on the *document* ranking (each document at the place of its best chunk), as
trec_eval and BEIR do: a configuration with small chunks is not penalised because three windows of one
wrong article fill the top places. Evidence and answer recall are read from the text of the first k chunks.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import threading
import time
import tomllib
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from rag.config import Settings
from rag.evaluation.datasets import Dataset, Question
from rag.evaluation.metrics import MRR, NDCG, EvidenceRecallAtK, RecallAtK, bootstrap_ci, normalize_answer
from rag.retrieval.hybrid import MODES

RANK_CUTOFFS = (1, 3, 5, 10)
DEPTH = 10  # documents ranked per question (MRR@10, nDCG@10)
SNIPPET = 280  # characters of each retrieved chunk kept for the drill-down
Progress = Callable[[int, int, str], None]


class Cancelled(Exception):
    """The user stopped the comparison; what was finished is discarded."""


@dataclass(frozen=True)
class Config:
    """One retrieval configuration; the first four fields choose the index, the rest how it is searched."""

    embedding_model: str
    chunk_tokens: int
    chunk_overlap: int
    store: str = "folders"
    mode: str = "hybrid"
    bm25_weight: float = 0.5
    k: int = 5
    name: str = ""

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"unknown retrieval mode '{self.mode}'; use one of {', '.join(MODES)}")
        if self.chunk_tokens < 16 or self.k < 1 or self.chunk_overlap < 0 or self.bm25_weight < 0:
            raise ValueError(f"configuration {self.label}: chunk size ≥ 16, k ≥ 1, overlap and weight ≥ 0")

    @property
    def label(self) -> str:
        if self.name:
            return self.name
        model = self.embedding_model.rsplit("/", 1)[-1]
        mode = f"hybrid w={self.bm25_weight:g}" if self.mode == "hybrid" else self.mode
        store = "" if self.store == "folders" else f" · {self.store.split('://')[0]}"
        return f"{mode} · {self.chunk_tokens} tok/{self.chunk_overlap} · k={self.k} · {model}{store}"

    def index_key(self) -> tuple[str, int, int, str]:
        return (self.embedding_model, self.chunk_tokens, self.chunk_overlap, self.store)

    def settings(self, base: Settings) -> Settings:
        return base.model_copy(
            update={
                "embedding_model": self.embedding_model,
                "chunk_tokens": self.chunk_tokens,
                "chunk_overlap_sentences": self.chunk_overlap,
                "bm25_weight": self.bm25_weight,
            }
        )


def grid(
    base: Settings,
    models: list[str] | None = None,
    chunk_tokens: list[int] | None = None,
    overlaps: list[int] | None = None,
    modes: list[str] | None = None,
    bm25_weights: list[float] | None = None,
    ks: list[int] | None = None,
    stores: list[str] | None = None,
) -> list[Config]:
    """Every combination of the values given (the settings' own value where none is); a BM25 weight
    varies hybrid configurations only. The first configuration is the baseline."""
    configs: list[Config] = []
    for model, tokens, overlap, store, mode, k in itertools.product(
        models or [base.embedding_model],
        chunk_tokens or [base.chunk_tokens],
        overlaps if overlaps is not None else [base.chunk_overlap_sentences],
        stores or ["folders"],
        modes or [base.retrieval_mode],
        ks or [base.top_k],
    ):
        for weight in (bm25_weights or [base.bm25_weight]) if mode == "hybrid" else [base.bm25_weight]:
            c = Config(model, tokens, overlap, store, mode, weight, k)
            if c not in configs:
                configs.append(c)
    return configs


def load_grid(path: Path, base: Settings) -> tuple[list[Config], str | None]:
    """A TOML file with a ``[grid]`` table of lists (as the command line takes) and/or ``[[config]]``
    entries; ``baseline = "name"`` picks the baseline (otherwise the first configuration)."""
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise ValueError(f"{path}: not a readable TOML file ({e})") from None
    configs: list[Config] = []
    if "grid" in data:
        g = data["grid"]
        unknown = set(g) - {"models", "chunk_tokens", "overlaps", "modes", "bm25_weights", "ks", "stores"}
        if unknown:
            raise ValueError(f"{path}: [grid] does not know {', '.join(sorted(unknown))}")
        configs += grid(base, **{key: list(value) for key, value in g.items()})
    for n, entry in enumerate(data.get("config", []), start=1):
        try:
            configs.append(
                Config(
                    entry.get("embedding_model", base.embedding_model),
                    int(entry.get("chunk_tokens", base.chunk_tokens)),
                    int(entry.get("chunk_overlap", base.chunk_overlap_sentences)),
                    entry.get("store", "folders"),
                    entry.get("mode", base.retrieval_mode),
                    float(entry.get("bm25_weight", base.bm25_weight)),
                    int(entry.get("k", base.top_k)),
                    entry.get("name", ""),
                )
            )
        except (TypeError, ValueError) as e:
            raise ValueError(f"{path}: [[config]] number {n}: {e}") from None
    if not configs:
        raise ValueError(f"{path}: no [grid] table and no [[config]] entries")
    return configs, data.get("baseline")


# ---------------------------------------------------------------- metrics of one question


def document_ranking(sources: list[str]) -> list[str]:
    """Each document once, at the place of its best chunk."""
    return list(dict.fromkeys(sources))


def answer_found(texts: list[str], answers: list[str]) -> float:
    """1 when a gold answer (normalised as for EM) is inside one of the texts."""
    wanted = [f" {normalize_answer(a)} " for a in answers if normalize_answer(a)]
    window = [f" {normalize_answer(t)} " for t in texts]
    return float(any(a in t for a in wanted for t in window))


def scores_of(q: Question, ranking: list[str], texts: list[str], k: int) -> dict[str, float]:
    """Every metric the question's gold allows: ranking metrics with gold documents, evidence and answer
    recall over the first k chunks when the question has them."""
    out: dict[str, float] = {}
    if q.gold:
        for c in RANK_CUTOFFS:
            out[f"R@{c}"] = RecallAtK(c)(ranking, q.gold)
        out["MRR@10"] = MRR(DEPTH)(ranking, q.gold)
        out["nDCG@10"] = NDCG(DEPTH)(ranking, q.gold)
    if q.evidence:
        out["Evidence@k"] = EvidenceRecallAtK(k)(texts, q.evidence)
    if q.answers:
        out["Answer@k"] = answer_found(texts[:k], q.answers)
    return out


METRICS = tuple(f"R@{c}" for c in RANK_CUTOFFS) + ("MRR@10", "nDCG@10", "Evidence@k", "Answer@k")


# ---------------------------------------------------------------- paired statistics


def paired_test(a: list[float], b: list[float], rounds: int = 10000, seed: int = 0) -> float:
    """Two-sided p-value of a paired randomisation (sign-flip) test of mean(b - a) = 0."""
    d = np.asarray(b, dtype=float) - np.asarray(a, dtype=float)
    if not len(d) or not d.any():
        return 1.0
    observed = abs(d.mean())
    signs = np.random.default_rng(seed).choice((-1.0, 1.0), size=(rounds, len(d)))
    return float(((np.abs((signs * d).mean(axis=1)) >= observed - 1e-12).sum() + 1) / (rounds + 1))


def holm(pvalues: list[float]) -> list[float]:
    """Holm–Bonferroni adjusted p-values (several configurations are tested against one baseline)."""
    order = sorted(range(len(pvalues)), key=lambda i: pvalues[i])
    adjusted, running = [0.0] * len(pvalues), 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (len(pvalues) - rank) * pvalues[i]))
        adjusted[i] = running
    return adjusted


# ---------------------------------------------------------------- the comparison


@dataclass
class Comparison:
    """Everything a report shows: per configuration and language each metric's mean and interval, each
    configuration's paired difference from the baseline, and every question's ranked chunks."""

    dataset: str
    n_docs: int
    n_questions: int
    configs: list[dict]
    baseline: str
    summary: dict  # config label -> lang -> metric -> {mean, ci95, n}
    paired: dict  # config label -> lang -> metric -> {diff, ci95, p, p_holm, verdict}
    questions: list[
        dict
    ]  # id, lang, question, gold, evidence, answers, runs: label -> {scores, gold_rank, hits}
    timings: dict  # config label -> {index_s, index_cached, search_s}
    langs: list[str] = field(default_factory=list)
    chunks: dict = field(default_factory=dict)  # "source@start" -> {source, title, text}: what hits name

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> Comparison:
        return cls(**data)

    def metrics(self) -> list[str]:
        seen = {m for by in self.summary.values() for ms in by.values() for m in ms}
        return [m for m in METRICS if m in seen]

    def failures(self, label: str | None = None, metric: str | None = None) -> list[dict]:
        """Questions the configuration misses: the gold document not first (R@1 below 1), or, without gold
        documents, the evidence or answer not in the first k chunks; worst first."""
        label = label or self.baseline
        failed = []
        for q in self.questions:
            s = q["runs"][label]["scores"]
            key = metric or ("R@1" if "R@1" in s else "Evidence@k" if "Evidence@k" in s else "Answer@k")
            if key in s and s[key] < 1:
                failed.append((s.get("MRR@10", s[key]), q))
        return [q for _, q in sorted(failed, key=lambda x: x[0])]


class IndexCache:
    """Indexes of a corpus, one per (model, chunker), and query vectors per model, kept in a folder."""

    def __init__(self, folder: Path | None):
        self.folder = Path(folder) if folder else None

    def _key(self, settings: Settings, model_id: str, docs: list) -> str:
        corpus = sorted((d.doc_id, d.source) for d in docs)
        raw = json.dumps([model_id, settings.embedding_dtype, asdict(settings.chunker()), corpus])
        return hashlib.sha256(raw.encode()).hexdigest()[:20]

    def index(self, settings: Settings, dataset: Dataset, progress: bool):
        """(the folder index of this corpus under these settings, whether it came from the cache)."""
        from rag.models.embedder import load_embedder
        from rag.store.folders import SearchIndex
        from rag.store.lock import writer_lock

        embedder = load_embedder(settings, progress)
        if self.folder is None:
            index = SearchIndex(embedder.model_id, embedder.dim, settings.chunker())
            index.add(dataset.documents, embedder, progress)
            return index, False
        place = self.folder / self._key(settings, embedder.model_id, dataset.documents)
        with writer_lock(place):
            if (place / "CURRENT").exists():
                return SearchIndex.load(place), True
            index = SearchIndex(embedder.model_id, embedder.dim, settings.chunker())
            index.add(dataset.documents, embedder, progress)
            index.save(place)
        return index, False

    def embed_queries(self, searcher, questions: list[str]) -> None:
        """Fill the searcher's query vectors, from the cache where this model embedded them before."""
        if self.folder is None:
            searcher.embed_queries(questions)
            return
        model = hashlib.sha256(searcher.embedder.model_id.encode()).hexdigest()[:12]
        path = self.folder / f"queries-{model}.npz"
        known: dict[str, np.ndarray] = {}
        if path.exists():
            with np.load(path) as data:
                known = dict(zip(data["keys"].tolist(), data["vectors"]))
        keys = [hashlib.sha256(q.encode()).hexdigest() for q in questions]
        todo = [q for q, key in zip(questions, keys) if key not in known]
        searcher.embed_queries(todo)
        for q, key in zip(questions, keys):
            if key in known:
                searcher._remember(q, known[key])
            else:
                known[key] = searcher._query_vector(q)
        if todo:
            self.folder.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp.npz")
            np.savez(tmp, keys=np.array(list(known)), vectors=np.stack(list(known.values())))
            tmp.replace(path)


def compare(
    dataset: Dataset,
    configs: list[Config],
    settings: Settings,
    cache: Path | None = None,
    baseline: str | None = None,
    on_progress: Progress | None = None,
    cancel: threading.Event | None = None,
    progress: bool = False,
) -> Comparison:
    """Run every configuration on every question and compare each with the baseline (the first unless named)."""
    import tempfile

    from rag.pipeline import Isnad
    from rag.retrieval.hybrid import Searcher

    if not configs:
        raise ValueError("no configuration to compare")
    labels = [c.label for c in configs]
    if len(set(labels)) != len(labels):
        raise ValueError("two configurations have the same name")
    base_label = baseline or labels[0]
    if base_label not in labels:
        raise ValueError(f"baseline '{base_label}' is none of the configurations: {', '.join(labels)}")
    questions = [q for q in dataset.questions if q.gold or q.evidence or q.answers]
    if not questions:
        raise ValueError(f"{dataset.name}: no question has a gold document, evidence or answer")
    cached = IndexCache(cache)
    rows = [
        {
            "id": q.qid,
            "lang": q.lang,
            "question": q.text,
            "gold": sorted(q.gold),
            "evidence": q.evidence,
            "answers": q.answers,
            "runs": {},
        }
        for q in questions
    ]
    timings: dict[str, dict] = {}
    chunks: dict[str, dict] = {}  # each retrieved chunk's text once, however many runs retrieved it
    total, done = len(configs) * len(questions), 0
    with tempfile.TemporaryDirectory() as tmp:
        for key, group in itertools.groupby(sorted(configs, key=Config.index_key), key=Config.index_key):
            group = list(group)
            s = group[0].settings(settings)
            started = time.perf_counter()
            if on_progress:
                on_progress(done, total, f"indexing {len(dataset.documents)} documents for {group[0].label}")
            index, was_cached = cached.index(s, dataset, progress)
            reader = index
            if key[3] != "folders":
                app = Isnad(s.model_copy(update={"store": "folders"}))
                app._index = index
                reader = app.copied_to(key[3], Path(tmp) / hashlib.sha1(repr(key).encode()).hexdigest()).index
            searcher = Searcher(reader, Isnad(s).embedder, s.rrf_k, s.candidates)
            cached.embed_queries(searcher, [q.text for q in questions])
            index_s = time.perf_counter() - started
            for config in group:
                started = time.perf_counter()
                for q, row in zip(questions, rows):
                    if cancel is not None and cancel.is_set():
                        raise Cancelled("stopped")
                    row["runs"][config.label] = _run(searcher, q, config, chunks)
                    done += 1
                    if on_progress and done % 10 == 0:
                        on_progress(done, total, config.label)
                timings[config.label] = {
                    "index_s": round(index_s, 2),
                    "index_cached": was_cached,
                    "search_s": round(time.perf_counter() - started, 2),
                }
    comp = _compared(dataset, configs, base_label, rows, timings)
    comp.chunks = chunks
    return comp


def _run(searcher, q: Question, config: Config, chunks: dict[str, dict]) -> dict:
    hits = searcher.search(q.text, max(DEPTH * 3, config.k), config.mode, bm25_weight=config.bm25_weight)
    ranking = document_ranking([h.source for h in hits])[:DEPTH]
    texts = [h.text for h in hits]
    gold_rank = next((r for r, doc in enumerate(ranking, start=1) if doc in q.gold), None)
    shown = hits[: max(config.k, DEPTH)]
    for h in shown:
        chunks.setdefault(
            f"{h.source}@{h.start}", {"source": h.source, "title": h.title, "text": h.text[:SNIPPET]}
        )
    return {
        "scores": scores_of(q, ranking, texts, config.k),
        "gold_rank": gold_rank,
        "ranking": ranking,
        "hits": [
            {
                "rank": h.rank,
                "chunk": f"{h.source}@{h.start}",
                "fused": h.score,
                "dense_rank": h.dense_rank,
                "dense": h.dense_score,
                "bm25_rank": h.bm25_rank,
                "bm25": h.bm25_score,
                "gold": h.source in q.gold
                or bool(q.evidence and EvidenceRecallAtK(1)([h.text], q.evidence))
                or bool(q.answers and answer_found([h.text], q.answers)),
            }
            for h in shown
        ],
    }


def _compared(
    dataset: Dataset, configs: list[Config], base: str, rows: list[dict], timings: dict
) -> Comparison:
    langs = sorted({r["lang"] for r in rows})
    groups = langs + (["all"] if len(langs) > 1 else [])
    labels = [c.label for c in configs]
    summary: dict = {}
    for label in labels:
        summary[label] = {}
        for lang in groups:
            subset = [r for r in rows if lang == "all" or r["lang"] == lang]
            summary[label][lang] = {}
            for metric in METRICS:
                values = [
                    r["runs"][label]["scores"][metric] for r in subset if metric in r["runs"][label]["scores"]
                ]
                if values:
                    lo, hi = bootstrap_ci(values)
                    summary[label][lang][metric] = {
                        "mean": round(float(np.mean(values)), 4),
                        "ci95": [round(lo, 4), round(hi, 4)],
                        "n": len(values),
                    }
    paired: dict = {label: {lang: {} for lang in groups} for label in labels if label != base}
    for lang in groups:
        subset = [r for r in rows if lang == "all" or r["lang"] == lang]
        for metric in METRICS:
            tests = []
            for label in paired:
                pairs = [
                    (r["runs"][base]["scores"][metric], r["runs"][label]["scores"][metric])
                    for r in subset
                    if metric in r["runs"][base]["scores"]
                ]
                if pairs:
                    a, b = [p[0] for p in pairs], [p[1] for p in pairs]
                    diff = [y - x for x, y in pairs]
                    lo, hi = bootstrap_ci(diff)
                    wins = sum(d > 0 for d in diff)
                    losses = sum(d < 0 for d in diff)
                    tests.append((label, float(np.mean(diff)), lo, hi, paired_test(a, b), wins, losses))
            for (label, diff, lo, hi, p, wins, losses), p_holm in zip(tests, holm([t[4] for t in tests])):
                verdict = "no clear difference"
                if p_holm < 0.05:
                    verdict = "better" if diff > 0 else "worse"
                paired[label][lang][metric] = {
                    "diff": round(diff, 4),
                    "ci95": [round(lo, 4), round(hi, 4)],
                    "p": round(p, 4),
                    "p_holm": round(p_holm, 4),
                    "wins": wins,
                    "losses": losses,
                    "verdict": verdict,
                }
    return Comparison(
        dataset.name,
        len(dataset.documents),
        len(rows),
        [{**asdict(c), "label": c.label} for c in configs],
        base,
        summary,
        paired,
        rows,
        timings,
        groups,
    )


def with_name(config: Config, name: str) -> Config:
    """The same configuration under a name of the user's choosing (presets in the app)."""
    return replace(config, name=name)
