"""The embedded store's BM25 postings: bm25s's scores, deleted rows skipped, filters exact, compaction lossless."""

from __future__ import annotations

import numpy as np
import pytest

from rag.store.bm25 import Postings, Segment

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
    assert p.search(["نفط"], df, n, total, 1) == p.search(["نفط"], df, n, total, 2)[:1]  # rows 1 and 2: row 1 first


def test_deleted_rows_filters_and_compaction(tmp_path):
    p = Postings()
    p.add(Segment.build([1, 2, 3, 4], DOCS))
    p.remove([1])
    live = DOCS[1:]
    df, n, total = _stats(live)
    hits = p.search(["العراق", "الكويت", "نفط"], df, n, total, 10)
    assert 1 not in {r for r, _ in hits} and {r for r, _ in hits} == {2, 3, 4}
    # filtered: a mask by row
    assert [r for r, _ in p.search(["العراق", "الكويت", "نفط"], df, n, total, 10, np.isin(np.arange(5), [3, 4]))] == \
        [r for r, _ in hits if r in (3, 4)]
    merged = Segment.merged(p.segments, p.dead)
    merged.save(tmp_path / "seg.npz")
    q = Postings()
    q.add(Segment.load(tmp_path / "seg.npz"))
    assert 1 not in merged.rows and q.search(["العراق", "الكويت", "نفط"], df, n, total, 10) == hits
