"""The text of a Word document (.docx): its paragraphs and table cells in document order.

Word stores Arabic in reading order, so the text needs no repair; the document's title, when its
properties carry one that the text does not already start with, leads as the headline.
"""

from __future__ import annotations

import io
import zipfile

from rag.errors import IngestFileError


def docx_text(raw: bytes) -> str:
    """Paragraphs one per line, table rows one per line (cells separated by " | "), headers skipped."""
    import docx
    from docx.opc.exceptions import PackageNotFoundError

    if not zipfile.is_zipfile(io.BytesIO(raw)):
        raise IngestFileError("not a Word .docx file (an older .doc? save it as .docx and try again)")
    try:
        document = docx.Document(io.BytesIO(raw))
    except (PackageNotFoundError, KeyError, ValueError, zipfile.BadZipFile) as e:
        raise IngestFileError(f"a ZIP file but not a Word document ({type(e).__name__})") from None
    lines: list[str] = []
    body = document.element.body
    for child in body.iterchildren():
        tag = child.tag.rsplit("}", 1)[-1]
        if tag == "p":
            lines.append("".join(t.text or "" for t in child.iter() if t.tag.endswith("}t")))
        elif tag == "tbl":
            for row in child.iter():
                if row.tag.endswith("}tr"):
                    cells = [
                        "".join(t.text or "" for t in cell.iter() if t.tag.endswith("}t"))
                        for cell in row
                        if cell.tag.endswith("}tc")
                    ]
                    lines.append(" | ".join(c for c in cells if c.strip()))
    text = "\n\n".join(line.strip() for line in lines if line.strip())
    title = (document.core_properties.title or "").strip()
    if title and not text.startswith(title):
        text = f"{title}\n\n{text}"
    return text
