"""Read news files, strip web boilerplate, extract title/outlet/date with provenance.

The decoded file text is kept verbatim as ``Document.text``: every offset the rest
of the system produces (paragraphs, sentences, chunks, citations) points into it.
Cleaning never rewrites the text; it only decides which lines are article body.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from rag.data import PROJECT_ROOT
from rag.errors import IngestFileError
from rag.ingest.clean import clean, html_to_text
from rag.text.arabic import detect_language, normalize_ar
from rag.types import Document

SUPPORTED_SUFFIXES = (".txt", ".md", ".markdown", ".html", ".htm", ".pdf", ".docx")
MAX_FILE_BYTES = 20 * 1024 * 1024
# Legacy Arabic encodings accepted when UTF-8 fails and the detector is confident (its chaos score low).
ARABIC_ENCODINGS = {"cp1256": "Windows-1256", "iso8859_6": "ISO-8859-6"}
# What a document's text was read from, when not a text file: recorded in its provenance.
FORMATS = {
    "pdf": "the PDF's text layer",
    "pdf-visual": "the PDF's text layer, stored in visual order and put back in reading order",
    "docx": "the Word document's paragraphs and tables",
}
MAX_CHAOS = 0.2


def megabytes(n: int) -> str:
    """Sizes in one unit everywhere, so a refused file is never 'the limit' in another rounding."""
    return f"{n / 2**20:.1f} MB"


@dataclass
class IngestError:
    """A file that could not be read, and why (the other files still go in)."""

    source: str
    reason: str


@dataclass
class IngestResult:
    documents: list[Document]
    errors: list[IngestError]
    duplicates: list[str]


# ---------------------------------------------------------------- reading


def is_url(text: str) -> bool:
    """Something given as a source that names a web address (or any scheme) rather than a file."""
    return re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*://", text) is not None


def iter_files(paths: list[str | Path]) -> tuple[list[Path], list[IngestError]]:
    """Expand folders (recursively, supported suffixes only), report missing paths."""
    files: list[Path] = []
    errors: list[IngestError] = []
    for p in map(Path, paths):
        if p.is_dir():
            files.extend(
                sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in SUPPORTED_SUFFIXES)
            )
        elif p.is_file():
            files.append(p)
        else:
            errors.append(IngestError(str(p), "no such file or folder"))
    return files, errors


def check_size(size: int) -> None:
    """Refuse empty and oversized files before anything is copied or read."""
    if size == 0:
        raise IngestFileError("the file is empty")
    if size > MAX_FILE_BYTES:
        raise IngestFileError(f"the file is {megabytes(size)}; the limit is {megabytes(MAX_FILE_BYTES)}")


def decode(raw: bytes) -> tuple[str, str]:
    """The text and the encoding it was read with: UTF-8 (BOM allowed), else a confident Arabic detection."""
    try:
        return raw.decode("utf-8-sig"), "utf-8"
    except UnicodeDecodeError as e:
        bad = e
    from charset_normalizer import from_bytes

    best = from_bytes(raw).best()
    if best is not None and best.encoding in ARABIC_ENCODINGS and best.chaos <= MAX_CHAOS:
        return str(best), best.encoding
    guess = (
        f"the detector's best guess, {best.encoding}, is not an Arabic encoding it is sure of"
        if best
        else "no encoding fits it"
    )
    raise IngestFileError(
        f"not valid UTF-8 (byte {bad.start}: {raw[bad.start : bad.start + 1]!r}) and not confidently Windows-1256 or "
        f"ISO-8859-6 ({guess}); save it as UTF-8 and try again"
    )


def read_text(path: Path) -> tuple[str, str]:
    """Decode a file (see `decode`) or raise a specific, readable error; returns (text, encoding)."""
    check_suffix(path.name)
    check_size(path.stat().st_size)
    return text_of(path.read_bytes(), path.name)


def check_suffix(name: str) -> None:
    suffix = Path(name).suffix
    if suffix.lower() not in SUPPORTED_SUFFIXES:
        raise IngestFileError(
            f"unsupported file type '{suffix or '(none)'}'; use .txt, .md, .html, .pdf or .docx"
        )


def text_of(raw: bytes, name: str) -> tuple[str, str]:
    """The article text of a file's bytes and what it was read as (see `read_file`)."""
    read = read_file(raw, name)
    return read.text, read.read_as


@dataclass
class Read:
    """A file's article text, what it was read as (an encoding or a key of ``FORMATS``), and, for an HTML
    page, what its markup says (title, outlet, date, as `rag.ingest.web.Page.meta` gives them)."""

    text: str
    read_as: str
    markup: dict | None = None


def read_file(raw: bytes, name: str) -> Read:
    """Text files decoded; an HTML page's article extracted as a fetched page's is (trafilatura, with its
    markup's metadata), or its visible text when no article is found; PDF and Word text extracted."""
    check_size(len(raw))
    suffix = Path(name).suffix.lower()
    if suffix in (".pdf", ".docx"):
        return Read(*_document_text(raw, suffix))
    # UTF-16 with its byte order mark ("Unicode" in Windows editors)
    utf16 = raw[:2] in (b"\xff\xfe", b"\xfe\xff")
    if utf16:
        try:
            raw = raw.decode("utf-16").encode("utf-8")
        except UnicodeDecodeError:
            raise IngestFileError(
                "the file says it is UTF-16 but is not valid UTF-16; save it as UTF-8"
            ) from None
    if b"\x00" in raw[:8192]:
        raise IngestFileError("this looks like a binary file (it contains NUL bytes), not text")
    text, encoding = decode(raw)
    encoding = "utf-16" if utf16 else encoding
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    markup = None
    if suffix in (".html", ".htm"):
        page = _article_of(text.encode("utf-8"), name)  # decoded as above, whatever the file declares
        text, markup = (page.text, page.meta()) if page else (html_to_text(text), None)
    if not text.strip():
        raise IngestFileError("the file has no text")
    return Read(text, encoding, markup)


def _article_of(raw: bytes, name: str):
    """A saved web page's article, as `rag.ingest.web.extract` reads a fetched one; None when it finds
    no article (a short or unusual page), so the page's visible text is used instead."""
    from rag.errors import FetchError
    from rag.ingest.web import extract

    try:
        return extract(raw, name, encoding="utf-8")
    except FetchError:
        return None


def _document_text(raw: bytes, suffix: str) -> tuple[str, str]:
    if suffix == ".pdf":
        from rag.ingest.pdf import pdf_text

        text, visual = pdf_text(raw)
        read_as = "pdf-visual" if visual else "pdf"
    else:
        from rag.ingest.word import docx_text

        text, read_as = docx_text(raw), "docx"
    if not text.strip():
        raise IngestFileError("the file has no text")
    return text, read_as


# ---------------------------------------------------------------- documents


def doc_id_for(text: str) -> str:
    """Content-derived id: the same article from two paths is one document."""
    return hashlib.sha256(normalize_ar(text).encode("utf-8")).hexdigest()[:16]


def parse_document(text: str, source: str, today: dt.date | None = None) -> Document:
    paragraphs, meta = clean(text, today)
    if not paragraphs:
        raise IngestFileError("no article text left after removing boilerplate")
    body = "\n".join(text[a:b] for a, b in paragraphs)
    return Document(
        doc_id=doc_id_for(body),
        source=source,
        text=text,
        title=meta.title,
        outlet=meta.outlet,
        date=meta.date,
        language=detect_language(body),
        paragraphs=paragraphs,
        provenance=meta.provenance,
        flags=meta.flags,
    )


def ingest_paths(
    paths: list[str | Path], today: dt.date | None = None, origin: dict[str, str] | None = None
) -> IngestResult:
    """Read every file; one bad file is reported and skipped, never fatal.

    ``origin`` says how the files entered the corpus (shown beside the outlet the text claims).
    """
    files, errors = iter_files(paths)
    docs: dict[str, Document] = {}
    duplicates: list[str] = []
    for f in files:
        try:
            check_suffix(f.name)
            check_size(f.stat().st_size)
            read = read_file(f.read_bytes(), f.name)
            text, encoding = read.text, read.read_as
            doc = parse_document(text, str(f), today)
        except (IngestFileError, OSError) as e:
            errors.append(IngestError(str(f), str(e)))
            continue
        if encoding in FORMATS:
            doc.provenance["format"] = FORMATS[encoding]
        elif encoding != "utf-8":
            name = ARABIC_ENCODINGS.get(encoding, encoding.upper())
            doc.provenance["encoding"] = f"{name} (detected; the file is not UTF-8)"
        doc.origin = {"via": "seed" if _is_seed(f) else "cli", "path": str(f), **(origin or {})}
        _apply_page_meta(doc, f, read.markup)
        if doc.doc_id in docs:
            duplicates.append(f"{f} is the same article as {docs[doc.doc_id].source}")
            continue
        docs[doc.doc_id] = doc
    return IngestResult(list(docs.values()), errors, duplicates)


def _apply_page_meta(doc: Document, path: Path, markup: dict | None = None) -> None:
    """A page fetched by URL (rag.ingest.web) or saved as an .html file carries its markup's title, outlet
    and date, which win over what the extracted text alone suggests; a fetched page's address and fetch
    time become the origin."""
    from rag.ingest.web import saved_meta

    meta = saved_meta(path)
    if meta is None and markup is not None:  # an .html file: its markup, not an address
        meta = {k: v for k, v in markup.items() if k in ("title", "outlet", "date", "provenance", "flags")}
    if meta is None:
        return
    doc.title = meta.get("title") or doc.title
    doc.outlet = meta.get("outlet") or doc.outlet
    if meta.get("date"):
        doc.date = meta["date"]
        doc.flags = [f for f in doc.flags if not f.startswith("no publication date")]
    doc.provenance.update({k: str(v) for k, v in (meta.get("provenance") or {}).items()})
    doc.flags += [str(f) for f in meta.get("flags") or [] if str(f) not in doc.flags]
    if "url" in meta:
        doc.origin.update({"via": "url", "url": str(meta["url"]), "fetched": str(meta.get("fetched_at", ""))})


SEEDS_DIR = PROJECT_ROOT / "seeds"


def _is_seed(path: Path) -> bool:
    """A file of the articles shipped in the repository's seeds/ folder."""
    try:
        return path.resolve().is_relative_to(SEEDS_DIR)
    except OSError:
        return False
