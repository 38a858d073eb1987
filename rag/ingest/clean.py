"""An article's body out of a page's text: markup to text, site chrome and captions dropped,
outlet and publication date found."""

from __future__ import annotations

import datetime as dt
import html.parser
import re
from dataclasses import dataclass, field

from rag.text.arabic import normalize_ar
from rag.text.dates import DateMention, find_dates, year_from_weekday


class _TextExtractor(html.parser.HTMLParser):
    _SKIP = {"script", "style", "noscript", "nav", "footer", "header", "aside", "form", "svg", "button"}
    # fmt: off
    _BLOCK = {
        "p", "div", "br", "li", "h1", "h2", "h3", "h4", "h5", "h6", "tr", "section", "article", "blockquote",
        "time", "figcaption", "title",
    }
    # fmt: on

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


# Whole lines that are site chrome, never article text (compared after normalize_ar).
_BOILERPLATE_LINES = [
    r"(?:اخر|آخر) الاخبار|(?:اقرا|إقرأ|اقرأ) (?:ايضا|أيضا|المزيد)|قد يعجبك (?:ايضا|أيضا)",
    r"تحميل المزيد|عرض المزيد|المزيد|تابع القراءه|اقرا المزيد",
    r"شارك(?: القصه| المقال| الخبر)?|مشاركه|شارك على .*|تابعنا(?: على .*)?|انشر",
    r"اترك تعليقا?ً?|اضف تعليقا?|التعليقات|تعليقات|لن يتم نشر عنوان بريدك الالكتروني.*",
    r"اغلاق|close|changed|share|follow us.*|load more|read more|related(?: articles)?|comments?",
    r"leave a (?:comment|reply)|advertisement|اعلان|sign up.*|subscribe.*|print|طباعه",
]


_BOILERPLATE_RE = re.compile(r"^(?:{})[.:!\s]*$".format("|".join(_BOILERPLATE_LINES)), re.IGNORECASE)


# Cookie/consent notices are long but unmistakable.
_COOKIE_RE = re.compile(
    r"ملفات تعريف الارتباط|الكوكيز|cookies?\b.*(?:accept|consent|agree)|we use cookies", re.I
)


# A site's comment policy under an article ("the views below do not reflect the site's").
_POLICY_RE = re.compile(
    r"لا تعبر عن رأي (?:ال)?موقع|مراجعة التعليقات قبل نشرها|do not (?:necessarily )?reflect the views of",
    re.I,
)


_AGENCIES = (
    r"رويترز|ا ف ب|أ ف ب|فرانس برس|اف ب|غيتي|جيتي|getty(?: images)?|reuters|afp|ap|اسوشيتد برس|الاناضول|"
    r"shutterstock|وكالات"
)


# "قوات التحالف في العراق - رويترز", "... (غيتي)": photo captions with a credit.
_CREDIT_RE = re.compile(rf"(?:[-–|/]\s*(?:{_AGENCIES})|\((?:{_AGENCIES})\))\s*$", re.I)


_BYLINE_RE = re.compile(
    r"^(?:تم النشر|تم التحديث|نشر في|تاريخ النشر|اخر تحديث|published|updated)\s*[:：]?", re.I
)


_SOURCE_RE = re.compile(r"^(?:المصدر|المصادر|source|sources)\s*[:：]\s*(?P<rest>.*)$", re.I)


# fmt: off
KNOWN_OUTLETS = [
    "عربي بوست", "عنب بلدي", "العربي الجديد", "العربي", "العرب", "الجزيرة", "الجزيرة نت", "العربية",
    "سكاي نيوز عربية", "بي بي سي عربي", "الشرق الأوسط", "الحرة", "روسيا اليوم", "فرانس 24", "اندبندنت عربية",
    "رووداو", "السومرية نيوز", "شفق نيوز", "المدى", "الصباح", "وكالة الأنباء العراقية", "Middle East Eye",
    "Al Jazeera", "Reuters", "Associated Press",
]
# fmt: on


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
        rest = rest[: d.start] + rest[d.end :]
    rest = re.sub(r"الساعة|بتوقيت.*|\d{1,2}:\d\d|gmt|[/\-–|,،:]", " ", rest, flags=re.I)
    # fmt: off
    rest = re.sub(
        "|".join(
            d
            for d in (
                "السبت", "الأحد", "الاحد", "الاثنين", "الإثنين", "الثلاثاء", "الأربعاء", "الاربعاء", "الخميس",
                "الجمعة",
            )
        ),
        " ",
        rest,
    )
    # fmt: on
    return not rest.strip(" \u00a0.")


def _is_chrome(line: _Line) -> bool:
    return bool(
        _BOILERPLATE_RE.match(line.norm) or _COOKIE_RE.search(line.text) or _POLICY_RE.search(line.text)
    )


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
        if line.norm in seen or any(
            line.norm.startswith(s) and _is_caption_tail(line.norm[len(s) :]) for s in seen
        ):
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


def _publication_date(
    body: list[_Line], header: list[tuple[str, DateMention, int]], meta: _Meta, today: dt.date
) -> str | None:
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
                meta.flags.append(
                    f"{where} date {iso} differs from the date in the lead paragraph '{d.text}'"
                )
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
