"""Word documents: paragraphs and tables in document order; files that are not .docx are named as such."""

from __future__ import annotations

import pytest

from rag.errors import IngestFileError
from rag.ingest.files import ingest_paths, text_of
from rag.ingest.word import docx_text
from tests.documents import BODY, HEADLINE, docx, zip_of_other_things


def test_paragraphs_then_table_rows_in_document_order(tmp_path):
    text = docx_text(docx(tmp_path / "a.docx", [HEADLINE, *BODY]).read_bytes())
    assert text.split("\n\n") == [HEADLINE, *BODY, "القاعدة | عين الأسد", "الجنود | 2500"]


def test_the_properties_title_leads_when_the_text_does_not_start_with_it(tmp_path):
    text = docx_text(docx(tmp_path / "a.docx", BODY, title=HEADLINE).read_bytes())
    assert text.startswith(HEADLINE + "\n\n" + BODY[0])


def test_a_word_file_becomes_a_document(tmp_path):
    result = ingest_paths([docx(tmp_path / "note.docx", [HEADLINE, *BODY])])
    assert not result.errors
    assert result.documents[0].title == HEADLINE
    assert result.documents[0].provenance["format"] == "the Word document's paragraphs and tables"


def test_what_is_not_a_docx_is_refused_by_what_it_is(tmp_path):
    with pytest.raises(IngestFileError, match="a ZIP file but not a Word document"):
        text_of(zip_of_other_things(tmp_path / "x.docx").read_bytes(), "x.docx")
    with pytest.raises(IngestFileError, match=r"older \.doc"):
        text_of(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 600, "old.docx")
