import datetime as dt
from pathlib import Path

import pytest

from rag.text.dates import find_dates, year_from_weekday


def one(text, ref=None):
    found = [d for d in find_dates(text, ref)]
    assert len(found) == 1, found
    return found[0]


def test_numeric_forms():
    assert one("تم النشر: 2021/06/05 الساعة 11:13").date == dt.date(2021, 6, 5)
    assert one("دعا في 3-4-2021 المفاوض").date == dt.date(2021, 4, 3)


def test_month_names_western_and_levantine():
    d = one("السبت 5 يونيو/حزيران 2021، على خطة")
    assert d.date == dt.date(2021, 6, 5) and d.weekday == 5
    assert one("في 5 يناير/كانون الثاني 2020 على قرار").date == dt.date(2020, 1, 5)
    assert one("في 8 يناير/ كانون الثاني 2020 إذ").date == dt.date(2020, 1, 8)
    assert one("الثلاثاء 16 أبريل / أبريل 2024").date == dt.date(2024, 4, 16)
    assert one("on June 5, 2021 the").date == dt.date(2021, 6, 5)


def test_ordinal_days_and_relative_months_resolve_against_reference():
    ref = dt.date(2021, 8, 8)
    assert one("وفي السادس والعشرين من يوليو الماضي، اتفق", ref).date == dt.date(2021, 7, 26)
    assert one("في السابع من أبريل الماضي الاتفاق", ref).date == dt.date(2021, 4, 7)
    assert one("ضربات نهاية يونيو الماضي على", ref).date == dt.date(2021, 6, 1)
    assert one("في السابع من الشهر الماضي", ref).date == dt.date(2021, 7, 1)
    d = one("منذ بداية العام الماضي", ref)
    assert d.date == dt.date(2020, 1, 1) and d.precision == "year" and d.relative


def test_last_month_name_crosses_year_boundary():
    assert one("في ديسمبر الماضي", dt.date(2024, 1, 25)).date == dt.date(2023, 12, 1)


def test_unresolved_without_reference():
    d = one("الخميس 25 من كانون الثاني")
    assert d.date is None and d.weekday == 3


def test_year_from_weekday_is_latest_fit():
    year, years = year_from_weekday(25, 1, 3, dt.date(2026, 11, 24))
    assert year == 2024 and 2018 in years


def test_bare_weekday_is_the_latest_such_day_before_the_article():
    assert one("اعتبرت بغداد الأحد مغادرة وحدة", dt.date(2021, 8, 8)).date == dt.date(2021, 8, 8)
    assert one("أعلن يوم الخميس أن", dt.date(2021, 8, 8)).date == dt.date(2021, 8, 5)
    assert one("أعلن يوم الخميس أن").date is None


def test_end_of_period_sorts_at_its_end():
    d = one("على انسحاب القوات بحلول نهاية العام الجاري", dt.date(2021, 8, 8))
    assert d.edge == "end" and d.sort_date == dt.date(2021, 12, 31) and d.label == "end of 2021"
    d = one("أعلنت نهاية مايو/ أيار الماضي", dt.date(2021, 6, 5))
    assert d.sort_date == dt.date(2021, 5, 31) and d.label == "end of 2021-05"
    assert one("في 5 يناير/كانون الثاني 2020 على").label == "2020-01-05"


def test_a_weekday_in_an_undated_article_is_not_made_a_full_date():
    """Seed 004 is undated; its latest full date is inferred as the reference. «يوليو الماضي» resolves
    against it, but «اليوم الخميس» stays a weekday: the day it appeared is unknown."""
    from rag.text.dates import InferredDate, find_dates, reference_date, render_date

    body = (Path(__file__).parents[1] / "seeds" / "004_a599bde84ebe1120.txt").read_text(encoding="utf-8")
    ref, inferred = reference_date(None, body)
    assert inferred and isinstance(ref, InferredDate)
    [thursday] = [m for m in find_dates("قال مصطفى الكاظمي اليوم الخميس إن الحوار مستمر", ref)]
    assert thursday.date is None and render_date(thursday, "en") == "Thursday (article undated)"
    [july] = find_dates("اتفق البلدان في يوليو الماضي على الانسحاب", ref)
    assert july.date is not None and render_date(july, "en") == f"July {july.date.year}"
    # with the article's own date the weekday is a date
    [dated] = find_dates("قال الكاظمي اليوم الخميس", dt.date(2021, 4, 9))
    assert render_date(dated, "en") == "Thursday 8 April 2021"


@pytest.mark.parametrize(
    "text, found",
    [
        # a month then a four-digit year is the month of that year, not "the 20th"
        ("غادر خاشقجي السعودية في سبتمبر 2017، وكتب", [("سبتمبر 2017", dt.date(2017, 9, 1))]),
        (
            "من مارس 2003 حتى أغسطس 2014",
            [("مارس 2003", dt.date(2003, 3, 1)), ("أغسطس 2014", dt.date(2014, 8, 1))],
        ),
        # older years, where a date ends
        ("ولد في 6 يناير 1883 في بلدة بشري", [("6 يناير 1883", dt.date(1883, 1, 6))]),
        (
            "(20 أغسطس 1858 - 16 سبتمبر 1931)",
            [("20 أغسطس 1858", dt.date(1858, 8, 20)), ("16 سبتمبر 1931", dt.date(1931, 9, 16))],
        ),
        ("وفتحوا القسطنطينية سنة 1453م، ثم", [("سنة 1453", dt.date(1453, 1, 1))]),
        # «سنة» between the month and the year
        ("سقطت دولته في 18 يونيو سنة 1953 م، بإلغاء الملكية", [("18 يونيو سنة 1953", dt.date(1953, 6, 18))]),
        # an old-looking number that is a count stays a count
        ("قتل في مايو 1500 شخص", [("مايو", None)]),
    ],
)
def test_years_stay_with_their_month_and_old_years_are_years(text, found):
    assert [(m.text, m.date) for m in find_dates(text)] == found
