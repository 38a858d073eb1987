"""Sentence-aware chunks, sized in the embedding model's own tokens.

A chunk never crosses text that cleaning removed, never exceeds the model's limit,
and carries the offsets of each of its sentences so answers can quote exactly.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from rag.config import ChunkerSettings
from rag.text.arabic import sentence_spans
from rag.types import Chunk, Document

TokenCounter = Callable[[Sequence[str]], list[int]]


def _sections(doc: Document) -> list[list[tuple[int, int]]]:
    """Runs of paragraphs with only whitespace between them (no removed text)."""
    sections: list[list[tuple[int, int]]] = []
    for a, b in doc.paragraphs:
        if sections and not doc.text[sections[-1][-1][1] : a].strip():
            sections[-1].append((a, b))
        else:
            sections.append([(a, b)])
    return sections


def _split_long(text: str, span: tuple[int, int], count: TokenCounter, limit: int) -> list[tuple[int, int]]:
    """Cut a sentence longer than the limit at word boundaries (rare: run-on web text)."""
    a, b = span
    words = [(m_start, m_start + len(w)) for m_start, w in _word_offsets(text, a, b)]
    pieces, cur = [], 0
    while cur < len(words):
        lo, hi = cur + 1, len(words)
        while lo < hi:  # binary search for the longest prefix that fits
            mid = (lo + hi + 1) // 2
            if count([text[words[cur][0] : words[mid - 1][1]]])[0] <= limit:
                lo = mid
            else:
                hi = mid - 1
        pieces.append((words[cur][0], words[lo - 1][1]))
        cur = lo
    return pieces


def _word_offsets(text: str, a: int, b: int):
    pos = a
    for w in text[a:b].split():
        pos = text.index(w, pos)
        yield pos, w
        pos += len(w)


def chunk_document(doc: Document, count: TokenCounter, settings: ChunkerSettings) -> list[Chunk]:
    """Greedy sentence packing up to ``max_tokens``, overlapping by whole sentences."""
    chunks: list[Chunk] = []
    for section in _sections(doc):
        spans = [s for a, b in section for s in sentence_spans(doc.text, a, b)]
        if not spans:
            continue
        sizes = count([doc.text[a:b] for a, b in spans])
        units: list[tuple[tuple[int, int], int]] = []
        for span, size in zip(spans, sizes):
            if size > settings.max_tokens:
                pieces = _split_long(doc.text, span, count, settings.max_tokens)
                units.extend(zip(pieces, count([doc.text[a:b] for a, b in pieces])))
            else:
                units.append((span, size))
        i = 0
        while i < len(units):
            j, total = i, 0
            while j < len(units) and total + units[j][1] <= settings.max_tokens:
                total += units[j][1]
                j += 1
            group = units[i:j]
            start, end = group[0][0][0], group[-1][0][1]
            n_tokens = count([doc.text[start:end]])[0]
            while n_tokens > settings.max_tokens and len(group) > 1:  # joins can add tokens
                group = group[:-1]
                j -= 1
                end = group[-1][0][1]
                n_tokens = count([doc.text[start:end]])[0]
            chunks.append(
                Chunk(
                    chunk_id=f"{doc.doc_id}:{len(chunks)}",
                    doc_id=doc.doc_id,
                    start=start,
                    end=end,
                    text=doc.text[start:end],
                    sentences=[s for s, _ in group],
                    n_tokens=n_tokens,
                )
            )
            if j >= len(units):
                break
            i = max(i + 1, j - settings.overlap_sentences)
    return chunks
