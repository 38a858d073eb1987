"""Read news files, strip web boilerplate, extract title/outlet/date with provenance.

The decoded file text is kept verbatim as ``Document.text``: every offset the rest
of the system produces (paragraphs, sentences, chunks, citations) points into it.
Cleaning never rewrites the text; it only decides which lines are article body.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import html.parser
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

from rag.dates import DateMention, find_dates, year_from_weekday
from rag.text_ar import detect_language, normalize_ar

SUPPORTED_SUFFIXES = (".txt", ".md", ".markdown", ".html", ".htm")
MAX_FILE_BYTES = 20 * 1024 * 1024
# Legacy Arabic encodings accepted when UTF-8 fails and the detector is confident (its chaos score low).
ARABIC_ENCODINGS = {"cp1256": "Windows-1256", "iso8859_6": "ISO-8859-6"}
MAX_CHAOS = 0.2


def megabytes(n: int) -> str:
    """Sizes in one unit everywhere, so a refused file is never 'the limit' in another rounding."""
    return f"{n / 2 ** 20:.1f} MB"


@dataclass
class Document:
    """One article. ``paragraphs`` are (start, end) spans of body text in ``text``."""

    doc_id: str
    source: str
    text: str
    title: str | None
    outlet: str | None
    date: str | None  # ISO date of publication, only when the text supports it
    language: str
    paragraphs: list[tuple[int, int]]
    provenance: dict[str, str] = field(default_factory=dict)
    flags: list[str] = field(default_factory=list)
    origin: dict[str, str] = field(default_factory=dict)  # how it entered the corpus: via, path, name, at

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "Document":
        d = dict(d)
        d["paragraphs"] = [tuple(p) for p in d["paragraphs"]]
        return cls(**d)

    def body(self) -> str:
        return "\n".join(self.text[a:b] for a, b in self.paragraphs)

    def arrival(self) -> str:
        """How the document entered the corpus, shown beside the outlet its text claims:
        a planted "المصدر: الجزيرة" line in an uploaded file reads as an upload, not as Al Jazeera."""
        via, at = self.origin.get("via"), self.origin.get("at", "")[:16].replace("T", " ")
        if via == "seed":
            return "shipped seed article"
        if via == "upload":
            return f"uploaded in the app {at} UTC".replace("  ", " ")
        if via == "cli":
            return f"added with isnad ingest {at[:10]}".strip()
        if via == "url":
            return f"fetched from {self.origin.get('url', 'the web')} {at} UTC".replace("  ", " ")
        return "origin not recorded"


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


class IngestFileError(ValueError):
    pass


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
            files.extend(sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in SUPPORTED_SUFFIXES))
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
    guess = f"the detector's best guess, {best.encoding}, is not an Arabic encoding it is sure of" if best else \
        "no encoding fits it"
    raise IngestFileError(
        f"not valid UTF-8 (byte {bad.start}: {raw[bad.start:bad.start + 1]!r}) and not confidently Windows-1256 or "
        f"ISO-8859-6 ({guess}); save it as UTF-8 and try again")


def read_text(path: Path) -> tuple[str, str]:
    """Decode a file (see `decode`) or raise a specific, readable error; returns (text, encoding)."""
    check_suffix(path.name)
    check_size(path.stat().st_size)
    return text_of(path.read_bytes(), path.name)


def check_suffix(name: str) -> None:
    suffix = Path(name).suffix
    if suffix.lower() not in SUPPORTED_SUFFIXES:
        raise IngestFileError(f"unsupported file type '{suffix or '(none)'}'; use .txt, .md or .html")


def text_of(raw: bytes, name: str) -> tuple[str, str]:
    """The article text of a file's bytes (HTML reduced to its visible text) and the encoding read."""
    check_size(len(raw))
    utf16 = raw[:2] in (b"\xff\xfe", b"\xfe\xff")  # UTF-16 with its byte order mark ("Unicode" in Windows editors)
    if utf16:
        try:
            raw = raw.decode("utf-16").encode("utf-8")
        except UnicodeDecodeError:
            raise IngestFileError("the file says it is UTF-16 but is not valid UTF-16; save it as UTF-8") from None
    if b"\x00" in raw[:8192]:
        raise IngestFileError("this looks like a binary file (it contains NUL bytes), not text")
    text, encoding = decode(raw)
    encoding = "utf-16" if utf16 else encoding
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if Path(name).suffix.lower() in (".html", ".htm"):
        text = html_to_text(text)
    if not text.strip():
        raise IngestFileError("the file has no text")
    return text, encoding


class _TextExtractor(html.parser.HTMLParser):
    _SKIP = {"script", "style", "noscript", "nav", "footer", "header", "aside", "form", "svg", "button"}
    _BLOCK = {"p", "div", "br", "li", "h1", "h2", "h3", "h4", "h5", "h6", "tr", "section",
              "article", "blockquote", "time", "figcaption", "title"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skip = 0

    def handle_starttag(self, tag, attrs):
        if tag in self._SKIP:
            self.skip += 1
        elif tag in self._BLOCK:
            self.parts.append("\n\n")

    def handle_endtag(self, tag):
        if tag in self._SKIP:
            self.skip = max(0, self.skip - 1)
        elif tag in self._BLOCK:
            self.parts.append("\n\n")

    def handle_data(self, data):
        if not self.skip:
            self.parts.append(data)


def html_to_text(markup: str) -> str:
    """Visible text of an HTML page, one block per paragraph (stdlib only)."""
    parser = _TextExtractor()
    parser.feed(markup)
    text = "".join(parser.parts)
    text = re.sub(r"[ \t]+", " ", text)
    text = re.sub(r" *\n *", "\n", text)
    return re.sub(r"\n{3,}", "\n\n", text).strip() + "\n"


# ---------------------------------------------------------------- cleaning

# Whole lines that are site chrome, never article text (compared after normalize_ar).
_BOILERPLATE_LINES = [
    r"(?:اخر|آخر) الاخبار|(?:اقرا|إقرأ|اقرأ) (?:ايضا|أيضا|المزيد)|قد يعجبك (?:ايضا|أيضا)",
    r"تحميل المزيد|عرض المزيد|المزيد|تابع القراءه|اقرا المزيد",
    r"شارك(?: القصه| المقال| الخبر)?|مشاركه|شارك على .*|تابعنا(?: على .*)?|انشر",
    r"اترك تعليقا?ً?|اضف تعليقا?|التعليقات|تعليقات|لن يتم نشر عنوان بريدك الالكتروني.*",
    r"اغلاق|close|changed|share|follow us.*|load more|read more|related(?: articles)?|comments?",
    r"leave a (?:comment|reply)|advertisement|اعلان|sign up.*|subscribe.*|print|طباعه",
]
_BOILERPLATE_RE = re.compile(r"^(?:%s)[.:!\s]*$" % "|".join(_BOILERPLATE_LINES), re.IGNORECASE)
# Cookie/consent notices are long but unmistakable.
_COOKIE_RE = re.compile(r"ملفات تعريف الارتباط|الكوكيز|cookies?\b.*(?:accept|consent|agree)|we use cookies", re.I)
# A site's comment policy under an article ("the views below do not reflect the site's").
_POLICY_RE = re.compile(r"لا تعبر عن رأي (?:ال)?موقع|مراجعة التعليقات قبل نشرها|do not (?:necessarily )?reflect the views of", re.I)
_AGENCIES = r"رويترز|ا ف ب|أ ف ب|فرانس برس|اف ب|غيتي|جيتي|getty(?: images)?|reuters|afp|ap|اسوشيتد برس|الاناضول|shutterstock|وكالات"
# "قوات التحالف في العراق - رويترز", "... (غيتي)": photo captions with a credit.
_CREDIT_RE = re.compile(rf"(?:[-–|/]\s*(?:{_AGENCIES})|\((?:{_AGENCIES})\))\s*$", re.I)
_BYLINE_RE = re.compile(r"^(?:تم النشر|تم التحديث|نشر في|تاريخ النشر|اخر تحديث|published|updated)\s*[:：]?", re.I)
_SOURCE_RE = re.compile(r"^(?:المصدر|المصادر|source|sources)\s*[:：]\s*(?P<rest>.*)$", re.I)

KNOWN_OUTLETS = [
    "عربي بوست", "عنب بلدي", "العربي الجديد", "العربي", "العرب", "الجزيرة", "الجزيرة نت",
    "العربية", "سكاي نيوز عربية", "بي بي سي عربي", "الشرق الأوسط", "الحرة", "روسيا اليوم",
    "فرانس 24", "اندبندنت عربية", "رووداو", "السومرية نيوز", "شفق نيوز", "المدى", "الصباح",
    "وكالة الأنباء العراقية", "Middle East Eye", "Al Jazeera", "Reuters", "Associated Press",
]
_OUTLET_NORM = {normalize_ar(o).lower(): o for o in KNOWN_OUTLETS}


@dataclass
class _Line:
    start: int
    end: int
    text: str
    norm: str


def _lines(text: str) -> list[_Line]:
    out, pos = [], 0
    for raw in text.split("\n"):
        stripped = raw.strip()
        if stripped:
            a = pos + raw.index(stripped[0])
            out.append(_Line(a, a + len(stripped), stripped, normalize_ar(stripped).lower()))
        pos += len(raw) + 1
    return out


def _is_date_line(line: _Line) -> bool:
    """A line that is only a date (with weekday, time, separators): page or article dateline."""
    dates = find_dates(line.text)
    if not dates:
        return False
    rest = line.text
    for d in reversed(dates):
        rest = rest[: d.start] + rest[d.end:]
    rest = re.sub(r"الساعة|بتوقيت.*|\d{1,2}:\d\d|gmt|[/\-–|,،:]", " ", rest, flags=re.I)
    rest = re.sub("|".join(d for d in ("السبت", "الأحد", "الاحد", "الاثنين", "الإثنين", "الثلاثاء",
                                       "الأربعاء", "الاربعاء", "الخميس", "الجمعة")), " ", rest)
    return not rest.strip(" \u00a0.")


def _is_chrome(line: _Line) -> bool:
    return bool(_BOILERPLATE_RE.match(line.norm) or _COOKIE_RE.search(line.text) or _POLICY_RE.search(line.text))


def _is_caption(line: _Line) -> bool:
    return len(line.text.split()) <= 25 and bool(_CREDIT_RE.search(line.norm))


@dataclass
class _Meta:
    title: str | None = None
    outlet: str | None = None
    date: str | None = None
    provenance: dict[str, str] = field(default_factory=dict)
    flags: list[str] = field(default_factory=list)


def clean(text: str, today: dt.date | None = None) -> tuple[list[tuple[int, int]], _Meta]:
    """Decide which lines are article body; extract title, outlet and date on the way."""
    today = today or dt.date.today()
    lines = _lines(text)
    meta = _Meta()
    body: list[_Line] = []
    seen: set[str] = set()
    header_dates: list[tuple[str, DateMention, int]] = []  # (where, mention, line no)
    skip_next_source_value = False
    for i, line in enumerate(lines):
        if skip_next_source_value:
            skip_next_source_value = False
            if len(line.text.split()) <= 6:
                meta.outlet = meta.outlet or _outlet_from_list(line.text)
                meta.provenance.setdefault("outlet", f"line {i + 1}: source credit '{line.text}'")
                continue
        if _is_chrome(line):
            continue
        m = _SOURCE_RE.match(line.text)
        if m:
            rest = m.group("rest").strip()
            if rest:
                meta.outlet = meta.outlet or _outlet_from_list(rest)
                meta.provenance.setdefault("outlet", f"line {i + 1}: source credit '{line.text}'")
            else:
                skip_next_source_value = True
            continue
        byline_date = _byline_date(line)
        if byline_date:
            header_dates.append(("byline", byline_date, i))
            continue
        if i < 8 and len(line.text.split()) <= 4 and line.norm in _OUTLET_NORM:
            meta.outlet = meta.outlet or _OUTLET_NORM[line.norm]
            meta.provenance.setdefault("outlet", f"line {i + 1}: outlet name under the headline")
            continue
        if _is_date_line(line):
            d = next((d for d in find_dates(line.text) if d.date), None)
            if d and i < 10:
                header_dates.append(("dateline" if meta.title else "page header", d, i))
            continue
        if _is_caption(line):
            continue
        if line.norm in seen or any(line.norm.startswith(s) and _is_caption_tail(line.norm[len(s):]) for s in seen):
            continue  # repeated headline, or a caption repeating a standfirst
        seen.add(line.norm)
        if meta.title is None:
            meta.title = line.text
            meta.provenance["title"] = f"line {i + 1}: first non-boilerplate line"
        body.append(line)
    meta.date = _publication_date(body, header_dates, meta, today)
    return [(ln.start, ln.end) for ln in body], meta


def _byline_date(line: _Line) -> DateMention | None:
    """'تم النشر: 2021/06/05 ...' or 'Published: June 5, 2021': a short line led by a publication label."""
    if not _BYLINE_RE.match(line.text) or len(line.text.split()) > 12:
        return None
    return next((d for d in find_dates(line.text) if d.date and d.precision == "day"), None)


def _is_caption_tail(tail: str) -> bool:
    tail = tail.strip()
    return bool(tail) and len(tail.split()) <= 4 and bool(_CREDIT_RE.search(tail))


def _outlet_from_list(text: str) -> str | None:
    names = [n.strip(" .") for n in re.split(r"[،,؛;]", text)]
    names = [n for n in names if n and normalize_ar(n) not in ("وكالات", "agencies")]
    return names[0] if names else None


def _publication_date(body: list[_Line], header: list[tuple[str, DateMention, int]],
                      meta: _Meta, today: dt.date) -> str | None:
    """Pick the article date, preferring a byline or dateline; never trust page chrome alone.

    Page-header dates (above the headline) are usually the site's "today" or a crawl
    date. They count only when the body confirms them.
    """
    lead_dates = [d for ln in body[:4] for d in find_dates(ln.text, None) if d.weekday is not None]
    for where, mention, i in header:
        if where == "page header":
            confirmed = any(d.date == mention.date for ln in body for d in find_dates(ln.text) if d.date)
            if not confirmed:
                meta.flags.append(
                    f"page date {mention.date.isoformat()} ('{mention.text}', line {i + 1}) sits above the "
                    "headline and the article body does not confirm it: not used as the article date"
                )
                continue
        iso = mention.date.isoformat()
        meta.provenance["date"] = f"line {i + 1}: {where} '{mention.text}'"
        for d in lead_dates:
            if d.date and abs((d.date - mention.date).days) > 2:
                meta.flags.append(f"{where} date {iso} differs from the date in the lead paragraph '{d.text}'")
        return iso
    # No usable header date: a full weekday date in the lead ("السبت 5 يونيو/حزيران 2021").
    for d in lead_dates:
        if d.date and not d.relative:
            meta.provenance["date"] = f"lead paragraph: '{d.text}'"
            return d.date.isoformat()
        if d.date is None and d.weekday is not None:
            m = re.search(r"(\d{1,2})", d.text)
            months = [mm for mm in find_dates(d.text, today) if mm.date]
            if m and months:
                year, years = year_from_weekday(int(m.group(1)), months[0].date.month, d.weekday, today)
                if year:
                    meta.provenance["date"] = (
                        f"lead paragraph: '{d.text}' has no year; {year} is the latest year in which that "
                        f"day fell on that weekday (others: {', '.join(map(str, years[1:4])) or 'none'})"
                    )
                    meta.flags.append(f"article year inferred from the weekday in '{d.text}'")
                    return dt.date(year, months[0].date.month, int(m.group(1))).isoformat()
    meta.flags.append("no publication date found in the text")
    return None


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


def ingest_paths(paths: list[str | Path], today: dt.date | None = None,
                 origin: dict[str, str] | None = None) -> IngestResult:
    """Read every file; one bad file is reported and skipped, never fatal.

    ``origin`` says how the files entered the corpus (shown beside the outlet the text claims).
    """
    files, errors = iter_files(paths)
    docs: dict[str, Document] = {}
    duplicates: list[str] = []
    for f in files:
        try:
            text, encoding = read_text(f)
            doc = parse_document(text, str(f), today)
        except (IngestFileError, OSError) as e:
            errors.append(IngestError(str(f), str(e)))
            continue
        if encoding != "utf-8":
            name = ARABIC_ENCODINGS.get(encoding, encoding.upper())
            doc.provenance["encoding"] = f"{name} (detected; the file is not UTF-8)"
        doc.origin = {"via": "seed" if _is_seed(f) else "cli", "path": str(f), **(origin or {})}
        _apply_page_meta(doc, f)
        if doc.doc_id in docs:
            duplicates.append(f"{f} is the same article as {docs[doc.doc_id].source}")
            continue
        docs[doc.doc_id] = doc
    return IngestResult(list(docs.values()), errors, duplicates)


def _apply_page_meta(doc: Document, path: Path) -> None:
    """A page fetched by URL (rag.web) carries its markup's title, outlet and date, which win over
    what the extracted text alone suggests; its address and fetch time become the origin."""
    from rag.web import saved_meta

    meta = saved_meta(path)
    if meta is None:
        return
    doc.title = meta.get("title") or doc.title
    doc.outlet = meta.get("outlet") or doc.outlet
    if meta.get("date"):
        doc.date = meta["date"]
        doc.flags = [f for f in doc.flags if not f.startswith("no publication date")]
    doc.provenance.update({k: str(v) for k, v in (meta.get("provenance") or {}).items()})
    doc.flags += [str(f) for f in meta.get("flags") or [] if str(f) not in doc.flags]
    doc.origin.update({"via": "url", "url": str(meta["url"]), "fetched": str(meta.get("fetched_at", ""))})


SEEDS_DIR = Path(__file__).resolve().parents[1] / "seeds"


def _is_seed(path: Path) -> bool:
    """A file of the articles shipped in the repository's seeds/ folder."""
    try:
        return path.resolve().is_relative_to(SEEDS_DIR)
    except OSError:
        return False
