"""The text of a PDF, in reading order, Arabic included.

PDF files store glyphs, not text. Many Arabic PDFs store them in visual order: each line's letters
right to left as drawn, as presentation forms (ﻟ ﻷ ﺎ), so an extractor returns «قارعلا» for «العراق».
Such a text layer is recognised by its words (the article «ال» then stands at word ends) and put
back in reading order line by line with the Unicode bidirectional algorithm; presentation forms
become plain letters. A PDF without a text layer (a scan) or behind a password is refused.
"""

from __future__ import annotations

import io
import re
import unicodedata

from rag.errors import IngestFileError

_ARABIC_WORD = re.compile(r"[\u0621-\u064a]{3,}")
# Arabic Presentation Forms-A and -B: shaped glyphs, which NFKC maps back to letters.
_PRESENTATION = re.compile(r"[\ufb50-\ufdff\ufe70-\ufeff]+")
MIN_WORDS_TO_JUDGE = 5  # fewer Arabic words than this: too little to tell the order


def pdf_text(raw: bytes) -> tuple[str, bool]:
    """The text of a PDF's pages and whether its Arabic was stored in visual order (and repaired).

    Paragraphs are separated by a blank line and the lines of one paragraph joined, so sentences
    run on across line breaks as they do on the page.
    """
    from pdfminer.high_level import extract_pages
    from pdfminer.layout import LAParams, LTTextContainer
    from pdfminer.pdfdocument import PDFEncryptionError, PDFPasswordIncorrect
    from pdfminer.pdfparser import PDFSyntaxError
    from pdfminer.psparser import PSException

    blocks: list[list[str]] = []
    try:  # boxes_flow=None: text boxes top to bottom, so a right-aligned heading stays first
        for page in extract_pages(io.BytesIO(raw), laparams=LAParams(boxes_flow=None)):
            for element in page:
                if isinstance(element, LTTextContainer):
                    lines = [line for line in element.get_text().split("\n") if line.strip()]
                    if lines:
                        blocks.append(lines)
    except (PDFPasswordIncorrect, PDFEncryptionError):
        raise IngestFileError(
            "the PDF is password-protected; save an unprotected copy and add that"
        ) from None
    except (PDFSyntaxError, PSException, ValueError, KeyError, TypeError) as e:
        raise IngestFileError(f"not a readable PDF ({type(e).__name__}: {str(e)[:80]})") from None
    if not any(line.strip() for block in blocks for line in block):
        raise IngestFileError(
            "the PDF has no text layer (a scanned document?); run it through OCR and add the result"
        )
    visual = in_visual_order("\n".join(line for block in blocks for line in block))
    fix = reading_order if visual else letters
    return "\n\n".join(" ".join(fix(line).strip() for line in block) for block in blocks), visual


def letters(text: str) -> str:
    """Presentation forms (shaped glyphs, ligatures such as ﻻ) as the letters they stand for."""
    return _PRESENTATION.sub(lambda m: unicodedata.normalize("NFKC", m.group(0)), text)


def in_visual_order(text: str) -> bool:
    """Whether the Arabic words read backwards: «ال» ends more words than it starts.

    In reading order the definite article begins a large share of Arabic words and almost none
    end in «لا»; reversed, the two swap.
    """
    words = _ARABIC_WORD.findall(letters(text))
    if len(words) < MIN_WORDS_TO_JUDGE:
        return False
    starts = sum(w.startswith("ال") for w in words)
    ends = sum(w.endswith("لا") for w in words)
    return ends > 2 * starts and ends >= 2


def reading_order(line: str) -> str:
    """One line stored in visual order, in reading order: the bidi algorithm reverses the Arabic runs and
    keeps numbers and Latin words left to right; then presentation forms become letters (after the
    reversal, so a ligature's two letters keep their order)."""
    from bidi.algorithm import get_display

    return letters(get_display(line, base_dir="R"))
