"""Dates in Arabic and English news text: find them, and resolve relative ones.

Arabic news writes one date many ways: ``5 يونيو/حزيران 2021``, ``2021/06/05``,
``الخميس 25 من كانون الثاني``, ``السابع من أبريل الماضي``, ``نهاية العام الجاري``.
Each mention keeps its span so a timeline line can cite the exact words.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, replace

from rag.text.arabic import fold_same_length, normalize_ar

_MONTHS_RAW = {
    1: "يناير كانون الثاني january jan",
    2: "فبراير شباط february feb",
    3: "مارس آذار اذار march mar",
    4: "أبريل ابريل إبريل نيسان april apr",
    5: "مايو أيار ايار may",
    6: "يونيو يونيه حزيران june jun",
    7: "يوليو يوليه تموز july jul",
    8: "أغسطس اغسطس آب اب august aug",
    9: "سبتمبر أيلول ايلول september sep sept",
    10: "أكتوبر اكتوبر تشرين الأول october oct",
    11: "نوفمبر تشرين الثاني november nov",
    12: "ديسمبر كانون الأول december dec",
}
# Multi-word Levantine names first, so "كانون الثاني" wins over a bare "كانون".
_MONTH_NAMES: dict[str, int] = {}
for _m, _names in _MONTHS_RAW.items():
    for _n in re.findall(r"تشرين \S+|كانون \S+|\S+", _names):
        _MONTH_NAMES[normalize_ar(_n).lower()] = _m

WEEKDAYS = {  # Python weekday numbers
    "الاثنين": 0,
    "الإثنين": 0,
    "الثلاثاء": 1,
    "الأربعاء": 2,
    "الاربعاء": 2,
    "الخميس": 3,
    "الجمعة": 4,
    "السبت": 5,
    "الأحد": 6,
    "الاحد": 6,
    "monday": 0,
    "tuesday": 1,
    "wednesday": 2,
    "thursday": 3,
    "friday": 4,
    "saturday": 5,
    "sunday": 6,
}
_WEEKDAY_NORM = {normalize_ar(k).lower(): v for k, v in WEEKDAYS.items()}

_ORDINAL_UNITS = ["الأول", "الثاني", "الثالث", "الرابع", "الخامس", "السادس", "السابع", "الثامن", "التاسع"]
_ORDINALS: dict[str, int] = {"الأول": 1, "الحادي": 1, "الأولى": 1}
for _i, _w in enumerate(_ORDINAL_UNITS, start=1):
    _ORDINALS[_w] = _i
_ORDINALS["العاشر"] = 10
for _i, _w in enumerate(["الحادي"] + _ORDINAL_UNITS[1:], start=1):
    _ORDINALS[f"{_w} عشر"] = 10 + _i
_ORDINALS["العشرين"] = 20
_ORDINALS["الثلاثين"] = 30
for _tens, _tw in ((20, "العشرين"), (30, "الثلاثين")):
    for _i, _w in enumerate(["الحادي"] + _ORDINAL_UNITS[1:], start=1):
        if _tens + _i <= 31:
            _ORDINALS[f"{_w} و{_tw}"] = _tens + _i
_ORDINAL_NORM = {normalize_ar(k): v for k, v in _ORDINALS.items()}


def _alt(words) -> str:
    """Alternation of whole words (Arabic letters count as word characters)."""
    body = "|".join(sorted((re.escape(w) for w in words), key=len, reverse=True))
    return rf"(?<!\w)(?:{body})(?!\w)"


_MONTH_RE = _alt(_MONTH_NAMES)
_WEEKDAY_RE = _alt(_WEEKDAY_NORM)
_ORD_RE = _alt(_ORDINAL_NORM)
# A month may be written twice, "يونيو/حزيران" or "أبريل- نيسان" or "يوليو/ تموز".
_MONTH_PAIR = rf"(?P<month>{_MONTH_RE})(?:\s*[/\-–]\s*(?:{_MONTH_RE}))?"
# A year of this century or the last; an older one («1858», «1565م») only where a date ends: before
# punctuation, «م», the end, or a linking word, so «في مايو 1500 شخص» stays a count.
_YEAR = r"(?P<y>(?:19|20)\d\d(?!\d)|1[0-8]\d\d(?=م?(?:[\s]*[،,.;؛:)\-–]|\s*$|\s+(?:و|في|حتي|الى|ميلادي|هجري)(?!\w))))"
_RELATIVE = r"(?P<rel>الماضي|الماضيه|المقبل|المقبله|القادم|الحالي|الجاري|last|next|this)"

_PATTERNS = [
    # 2021/06/05, 2021-06-05
    ("ymd", re.compile(r"(?<!\d)(?P<y>(?:19|20)\d\d)[/\-.](?P<m>\d{1,2})[/\-.](?P<d>\d{1,2})(?!\d)")),
    # 05/06/2021, 3-4-2021 (day first, as Arabic outlets write it)
    ("dmy", re.compile(r"(?<!\d)(?P<d>\d{1,2})[/\-.](?P<m>\d{1,2})[/\-.](?P<y>(?:19|20)\d\d)(?!\d)")),
    # [weekday] 5 [من] يونيو/حزيران [2021] / June 5, 2021
    (
        "dm",
        re.compile(
            rf"(?:(?P<wd>{_WEEKDAY_RE})[\s،,]+)?(?P<d>\d{{1,2}}|{_ORD_RE})\s+(?:من\s+)?(?:شهر\s+)?{_MONTH_PAIR}"
            rf"(?:\s*،?\s*(?:(?:من\s+)?(?:سنه|عام)\s+)?{_YEAR}|\s+{_RELATIVE})?"
        ),
    ),
    (
        "md",
        re.compile(
            rf"(?:(?P<wd>{_WEEKDAY_RE})[\s,]+)?(?P<month>{_MONTH_RE})\s+(?P<d>\d{{1,2}})(?!\d)(?:st|nd|rd|th)?"
            rf"(?:,?\s+{_YEAR})?"
        ),
    ),
    # يونيو الماضي, يناير 2020, شهر يوليو المقبل
    ("m", re.compile(rf"(?:شهر\s+)?{_MONTH_PAIR}(?:\s*(?:(?:سنه|عام)\s+)?{_YEAR}|\s+{_RELATIVE})?")),
    # الشهر الماضي, العام الجاري, last year
    ("relm", re.compile(r"(?:الشهر|شهر)\s+(?P<rel>الماضي|المقبل|القادم|الحالي|الجاري)")),
    (
        "rely",
        re.compile(
            r"(?:العام|عام|السنه|سنه)\s+(?P<rel>الماضي|المقبل|القادم|الحالي|الجاري)"
            r"|(?P<rel2>هذا)\s+العام|(?P<en>last|next|this)\s+year"
        ),
    ),
    ("year", re.compile(rf"(?:عام|العام|سنه|in|year)\s+{_YEAR}")),
    # A bare weekday ("اعتبرت بغداد الأحد"): the latest such day on or before the article date.
    ("wd", re.compile(rf"(?:يوم\s+)?(?P<wd>{_WEEKDAY_RE})")),
]
# Words before a period that move the event to its end or start: "نهاية العام الجاري", "end of May".
_EDGE = re.compile(
    r"(?P<end>نهايه|اواخر|بنهايه|late|end of|the end of)\s*$|(?P<start>بدايه|مطلع|اوائل|early|start of)\s*$"
)


@dataclass(frozen=True)
class DateMention:
    """One date expression: its span in the searched text and what it means.

    ``date`` is the resolved calendar date (day 1 for month precision, 1 January
    for year precision); ``precision`` is 'day', 'month' or 'year'.
    ``relative`` says the value depended on the reference date.
    """

    start: int
    end: int
    text: str
    date: dt.date | None
    precision: str
    relative: bool = False
    weekday: int | None = None
    note: str = ""
    edge: str = ""  # 'end' or 'start' when the text says "end of"/"start of" the period
    day: int | None = None  # the day of the month when the year could not be resolved

    @property
    def last_day(self) -> dt.date | None:
        """The last day the mention covers: 2021-12-31 for "the end of 2021"."""
        if self.date is None or self.precision == "day":
            return self.date
        if self.precision == "year":
            return dt.date(self.date.year, 12, 31)
        nxt = dt.date(self.date.year + self.date.month // 12, self.date.month % 12 + 1, 1)
        return nxt - dt.timedelta(days=1)

    @property
    def sort_date(self) -> dt.date | None:
        """Where a timeline puts it: the period's end for "end of …", else its first day."""
        return self.last_day if self.edge == "end" else self.date

    @property
    def label(self) -> str:
        """ISO text at the mention's precision: 2021-07-26, 2021-07, 2021, "end of 2021"."""
        if self.date is None:
            return self.text
        iso = {"day": self.date.isoformat(), "month": self.date.isoformat()[:7], "year": str(self.date.year)}
        return {"end": "end of ", "start": "start of "}.get(self.edge, "") + iso[self.precision]


def _month_of(word: str) -> int:
    return _MONTH_NAMES[word.lower()]


def _resolve_month(month: int, rel: str | None, ref: dt.date | None) -> int | None:
    """Year of a month named without one, from the reference date and 'last/next'."""
    if ref is None:
        return None
    if rel in ("الماضي", "الماضيه", "last"):
        return ref.year if month < ref.month else ref.year - 1
    if rel in ("المقبل", "المقبله", "القادم", "next"):
        return ref.year if month > ref.month else ref.year + 1
    return ref.year


def year_from_weekday(day: int, month: int, weekday: int, latest: dt.date) -> tuple[int | None, list[int]]:
    """Years (newest first, from 2000) in which day/month fell on ``weekday``."""
    years = []
    for y in range(latest.year, 1999, -1):
        try:
            d = dt.date(y, month, day)
        except ValueError:
            continue
        if d <= latest and d.weekday() == weekday:
            years.append(y)
    return (years[0] if years else None), years


def find_dates(text: str, ref: dt.date | None = None) -> list[DateMention]:
    """All date mentions in ``text``, resolving relative ones against ``ref`` if given.

    Offsets refer to ``text`` itself: normalisation here never changes length.
    """
    norm = fold_same_length(text)
    taken = [False] * len(text)
    found: list[DateMention] = []
    for kind, pattern in _PATTERNS:
        for m in pattern.finditer(norm):
            if any(taken[m.start() : m.end()]):
                continue
            mention = _interpret(kind, m, text, ref)
            if mention is None:
                continue
            for i in range(m.start(), m.end()):
                taken[i] = True
            edge = _EDGE.search(norm[max(0, m.start() - 12) : m.start()])
            if edge and mention.precision != "day":
                mention = replace(mention, edge="end" if edge.group("end") else "start")
            found.append(mention)
    return sorted(found, key=lambda d: d.start)


def _interpret(kind: str, m: re.Match, text: str, ref: dt.date | None) -> DateMention | None:
    g = m.groupdict()
    span_text = text[m.start() : m.end()]

    def make(date, precision, relative=False, weekday=None, note=""):
        return DateMention(m.start(), m.end(), span_text, date, precision, relative, weekday, note)

    try:
        if kind in ("ymd", "dmy"):
            return make(dt.date(int(g["y"]), int(g["m"]), int(g["d"])), "day")
        if kind in ("dm", "md"):
            d = g["d"]
            day = int(d) if d.isdigit() else _ORDINAL_NORM[d]
            month = _month_of(g["month"])
            wd = _WEEKDAY_NORM.get(g["wd"]) if g.get("wd") else None
            if g.get("y"):
                return make(dt.date(int(g["y"]), month, day), "day", weekday=wd)
            year = _resolve_month(month, g.get("rel"), ref)
            if year is not None:
                if (
                    g.get("rel") is None
                    and ref is not None
                    and dt.date(year, month, day) > ref + dt.timedelta(days=7)
                ):
                    year -= 1  # a bare past-looking date in a news story: the latest such day
                return make(dt.date(year, month, day), "day", True, wd)
            return DateMention(m.start(), m.end(), span_text, None, "day", True, wd, "year unknown", day=day)
        if kind == "m":
            if not g.get("y") and not g.get("rel") and not m.group(0).startswith("شهر"):
                # A bare month word ("may", "mar") is too ambiguous without a year.
                # fmt: off
                if g["month"] in (
                    "may", "mar", "jan", "jun", "jul", "aug", "sep", "oct", "nov", "dec", "apr", "feb",
                ):
                    return None
                # fmt: on
            month = _month_of(g["month"])
            if g.get("y"):
                return make(dt.date(int(g["y"]), month, 1), "month")
            year = _resolve_month(month, g.get("rel"), ref)
            return make(dt.date(year, month, 1) if year else None, "month", True)
        if kind == "relm":
            if ref is None:
                return make(None, "month", True, note="reference date unknown")
            shift = {"الماضي": -1, "المقبل": 1, "القادم": 1}.get(g["rel"], 0)
            y, mth = divmod(ref.year * 12 + ref.month - 1 + shift, 12)
            return make(dt.date(y, mth + 1, 1), "month", True)
        if kind == "rely":
            rel = g.get("rel") or g.get("rel2") or g.get("en")
            if ref is None:
                return make(None, "year", True, note="reference date unknown")
            shift = {"الماضي": -1, "last": -1, "المقبل": 1, "القادم": 1, "next": 1}.get(rel, 0)
            return make(dt.date(ref.year + shift, 1, 1), "year", True)
        if kind == "year":
            return make(dt.date(int(g["y"]), 1, 1), "year")
        if kind == "wd":
            wd = _WEEKDAY_NORM[g["wd"]]
            if ref is None or isinstance(ref, InferredDate):
                return make(None, "day", True, wd, "reference date unknown")
            return make(ref - dt.timedelta(days=(ref.weekday() - wd) % 7), "day", True, wd, "from weekday")
    except (ValueError, KeyError):
        return None
    return None


def day_numbers(text: str) -> set[str]:
    """Days and years that dates in ``text`` state, as digits ("السابع من أبريل" gives "7")."""
    out = set()
    for m in find_dates(text):
        if m.day is not None:
            out.add(str(m.day))
        elif m.date is not None:
            out.add(str(m.date.year))
            if m.precision == "day":
                out.add(str(m.date.day))
    return out


# fmt: off
ENGLISH_MONTHS = [
    "January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
    "November", "December",
]
# fmt: on
_ARABIC_MONTH_WORD = re.compile(_alt(k for k in _MONTH_NAMES if not k.isascii()))


def arabic_months_in(text: str) -> set[int]:
    """Month numbers named in Arabic in ``text`` (for checking a translation kept them)."""
    return {_MONTH_NAMES[m.group()] for m in _ARABIC_MONTH_WORD.finditer(fold_same_length(text))}


# fmt: off
ARABIC_MONTHS = [
    "يناير", "فبراير", "مارس", "أبريل", "مايو", "يونيو", "يوليو", "أغسطس", "سبتمبر", "أكتوبر", "نوفمبر",
    "ديسمبر",
]
# fmt: on
_ENGLISH_WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]


def named_month(m: DateMention) -> int | None:
    """The month a mention names in its own words (Arabic or English), for one whose year is unresolved."""
    months = sorted(arabic_months_in(m.text)) or [
        i + 1 for i, name in enumerate(ENGLISH_MONTHS) if name.lower() in m.text.lower()
    ]
    return months[0] if months else None


def render_date(m: DateMention, lang: str = "en") -> str:
    """A date mention written out deterministically: "Saturday 5 June 2021", "end of 2021", «5 يونيو 2021».

    Unresolved mentions keep their own words (there is nothing safe to render)."""
    if m.date is None:
        month = named_month(m)
        if lang == "en" and month:
            day = f"{m.day} " if m.day is not None else ""
            return f"{day}{ENGLISH_MONTHS[month - 1]} (year not stated)"
        if lang == "en" and m.note == "reference date unknown":  # «العام الجاري» in an undated article
            return _relative_english(m)
        return m.text
    months = ENGLISH_MONTHS if lang == "en" else ARABIC_MONTHS
    d = m.date
    body = {
        "day": f"{d.day} {months[d.month - 1]} {d.year}",
        "month": f"{months[d.month - 1]} {d.year}",
        "year": str(d.year),
    }[m.precision]
    if m.precision == "day" and m.weekday is not None and lang == "en":
        body = f"{_ENGLISH_WEEKDAYS[m.weekday]} {body}"
    edge = {"en": {"end": "end of ", "start": "start of "}, "ar": {"end": "نهاية ", "start": "بداية "}}[lang]
    return edge.get(m.edge, "") + body


def _relative_english(m: DateMention) -> str:
    """ "end of this year (article undated)": the relative words in English, since there is no date to give."""
    if m.weekday is not None:
        return f"{_ENGLISH_WEEKDAYS[m.weekday]} (article undated)"
    folded = normalize_ar(m.text)
    which = (
        "last"
        if re.search(r"الماضي|المنصرم|السابق|\blast\b", folded)
        else "next"
        if re.search(r"المقبل|القادم|\bnext\b", folded)
        else "this"
    )
    edge = {"end": "end of ", "start": "start of "}.get(m.edge, "")
    return f"{edge}{which} {m.precision} (article undated)"


class InferredDate(dt.date):
    """A reference date read from an undated article's latest full date. «يوليو الماضي» resolves
    against it (the year is a fair reading), a bare weekday does not: the day the article appeared is
    unknown, so «الخميس» stays "Thursday (article undated)" rather than a full date that may be wrong."""


def reference_date(article_date: str | None, body: str) -> tuple[dt.date | None, bool]:
    """The date an article's relative expressions refer to: its own date, else its latest full
    date (an ``InferredDate``; then ``inferred`` is True)."""
    if article_date:
        return dt.date.fromisoformat(article_date), False
    full = [m.date for m in find_dates(body) if m.date and m.precision == "day" and not m.relative]
    if not full:
        return None, False
    latest = max(full)
    return InferredDate(latest.year, latest.month, latest.day), True
