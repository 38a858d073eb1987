"""Store engines side by side: build, size, open, memory, query latency, recall, adding one document.

    python benchmarks/bench_store.py [--sizes 10000,100000] [--engines searchindex,sqlite]
    python benchmarks/bench_store.py --one-by-one 20000   # uploads one document at a time

Synthetic corpus from the seed index: chunks of three seed sentences (real Arabic BM25
statistics), perturbed seed vectors (real dimensionality), documents of 10 chunks over 20
outlets and five years. Vectors are precomputed: embedding is excluded everywhere. Each
engine and size runs in fresh processes (one builds, one opens and serves), so memory is
that engine's alone (for PostgreSQL, the client's; the server is a throwaway local one with
fsync off). "searchindex" is `rag.store.folders.SearchIndex`, the generation folders (ISNAD_STORE=folders,
a whole generation written per change); "sqlite" is `rag.store.sqlite.SqliteStore` (the default);
"postgresql" `rag.store.postgres.PostgresStore`; "chroma" is Chroma's PersistentClient, a reference
row for the dense leg and its filters only (it has no BM25 here; `pip install -e .[bench]`).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from functools import lru_cache
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from rag.config import Settings  # noqa: E402
from rag.evaluation.metrics import percentile  # noqa: E402
from rag.retrieval.hybrid import rrf  # noqa: E402
from rag.store.base import StoreInfo  # noqa: E402
from rag.store.folders import SearchIndex  # noqa: E402
from rag.store.sqlite import SqliteStore  # noqa: E402
from rag.store.vectors import _by_row  # noqa: E402
from rag.text.arabic import bm25_tokens  # noqa: E402
from rag.types import Chunk, Document, Filters  # noqa: E402

PER_DOC = 10
OUTLETS = [f"منفذ {i}" for i in range(20)]
QUERIES = [
    "متى اتفق العراق والولايات المتحدة على خطة لإعادة انتشار قوات التحالف؟",
    "انسحاب القوات القتالية الأمريكية",
    "ما موقف البنتاغون من الانسحاب من العراق؟",
    "قاعدة عين الأسد",
    "كتائب حزب الله تهدد المصالح الأمريكية",
]


@lru_cache(maxsize=1)
def seed_index() -> SearchIndex:
    """The seed articles chunked and embedded in memory (whatever store the app uses)."""
    from rag.ingest.files import ingest_paths
    from rag.pipeline import Isnad

    return Isnad.in_memory(
        ingest_paths([ROOT / "seeds"]).documents, Settings(embedding_dtype="float32")
    ).index


def corpus(n: int, seed: int = 0):
    """Documents of PER_DOC chunks: (doc, chunks, vectors, tokens) per document."""
    seeds = seed_index()
    rng, rnd = np.random.default_rng(seed), random.Random(seed)
    sentences = [seeds.docs[c.doc_id].text[a:b] for c in seeds.chunks for a, b in c.sentences]
    for d in range(n // PER_DOC):
        texts = [" ".join(rnd.sample(sentences, 3)) for _ in range(PER_DOC)]
        body = "\n".join(texts)
        date = f"{2020 + d % 5}-{1 + d % 12:02d}-{1 + d % 28:02d}"
        doc = Document(
            f"s{d:07d}",
            f"synthetic/{d}.txt",
            body,
            f"synthetic {d}",
            OUTLETS[d % len(OUTLETS)],
            date,
            "ar",
            [(0, len(body))],
        )
        chunks, at = [], 0
        for i, t in enumerate(texts):
            chunks.append(Chunk(f"{doc.doc_id}:{i}", doc.doc_id, at, at + len(t), t, [(at, at + len(t))], 60))
            at += len(t) + 1
        base = seeds.vectors[rng.integers(0, len(seeds.vectors), PER_DOC)]
        noisy = base + rng.normal(0, 0.05, base.shape).astype(np.float32)
        vecs = (noisy / np.linalg.norm(noisy, axis=1, keepdims=True)).astype(np.float32)
        yield doc, chunks, vecs, [bm25_tokens(t) for t in texts]


class _Fixed:
    """Hands SearchIndex.add the precomputed vectors (embedding excluded from the timing)."""

    def __init__(self, model_id: str, dim: int, vectors: np.ndarray):
        self.model_id, self.dim, self.max_tokens, self.vectors = model_id, dim, 10_000, vectors

    def count_tokens(self, texts):
        return [len(t.split()) for t in texts]

    def embed_documents(self, texts, titles=None):
        return self.vectors[: len(texts)]


def build(engine: str, n: int, folder: Path) -> dict:
    seeds = seed_index()
    items = list(corpus(n))
    t = time.perf_counter()
    if engine == "searchindex":
        index = SearchIndex(seeds.model_id, seeds.dim, seeds.chunker)
        for doc, chunks, _, _ in items:
            index.docs[doc.doc_id] = doc
            index.chunks.extend(chunks)
        index.vectors = np.vstack([v for _, _, v, _ in items])
        index.save(folder)
    elif engine == "chroma":
        col = _chroma(folder, create=True)
        rows = [(c, v, d) for d, chunks, vecs, _ in items for c, v in zip(chunks, vecs)]
        for i in range(0, len(rows), 5000):
            batch = rows[i : i + 5000]
            col.add(
                ids=[c.chunk_id for c, _, _ in batch],
                embeddings=np.array([v for _, v, _ in batch]),
                metadatas=[_chroma_meta(d) for _, _, d in batch],
            )
    else:
        store = _open(engine, folder, StoreInfo(seeds.model_id, seeds.dim, seeds.chunker.to_dict()))
        # a first ingest: PostgreSQL builds its indexes once
        step = len(items) if engine == "postgresql" else 1000
        for i in range(0, len(items), step):
            store.upsert_many(items[i : i + step])
        store.close()
    seconds = time.perf_counter() - t
    if engine == "postgresql":
        import psycopg

        with psycopg.connect(str(folder)) as c:
            size = c.execute("SELECT pg_database_size(current_database())").fetchone()[0]
    else:
        size = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
    return {"build_s": round(seconds, 2), "disk_mb": round(size / 2**20, 1)}


def _open(engine: str, where, info: StoreInfo | None = None):
    if engine == "postgresql":
        from rag.store.postgres import PostgresStore

        return PostgresStore(str(where), info)
    return SqliteStore(Path(where), info)


def _chroma(folder: Path, create: bool = False):
    import chromadb

    client = chromadb.PersistentClient(path=str(folder))
    if create:  # inner product, as the other engines; no embedding function: vectors are given
        return client.create_collection(
            "isnad", configuration={"hnsw": {"space": "ip"}}, embedding_function=None
        )
    return client.get_collection("isnad", embedding_function=None)


def _chroma_meta(doc: Document) -> dict:
    return {"outlet": doc.outlet, "date": int(doc.date.replace("-", ""))}  # Chroma compares numbers only


def _chroma_where(f: Filters | None) -> dict | None:
    if f is None:
        return None
    if f.outlet:
        return {"outlet": f.outlet}
    return {
        "$and": [
            {"date": {"$gte": int(f.date_from.replace("-", ""))}},
            {"date": {"$lte": int(f.date_to.replace("-", ""))}},
        ]
    }


def _query_vectors(seeds: SearchIndex) -> np.ndarray:
    """Twenty seed chunk vectors as query vectors, the same in every run."""
    return seeds.vectors[np.random.default_rng(1).integers(0, len(seeds.vectors), 20)]


def _recall_at_10(ids: np.ndarray, vectors: np.ndarray, qvecs: np.ndarray, search) -> float:
    """Mean share of the exact top 10 (inner product over ``vectors``, named by ``ids``) that ``search(qv)`` returns."""
    return round(
        float(
            np.mean([len(set(ids[np.argsort(-(vectors @ qv))[:10]]) & set(search(qv))) / 10 for qv in qvecs])
        ),
        3,
    )


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def serve(engine: str, n: int, folder: Path, rounds: int) -> dict:
    seeds = seed_index()
    qvecs = _query_vectors(seeds)
    qtokens = [bm25_tokens(q) for q in QUERIES] * 4
    rss0 = _rss_mb()
    t = time.perf_counter()
    if engine == "searchindex":
        index = SearchIndex.load(folder)
        index.dense, index.bm25  # noqa: B018 (loaded structures, as the app holds them)
    elif engine == "chroma":
        col = _chroma(folder)
    else:
        store = _open(engine, folder)
    out = {"open_s": round(time.perf_counter() - t, 2), "rss_mb": round(_rss_mb() - rss0)}
    filters = {
        "outlet": Filters(outlet=OUTLETS[3]),
        "date": Filters(date_from="2023-01-01", date_to="2023-12-31"),
    }

    def query(qv, toks, mode, f):
        if engine == "chroma":
            got = col.query(
                query_embeddings=qv[None, :], n_results=50, where=_chroma_where(f), include=["distances"]
            )
            return got["ids"][0]
        if engine == "searchindex":
            mask = index.mask(f.outlet, f.date_from, f.date_to) if f else None
            dense = index.dense_search(qv, 50, mask) if mode != "bm25" else []
            bm = index.bm25_search(toks, 50, mask) if mode != "dense" else []
        else:
            legs = store.search(qv if mode != "bm25" else None, toks if mode != "dense" else None, 50, f)
            dense, bm = legs.dense, legs.bm25
        return (
            rrf([[i for i, _ in dense], [i for i, _ in bm]], 60, [1.0, 0.5])
            if mode == "hybrid"
            else dense or bm
        )

    cases = (
        ("dense", "dense", None),
        ("bm25", "bm25", None),
        ("hybrid", "hybrid", None),
        ("hybrid+outlet", "hybrid", filters["outlet"]),
        ("hybrid+date", "hybrid", filters["date"]),
    )
    if engine == "chroma":
        cases = (
            ("dense", "dense", None),
            ("dense+outlet", "dense", filters["outlet"]),
            ("dense+date", "dense", filters["date"]),
        )
    for label, mode, f in cases:
        times = []
        for _ in range(rounds):
            for qv, toks in zip(qvecs, qtokens):
                t = time.perf_counter()
                query(qv, toks, mode, f)
                times.append((time.perf_counter() - t) * 1000)
        out[f"{label}_p50_ms"] = round(statistics.median(times), 1)
        out[f"{label}_p95_ms"] = round(percentile(times, 0.95), 1)
    if engine == "chroma":
        got = col.get(include=["embeddings"])
        out["dense_recall@10"] = _recall_at_10(
            np.array(got["ids"]),
            np.asarray(got["embeddings"], dtype=np.float32),
            qvecs,
            lambda qv: col.query(query_embeddings=qv[None, :], n_results=10, include=[])["ids"][0],
        )
    elif engine != "searchindex":  # recall@10 of the dense leg against exact inner products over every vector
        rows, everything = _all_vectors(engine, store)
        cases = (
            {"": None}
            if engine == "postgresql"
            else {"": None, "+outlet": filters["outlet"], "+date": filters["date"]}
        )
        for label, f in cases.items():  # filtered: against exact search over the rows the filter allows
            keep = _by_row(store._allowed(f), rows) if f else np.ones(len(rows), bool)
            out[f"dense{label}_recall@10"] = _recall_at_10(
                rows[keep],
                everything[keep],
                qvecs,
                lambda qv, f=f: [r for r, _ in store.search(qv, None, 10, f).dense],
            )
    doc, chunks, vecs, toks = next(corpus(PER_DOC, seed=99))
    doc, chunks = _renamed(doc, chunks, "new-doc")
    t = time.perf_counter()
    if engine == "searchindex":  # what an upload costs today: add, rebuild BM25 and FAISS, write a generation
        index.add([doc], _Fixed(index.model_id, index.dim, vecs))
        index.save(folder)
    elif engine == "chroma":
        col.add(
            ids=[c.chunk_id for c in chunks], embeddings=vecs, metadatas=[_chroma_meta(doc)] * len(chunks)
        )
    else:
        store.upsert(doc, chunks, vecs, toks)
    out["add_10_chunks_s"] = round(time.perf_counter() - t, 3)
    # uploads until GRAPH_AT rows wait outside the graph, then the background batches
    if engine == "postgresql":
        from rag.store.postgres import GRAPH_AT

        times = []
        for d, (doc, chunks, vecs, toks) in enumerate(corpus(GRAPH_AT, seed=98)):
            t = time.perf_counter()
            store.upsert(*_renamed(doc, chunks, f"upload-{d}"), vecs, toks)
            times.append(time.perf_counter() - t)
        t = time.perf_counter()
        store.settle()
        out[f"add_p50_{len(times)}_uploads_s"] = round(statistics.median(times), 3)
        out[f"graph_{GRAPH_AT}_rows_s"] = round(time.perf_counter() - t, 1)
    return out


def _renamed(doc: Document, chunks: list[Chunk], doc_id: str) -> tuple[Document, list[Chunk]]:
    """A synthetic document as a new one (its own id and source), not a new version of one already stored."""
    new = Document(
        doc_id, f"synthetic/{doc_id}.txt", doc.text, doc.title, doc.outlet, doc.date, "ar", doc.paragraphs
    )
    return new, [
        Chunk(c.chunk_id.replace(c.doc_id, doc_id), doc_id, c.start, c.end, c.text, c.sentences, c.n_tokens)
        for c in chunks
    ]


def one_by_one(n: int, folder: Path) -> dict:
    """What an app's uploads do to the embedded store: ``n`` chunks written one 10-chunk document per
    transaction, then the store opened again and queried (hybrid, unfiltered and by outlet)."""
    seeds = seed_index()
    store = SqliteStore(folder, StoreInfo(seeds.model_id, seeds.dim, seeds.chunker.to_dict()))
    times = []
    for item in corpus(n):
        t = time.perf_counter()
        store.upsert(*item)
        times.append(time.perf_counter() - t)
    store.close()
    t = time.perf_counter()
    store = SqliteStore(folder)
    out = {
        "upload_p50_s": round(statistics.median(times), 4),
        "upload_max_s": round(max(times), 3),
        "open_s": round(time.perf_counter() - t, 2),
    }
    qvecs = _query_vectors(seeds)
    for label, f in (("hybrid", None), ("hybrid+outlet", Filters(outlet=OUTLETS[3]))):
        spent = []
        for qv, q in zip(qvecs, QUERIES * 4):
            t = time.perf_counter()
            store.search(qv, bm25_tokens(q), 50, f)
            spent.append((time.perf_counter() - t) * 1000)
        out[f"{label}_p50_ms"] = round(statistics.median(spent), 1)
    return out


def _all_vectors(engine: str, store) -> tuple[np.ndarray, np.ndarray]:
    """Every (row id, vector) of a store, for exact search."""
    if engine == "postgresql":
        got = store._db.execute("SELECT row, embedding FROM isnad_chunks").fetchall()
        return np.array([r for r, _ in got]), np.array([v.to_numpy() for _, v in got])
    return store._vectors.all()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="10000,100000")
    ap.add_argument("--engines", default="searchindex,sqlite,postgresql")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument(
        "--one-by-one",
        type=int,
        metavar="N",
        help="instead: N chunks uploaded one document at a time into the embedded store",
    )
    ap.add_argument("--child", nargs=3, metavar=("STEP", "ENGINE", "N"), help=argparse.SUPPRESS)
    ap.add_argument("--folder", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        step, engine, n = args.child
        where = args.folder if engine == "postgresql" else Path(args.folder)
        result = (
            build(engine, int(n), where) if step == "build" else serve(engine, int(n), where, args.rounds)
        )
        print(json.dumps(result))
        return
    if args.one_by_one:
        with tempfile.TemporaryDirectory() as tmp:
            print(
                json.dumps(
                    {"engine": "sqlite", "chunks": args.one_by_one, **one_by_one(args.one_by_one, Path(tmp))}
                )
            )
        return
    rows = []
    for n in [int(x) for x in args.sizes.split(",")]:
        for engine in args.engines.split(","):
            server = None
            with tempfile.TemporaryDirectory() as tmp:
                where = str(Path(tmp) / "store")
                if engine == "postgresql":  # a throwaway server per size (rag/store/pgserver.py)
                    from rag.store import pgserver

                    server = pgserver.start()
                    where = server.url
                row = {"engine": engine, "chunks": n}
                try:
                    for step in ("build", "serve"):
                        done = subprocess.run(
                            [
                                sys.executable,
                                __file__,
                                "--child",
                                step,
                                engine,
                                str(n),
                                "--folder",
                                where,
                                "--rounds",
                                str(args.rounds),
                            ],
                            capture_output=True,
                            text=True,
                            check=True,
                        )
                        row.update(json.loads(done.stdout.strip().splitlines()[-1]))
                finally:
                    if server is not None:
                        server.stop()
                print(json.dumps(row), flush=True)
                rows.append(row)
    keys = [k for k in dict.fromkeys(k for r in rows for k in r) if k not in ("engine", "chunks")]
    print("\n| engine | chunks | " + " | ".join(keys) + " |\n|" + "---|" * (len(keys) + 2))
    for r in rows:
        print(f"| {r['engine']} | {r['chunks']:,} | " + " | ".join(str(r.get(k, "")) for k in keys) + " |")


if __name__ == "__main__":
    main()
