"""Index build throughput vs raw encoding, query latency per mode, peak memory.

    python benchmarks/bench_index.py [--synthetic 10000]

Build throughput (chunks/s) is printed next to the raw sentence-transformers encode
throughput of the very same chunk texts: their ratio is the pipeline's overhead.
Query latency includes embedding the query. The synthetic corpus reuses seed
sentences (real BM25 statistics) and perturbed seed vectors (real dimensionality).
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from rag.config import Settings  # noqa: E402
from rag.evaluation.metrics import percentile  # noqa: E402
from rag.models.embedder import load_embedder  # noqa: E402
from rag.pipeline import Isnad  # noqa: E402
from rag.retrieval.hybrid import MODES, Searcher  # noqa: E402
from rag.store.folders import SearchIndex  # noqa: E402
from rag.types import Chunk, Document  # noqa: E402

QUERIES = [
    "When did Iraq and the US agree on a plan to redeploy coalition forces outside the country?",
    "متى اتفق العراق والولايات المتحدة على خطة لإعادة انتشار قوات التحالف؟",
    "How many American troops remain in Iraq?",
    "ما موقف البنتاغون من الانسحاب من العراق؟",
    "Which unit moved to Kuwait?",
    "من هدد باستهداف المصالح الأمريكية؟",
]


def latency(searcher: Searcher, rounds: int) -> dict[str, tuple[float, float]]:
    out = {}
    for mode in MODES:
        times = []
        for _ in range(rounds):
            for q in QUERIES:
                t = time.perf_counter()
                searcher.search(q, k=5, mode=mode)
                times.append((time.perf_counter() - t) * 1000)
        out[mode] = (statistics.median(times), percentile(times, 0.95))
    return out


def synthetic(index: SearchIndex, n: int, seed: int = 0) -> SearchIndex:
    rng = np.random.default_rng(seed)
    rnd = random.Random(seed)
    sentences = [index.docs[c.doc_id].text[a:b] for c in index.chunks for a, b in c.sentences]
    big = SearchIndex(index.model_id, index.dim, index.chunker)
    doc = Document("synthetic", "synthetic", "", "synthetic", None, None, "ar", [])
    big.docs = {"synthetic": doc}
    for i in range(n):
        text = " ".join(rnd.sample(sentences, 3))
        big.chunks.append(Chunk(f"synthetic:{i}", "synthetic", 0, len(text), text, [(0, len(text))], 0))
    base = index.vectors[rng.integers(0, len(index.vectors), n)]
    noisy = base + rng.normal(0, 0.05, base.shape).astype(np.float32)
    big.vectors = (noisy / np.linalg.norm(noisy, axis=1, keepdims=True)).astype(np.float32)
    return big


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--synthetic", type=int, default=10_000)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(index_dir=Path(tmp) / "index")
        t = time.perf_counter()
        embedder = load_embedder(settings)
        print(f"model load: {time.perf_counter() - t:.1f} s ({embedder.model_id})")

        app = Isnad(settings)
        t = time.perf_counter()
        app.ingest([ROOT / "seeds"])
        build_s = time.perf_counter() - t
        index = app.index
        n = len(index.chunks)
        print(
            f"seed index build (clean, chunk, embed, save): {n} chunks in {build_s:.2f} s = {n / build_s:.1f} chunks/s"
        )

        texts = [c.text for c in index.chunks]
        titles = [index.docs[c.doc_id].title for c in index.chunks]
        t = time.perf_counter()
        embedder.embed_documents(texts, titles)
        raw_s = time.perf_counter() - t
        print(
            f"raw sentence-transformers encode of the same chunks: {n / raw_s:.1f} chunks/s "
            f"(pipeline overhead x{build_s / raw_s:.2f})"
        )

        for name, idx in (
            ("seeds", index),
            (f"synthetic {args.synthetic}", synthetic(index, args.synthetic)),
        ):
            t = time.perf_counter()
            searcher = Searcher(idx, embedder)
            _ = idx.bm25, idx.dense  # build lazily-created structures outside the timing
            print(f"\n{name}: {len(idx.chunks)} chunks (structures built in {time.perf_counter() - t:.2f} s)")
            for mode, (p50, p95) in latency(searcher, args.rounds).items():
                print(f"  {mode:6s} query latency p50 {p50:7.1f} ms   p95 {p95:7.1f} ms")

    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\npeak memory (max RSS): {peak_mb:.0f} MB")


if __name__ == "__main__":
    main()
