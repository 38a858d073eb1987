"""PDF text in reading order: Arabic stored in visual order is recognised and repaired; scans and locked
files are refused with a message that says why."""

from __future__ import annotations

import pytest

from rag.errors import IngestFileError
from rag.ingest.files import ingest_paths, text_of
from rag.ingest.pdf import in_visual_order, pdf_text
from tests.documents import BODY, HEADLINE, locked_pdf, pdf, scanned_pdf

LINES = [HEADLINE, *BODY]


@pytest.mark.parametrize("visual", [True, False])
def test_both_orders_come_out_as_the_article_reads(tmp_path, visual):
    text, repaired = pdf_text(pdf(tmp_path / "a.pdf", LINES, visual).read_bytes())
    assert repaired is visual
    assert text.split("\n\n") == LINES  # every word, every number, in reading order


def test_the_order_is_judged_by_the_words_not_guessed():
    reading = " ".join(BODY)
    backwards = "\n".join(line[::-1] for line in BODY)
    assert not in_visual_order(reading) and in_visual_order(backwards)
    assert not in_visual_order(
        "Troops left Iraq on Sunday, the ministry said."
    )  # no Arabic: nothing to judge


def test_a_visual_order_pdf_becomes_a_document_that_says_how_it_was_read(tmp_path):
    result = ingest_paths([pdf(tmp_path / "report.pdf", LINES, visual=True)])
    assert not result.errors
    doc = result.documents[0]
    assert doc.title == HEADLINE and "2500 جندي أمريكي" in doc.body()
    assert "visual order" in doc.provenance["format"]


def test_a_scan_and_a_locked_pdf_are_refused_with_the_reason(tmp_path):
    with pytest.raises(IngestFileError, match="no text layer"):
        text_of(scanned_pdf(tmp_path / "scan.pdf").read_bytes(), "scan.pdf")
    plain = pdf(tmp_path / "plain.pdf", LINES, visual=False)
    with pytest.raises(IngestFileError, match="password-protected"):
        text_of(locked_pdf(tmp_path / "locked.pdf", plain).read_bytes(), "locked.pdf")
    with pytest.raises(IngestFileError, match="not a readable PDF"):
        text_of(b"%PDF-1.4\n" + b"garbage " * 100, "broken.pdf")


def test_cli_ingests_a_pdf_and_a_word_file_and_ask_cites_the_pdf(embedder, tmp_path, capsys):
    """`isnad ingest report.pdf note.docx scan.pdf`: two added, the scan named with its reason; `isnad ask`
    then quotes the PDF in reading order, and the Word file."""
    import json

    from rag.interfaces.cli import main
    from tests.documents import MEMO, MEMO_QUESTION, docx

    report = pdf(tmp_path / "report.pdf", LINES, visual=True)
    note = docx(tmp_path / "note.docx", MEMO)
    index = ["--index-dir", str(tmp_path / "index")]
    assert main([*index, "ingest", str(report), str(note), str(scanned_pdf(tmp_path / "scan.pdf"))]) == 2
    out = capsys.readouterr()
    assert "added 2," in out.out and "scan.pdf: the PDF has no text layer" in out.err
    assert main([*index, "ask", "متى غادرت آخر وحدة قتالية أمريكية قاعدة عين الأسد؟", "--json"]) == 0
    answer = json.loads(capsys.readouterr().out)
    quoted = [s for s in answer["sources"] if s["source"].endswith("report.pdf")]
    assert not answer["abstained"] and quoted and "قاعدة عين الأسد" in quoted[0]["quote"]
    assert main([*index, "ask", MEMO_QUESTION, "--json"]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert not answer["abstained"] and answer["sources"][0]["source"].endswith("note.docx")
