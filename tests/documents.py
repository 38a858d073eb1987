"""Real PDF and Word files with Arabic text, written the way publishers' tools write them.

A PDF made with ReportLab from text shaped by arabic-reshaper and reordered by python-bidi stores
its Arabic in visual order as presentation forms: the common case an extractor gets backwards.
Drawn from the plain text, the same lines are stored in reading order.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"  # has Arabic glyphs; installed with fontconfig

HEADLINE = "وصول آخر وحدة أمريكية من العراق إلى الكويت"
BODY = [
    "قال مسؤول عسكري إن آخر وحدة قتالية أمريكية غادرت قاعدة عين الأسد في الأنبار يوم الأحد متجهة إلى الكويت.",
    "وأضاف المسؤول أن 2500 جندي أمريكي سيبقون في العراق بصفة استشارية حتى نهاية عام 2025.",
    "وأكدت الحكومة العراقية أن المهمة القتالية للتحالف الدولي انتهت وفق الاتفاق الموقع بين البلدين.",
]


# A memo only the Word file holds, so an answer can be traced to it.
MEMO = [
    "مذكرة عن قاعدة حرير",
    "وأعلنت وزارة الدفاع العراقية أن فريقا فنيا أمريكيا سيزور قاعدة حرير في أربيل في العاشر من مارس لتسليم معداتها.",
    BODY[1],
]
MEMO_QUESTION = "متى سيزور الفريق الفني الأمريكي قاعدة حرير في أربيل؟"


def pdf(path: Path, lines: list[str], visual: bool) -> Path:
    """A one-page PDF of ``lines``, right-aligned; ``visual`` stores them shaped and in visual order."""
    import arabic_reshaper
    from bidi.algorithm import get_display
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont
    from reportlab.pdfgen import canvas

    pdfmetrics.registerFont(TTFont("DejaVu", FONT))
    c = canvas.Canvas(str(path))
    y = 800
    for line in lines:
        c.setFont("DejaVu", 16 if line is lines[0] else 10)
        c.drawRightString(560, y, get_display(arabic_reshaper.reshape(line)) if visual else line)
        y -= 40
    c.save()
    return path


def scanned_pdf(path: Path) -> Path:
    """A PDF with only a picture on its page (as a scanner makes): no text layer."""
    from reportlab.pdfgen import canvas

    c = canvas.Canvas(str(path))
    for i in range(30):
        c.rect(50 + i * 15, 700 - i * 5, 10, 40, fill=1)
    c.save()
    return path


def locked_pdf(path: Path, source: Path) -> Path:
    """``source`` encrypted with a user password (it cannot be opened without it)."""
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(source))
    writer.encrypt(user_password="secret", owner_password="owner")
    with path.open("wb") as f:
        writer.write(f)
    return path


def docx(path: Path, lines: list[str], title: str | None = None) -> Path:
    """A Word document: the headline as a heading, then the paragraphs, then a table of figures."""
    import docx as python_docx

    document = python_docx.Document()
    document.add_heading(lines[0], level=1)
    for line in lines[1:]:
        document.add_paragraph(line)
    table = document.add_table(rows=2, cols=2)
    for r, (a, b) in enumerate((("القاعدة", "عين الأسد"), ("الجنود", "2500"))):
        table.cell(r, 0).text, table.cell(r, 1).text = a, b
    if title:
        document.core_properties.title = title
    document.save(str(path))
    return path


def zip_of_other_things(path: Path) -> Path:
    """A ZIP archive named .docx that holds no Word document."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        z.writestr("photo.jpg", b"\xff\xd8\xff\xe0 not really a photo")
    path.write_bytes(buffer.getvalue())
    return path
