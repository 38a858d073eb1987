from rag.config import ChunkerSettings
from rag.ingest.chunking import chunk_document
from rag.ingest.files import ingest_paths, parse_document


def test_offsets_round_trip_on_real_seeds_with_real_tokenizer(seeds_dir, embedder):
    settings = ChunkerSettings(max_tokens=128, overlap_sentences=1)
    for doc in ingest_paths([seeds_dir]).documents:
        chunks = chunk_document(doc, embedder.count_tokens, settings)
        assert chunks
        for c in chunks:
            assert c.text == doc.text[c.start : c.end]
            assert c.n_tokens <= 128 and c.n_tokens == embedder.count_tokens([c.text])[0]
            for a, b in c.sentences:
                assert c.start <= a < b <= c.end
                assert doc.text[a:b].strip() == doc.text[a:b]
        # every body sentence lands in some chunk
        covered = {s for c in chunks for s in c.sentences}
        body_chars = sum(b - a for a, b in doc.paragraphs)
        assert sum(b - a for a, b in covered) >= 0.95 * body_chars - 10 * len(doc.paragraphs)


def test_overlap_is_whole_sentences(fake_embedder):
    text = "\n".join(f"جملة رقم {i} هنا." for i in range(12))
    doc = parse_document(text, "x.txt")
    chunks = chunk_document(
        doc, fake_embedder.count_tokens, ChunkerSettings(max_tokens=12, overlap_sentences=1)
    )
    assert len(chunks) > 2
    for prev, nxt in zip(chunks, chunks[1:]):
        assert prev.sentences[-1] == nxt.sentences[0]


def test_overlong_sentence_is_cut_below_the_limit(fake_embedder):
    text = "عنوان\n" + " ".join(["كلمة"] * 100) + "."
    doc = parse_document(text, "x.txt")
    chunks = chunk_document(
        doc, fake_embedder.count_tokens, ChunkerSettings(max_tokens=30, overlap_sentences=0)
    )
    assert all(c.n_tokens <= 30 for c in chunks)
    assert sum(c.n_tokens for c in chunks) == 101  # nothing lost: title + 100 words


def test_chunks_never_cross_removed_text(fake_embedder):
    text = "العنوان الرئيسي\n\nفقرة أولى هنا.\nشارك القصة\nفقرة ثانية هنا."
    doc = parse_document(text, "x.txt")
    chunks = chunk_document(doc, fake_embedder.count_tokens, ChunkerSettings(max_tokens=100))
    assert all("شارك" not in c.text for c in chunks)
