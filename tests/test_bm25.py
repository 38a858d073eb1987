"""The embedded store's BM25 postings: bm25s's scores, deleted rows skipped, filters exact, compaction lossless."""

from __future__ import annotations

import math

import numpy as np
import pytest

from rag.store.bm25 import MERGE_AT, Postings, Segment

DOCS = [["نفط", "العراق", "العراق"], ["نفط", "الكويت"], ["قاعدة", "عين", "الاسد", "العراق"], ["الكويت"]]


def _stats(rows_docs):
    df: dict[str, int] = {}
    for t in rows_docs:
        for term in set(t):
            df[term] = df.get(term, 0) + 1
    return df, len(rows_docs), sum(len(t) for t in rows_docs)


def test_scores_equal_bm25s_and_ties_go_to_the_lower_row():
    bm25s = pytest.importorskip("bm25s")
    p = Postings()
    p.add(Segment.build([1, 2], DOCS[:2]))
    p.add(Segment.build([3, 4], DOCS[2:]))
    df, n, total = _stats(DOCS)
    got = p.search(["العراق", "الكويت"], df, n, total, 10)
    ref = bm25s.BM25(method="lucene")
    ref.index([d for d in DOCS], show_progress=False)
    scores = ref.get_scores(["العراق", "الكويت"])
    assert [r for r, _ in got] == [i + 1 for i in np.argsort(-scores, kind="stable") if scores[i] > 0]
    assert np.allclose([s for _, s in got], sorted(scores[scores > 0], reverse=True), rtol=1e-5)
    # rows 1 and 2: row 1 first
    assert p.search(["نفط"], df, n, total, 1) == p.search(["نفط"], df, n, total, 2)[:1]


def test_deleted_rows_filters_and_compaction(tmp_path):
    p = Postings()
    p.add(Segment.build([1, 2, 3, 4], DOCS))
    p.remove([1])
    live = DOCS[1:]
    df, n, total = _stats(live)
    hits = p.search(["العراق", "الكويت", "نفط"], df, n, total, 10)
    assert 1 not in {r for r, _ in hits} and {r for r, _ in hits} == {2, 3, 4}
    # filtered: a mask by row
    assert [
        r for r, _ in p.search(["العراق", "الكويت", "نفط"], df, n, total, 10, np.isin(np.arange(5), [3, 4]))
    ] == [r for r, _ in hits if r in (3, 4)]
    merged = Segment.merged(p.segments, p.dead)
    merged.save(tmp_path / "seg.terms.npz", tmp_path / "seg.postings.npy")
    q = Postings()
    q.add(Segment.load(tmp_path / "seg.terms.npz", tmp_path / "seg.postings.npy"))
    assert 1 not in merged.rows and q.search(["العراق", "الكويت", "نفط"], df, n, total, 10) == hits


def test_single_document_writes_merge_into_few_segments_and_rank_as_one():
    """A thousand one-chunk uploads of mixed sizes: a few dozen segments at most, and the same
    scores as one segment holding everything."""
    rng = np.random.default_rng(0)
    words = [f"كلمة{i}" for i in range(300)]
    docs = [list(rng.choice(words, size=int(rng.integers(3, 400)))) for _ in range(1000)]
    p, whole = Postings(), Postings()
    for row, d in enumerate(docs, start=1):
        p.add(Segment.build([row], [d]))
    whole.add(Segment.build(list(range(1, 1001)), docs))
    p.remove([5, 500]), whole.remove([5, 500])
    assert len(p.recent) < 4 * MERGE_AT and len(whole.recent) == 1
    df, n, total = _stats([d for i, d in enumerate(docs, start=1) if i not in (5, 500)])
    for q in (["كلمة1", "كلمة7"], ["كلمة299"], words[:30]):
        got, ref = p.search(q, df, n, total, 20), whole.search(q, df, n, total, 20)
        assert [r for r, _ in got] == [r for r, _ in ref] and np.allclose(
            [s for _, s in got], [s for _, s in ref]
        )
        assert not {5, 500} & {r for r, _ in got}


def _reference(
    docs: dict[int, list[str]], words: list[str], k: int, only=lambda row: True
) -> list[tuple[int, float]]:
    """bm25s's formula, chunk by chunk, over every chunk (those ``only`` allows), with the corpus's statistics."""
    df, n, total = _stats(list(docs.values()))
    avgdl = total / n
    scores = {}
    for row, d in ((r, d) for r, d in docs.items() if only(r)):
        s = sum(
            math.log(1 + (n - df[w] + 0.5) / (df[w] + 0.5))
            * d.count(w)
            / (d.count(w) + 1.5 * (1 - 0.75 + 0.75 * len(d) / avgdl))
            for w in set(words)
            if w in d
        )
        if s > 0:
            scores[row] = s
    return sorted(scores.items(), key=lambda x: (-x[1], x[0]))[:k]


def zipf_chunks(n: int = 3000) -> list[list[str]]:
    """``n`` chunks of 20–120 words drawn from 2,000 with Zipf frequencies (a few words in most chunks)."""
    rng = np.random.default_rng(3)
    vocab = [f"w{i}" for i in range(2000)]
    zipf = 1 / np.arange(1, 2001)
    return [list(rng.choice(vocab, size=int(rng.integers(20, 120)), p=zipf / zipf.sum())) for _ in range(n)]


def test_common_terms_pruned_by_their_bound_rank_as_if_scored_in_full():
    """Zipf-distributed words: a query of one rare word and several words in most chunks takes the
    MaxScore path (the common words' idfs sum below the rare word's half) and must give exactly the
    full ranking, with deletions and filters, for small and large k."""
    docs = dict(enumerate(zipf_chunks(), start=1))
    p = Postings()
    for start in range(1, 3001, 300):  # ten segments, as after a few seals
        p.add(Segment.build(list(range(start, start + 300)), [docs[r] for r in range(start, start + 300)]))
    p.remove(list(range(7, 3001, 13)))
    live = {r: d for r, d in docs.items() if (r - 7) % 13 or r < 7}
    df, n, total = _stats(list(live.values()))
    idf = {w: math.log(1 + (n - df[w] + 0.5) / (df[w] + 0.5)) for w in df}
    for rare in ("w150", "w400", "w1200"):
        words = [rare, "w0", "w1", "w2", "w3"]
        assert sum(idf[w] for w in words[1:]) < idf[rare] / 2  # the common words go to the lookup path
        for k in (1, 10, 50):
            got, ref = p.search(words, df, n, total, k), _reference(live, words, k)
            assert [r for r, _ in got] == [r for r, _ in ref] and np.allclose(
                [s for _, s in got], [s for _, s in ref]
            )
        allowed = np.arange(3001) % 2 == 0
        got = p.search(words, df, n, total, 10, allowed)
        ref = _reference(live, words, 10, only=lambda row: row % 2 == 0)
        assert [r for r, _ in got] == [r for r, _ in ref]
