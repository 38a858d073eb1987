"""The direct answer: question types, typed spans in real seed sentences, rendering, ranking, follow-ups."""

from __future__ import annotations

import datetime as dt

import pytest

from rag.answers.conversation import is_followup
from rag.answers.questions import question_type
from rag.answers.ranking import rank_spans
from rag.answers.short import typed_spans
from rag.ingest.files import ingest_paths
from rag.retrieval.hybrid import rrf
from rag.text.dates import find_dates, render_date
from rag.text.lexicon import load_lexicon
from rag.text.numbers import find_quantities, render_quantity
from rag.text.transliteration import latin_name_in_arabic, skeleton_ar, skeleton_latin
from rag.verification.citations import _problem, is_value_claim

LEX = load_lexicon()


@pytest.fixture(scope="module")
def seed_text(seeds_dir):
    return "\n".join(d.text for d in ingest_paths([seeds_dir]).documents)


def ranked(kind: str, sentence: str, question: str) -> list:
    """The spans of ``kind`` in a standalone sentence, best first for ``question``."""
    return rank_spans(typed_spans(kind, sentence, 0, None, LEX), question, sentence, 0, LEX)


def sentence_with(text: str, *needles: str) -> tuple[str, int]:
    """The real seed sentence (line) holding every needle, and its offset."""
    start = 0
    for line in text.splitlines(keepends=True):
        if all(n in line for n in needles):
            return line.rstrip("\n"), start
        start += len(line)
    raise AssertionError(f"no seed line holds {needles}")


@pytest.mark.parametrize(
    "question,kind",
    [
        ("When did Iraq and the US agree on a redeployment plan?", "date"),
        ("متى صوت البرلمان العراقي على قرار إخراج القوات الأجنبية؟", "date"),
        ("في أي عام بدأ التحالف عملياته؟", "date"),
        ("How many US troops are in Iraq?", "number"),
        ("كم دولة يضم التحالف الدولي؟", "number"),
        ("Who announced that US combat forces had begun withdrawing from Iraq?", "person"),
        ("من هو السفير الأمريكي في بغداد؟", "person"),
        ("Where did the coalition unit that left Iraq go?", "place"),
        ("ما الجهة التي أعلنت الاتفاق؟", "org"),
        ("Why did the Pentagon deny the leaks?", "explain"),
        # an operation, not a person
        ("ما اسم العملية التي تقودها الولايات المتحدة ضد تنظيم الدولة؟", "other"),
        ("ما اسم المتحدث باسم التحالف؟", "person"),
        ("بماذا وصف وزير الخارجية العراقي مطلقي الصواريخ؟", "explain"),
    ],
)
def test_question_types(question, kind):
    assert question_type(question) == kind


def test_date_span_in_a_real_seed_sentence_is_rendered_for_each_language(seed_text):
    sentence, offset = sentence_with(seed_text, "5 يونيو/حزيران 2021")
    spans = rank_spans(
        typed_spans("date", sentence, offset, dt.date(2021, 6, 5), LEX),
        "When did Iraq and the US agree on a plan to redeploy coalition forces?",
        sentence,
        offset,
        LEX,
    )
    top = spans[0]
    assert seed_text[top.start : top.end] == top.text  # verbatim, with offsets into the article
    assert top.render["en"] == "Saturday 5 June 2021"
    assert top.render["ar"] == top.text and "يونيو" in top.text


def test_quantity_with_its_unit_prefers_the_number_the_question_names(seed_text):
    sentence, offset = sentence_with(seed_text, "3000", "2500")
    spans = rank_spans(
        typed_spans("number", sentence, offset, None, LEX),
        "How many American troops are in Iraq?",
        sentence,
        offset,
        LEX,
    )
    assert spans[0].render["en"].startswith("2,500")
    assert {s.render["en"] for s in spans} >= {"about 3,000 soldiers"}
    assert all(seed_text[s.start : s.end] == s.text for s in spans)


def test_person_after_a_title_gets_its_known_transliteration(seed_text):
    sentence, offset = sentence_with(seed_text, "يحيى رسول", "انسحاب")
    spans = typed_spans("person", sentence, offset, None, LEX)
    person = next(s for s in spans if "يحيى رسول" in s.text)
    # English first
    assert person.render["en"].startswith("Yahya Rasool («") and person.render["en"].endswith("»)")


def test_an_organisation_span_takes_the_english_of_the_known_name_inside_it(seed_text):
    sentence, offset = sentence_with(seed_text, "عصائب أهل الحق", "المصالح")
    spans = typed_spans("org", sentence, offset, None, LEX)
    org = next(s for s in spans if s.text.startswith("حركة"))
    assert org.render["en"] == "Asaib Ahl al-Haq («حركة عصائب أهل الحق»)" and org.render["ar"] == org.text


def _top(seed_text, kind, question, *needles, ref=None):
    sentence, offset = sentence_with(seed_text, *needles)
    spans = rank_spans(typed_spans(kind, sentence, offset, ref, LEX), question, sentence, offset, LEX)
    return spans[0] if spans else None


def test_a_place_the_question_names_is_not_the_answer_even_behind_a_preposition(seed_text):
    # «للعراق»: the name is written «لعراق» after the preposition; it is still the question's Iraq
    top = _top(seed_text, "place", "Where did the coalition unit that left Iraq go?", "للعراق", "الكويت")
    assert top.render["en"] == "Kuwait («الكويت»)"


def test_a_nationality_adjective_is_no_place(seed_text):
    # «عراقية» is Iraqi, not "Iraq"
    assert (
        _top(
            seed_text,
            "place",
            "Where will the remaining US military advisers be based?",
            "معسكرات عسكرية عراقية",
        )
        is None
    )


def test_who_is_the_role_wants_a_person_not_a_body(seed_text):
    top = _top(seed_text, "person", "من هو السفير الأمريكي في بغداد؟", "القيادة المركزية الأمريكية")
    assert top is None or top.kind == "person"


def test_a_title_naming_the_questions_group_still_leads_to_the_person(seed_text):
    top = _top(seed_text, "person", "Who is the Asaib Ahl al-Haq military spokesman?", "جواد الطليباوي")
    assert top.text.endswith("جواد الطليباوي") and top.text.startswith("المتحدث العسكري باسم")


def test_a_deadline_the_question_states_is_not_the_answer(seed_text):
    top = _top(
        seed_text,
        "date",
        "متى اتفق العراق مع الولايات المتحدة على انسحاب جميع القوات الأميركية المقاتلة بحلول نهاية 2021؟",
        "السادس والعشرين من يوليو",
        ref=dt.date(2021, 8, 8),
    )
    assert top.text == "السادس والعشرين من يوليو الماضي" and top.render["en"] == "26 July 2021"


def test_an_undated_articles_relative_date_reads_in_english():
    m = find_dates("بحلول نهاية العام الجاري")[0]
    assert render_date(m, "en") == "end of this year (article undated)" and render_date(m, "ar") == m.text


def test_a_name_the_question_uses_is_not_its_answer(seed_text):
    sentence, offset = sentence_with(seed_text, "سليماني", "المهندس")
    spans = rank_spans(
        typed_spans("person", sentence, offset, None, LEX),
        "Who was killed alongside Qasem Soleimani?",
        sentence,
        offset,
        LEX,
    )
    assert spans and all("سليماني" not in s.text for s in spans[:1])


@pytest.mark.parametrize(
    "text,english",
    [
        ("أصيب نحو 110 جنود", "about 110 soldiers"),
        ("استهدف حوالي خمسين هجوما المصالح", "about 50 attacks"),
        ("أطلق خمسة وعشرين صاروخا", "25 rockets"),
        ("بلغت الكلفة 3 مليارات دولار", "3 billion dollars"),
    ],
)
def test_quantities_render_in_english(text, english):
    assert render_quantity(find_quantities(text)[0], "en") == english


def test_unresolved_dates_say_so_rather_than_guess():
    m = find_dates("في يوليو/ تموز الماضي")[0]
    assert render_date(m, "en") == "July (year not stated)"
    assert render_date(find_dates("بحلول نهاية العام الجاري", dt.date(2021, 7, 27))[0], "en") == "end of 2021"


def test_names_match_across_scripts_by_consonant_skeleton():
    assert skeleton_latin("al-Kadhimi") == skeleton_ar("الكاظمي")
    assert latin_name_in_arabic("Fuad Hussein", "وزير الخارجية العراقي فؤاد حسين")
    assert not latin_name_in_arabic("Ali al-Rawi", "وزير الخارجية العراقي فؤاد حسين")
    assert {n.label for n in LEX.in_text("ما رأي الحكومة الفرنسية؟")} >= {"French"}
    assert "Mali" not in {n.label for n in LEX.in_text("الدعم المالي")}  # a word, not the country


def test_short_claims_are_verified_by_value_not_similarity():
    source = "اتفق العراق والولايات المتحدة الأمريكية، السبت 5 يونيو/حزيران 2021، على خطة لإعادة انتشار قوات التحالف"
    assert is_value_claim("5 June 2021") and _problem("5 June 2021", source, 0.43, 0.5) is None
    assert "month" in _problem("5 July 2021", source, 0.43, 0.5)
    assert _problem("63 attacks", "وقع 63 هجوما منها 41 هجوما صاروخيا", 0.25, 0.5) is None
    assert "lacks" in _problem("64 attacks", "وقع 63 هجوما منها 41 هجوما صاروخيا", 0.25, 0.5)
    named = "ووصف وزير الخارجية العراقي فؤاد حسين مطلقي الصواريخ بالإرهابيين"
    assert _problem("Foreign Minister Fuad Hussein called them terrorists", named, 0.6, 0.5) is None
    assert "cannot confirm" in _problem("General Ali al-Rawi called them terrorists", named, 0.6, 0.5)


@pytest.mark.parametrize(
    "question,followup",
    [
        ("How many US troops are in Iraq?", False),
        ("When did Iraq and the US agree on a redeployment plan?", False),
        ("ما موقف الصين من الانسحاب؟", False),
        ("And how many of them are American?", True),
        ("What about Kuwait?", True),
        ("When did he say that?", True),
        ("وماذا عن الكويت؟", True),
        ("متى غادروا؟", True),
    ],
)
def test_follow_up_only_when_the_question_is_elliptical(question, followup):
    assert is_followup(question, LEX) is followup


def test_weighted_fusion_lets_dense_lead_and_bm25_break_ties():
    dense, bm25 = [1, 2], [3, 1]
    # equal: BM25's own hit jumps dense's 2nd
    assert [i for i, _ in rrf([dense, bm25], 60, [1.0, 1.0])] == [1, 3, 2]
    # half weight: dense order, BM25 adds 3
    assert [i for i, _ in rrf([dense, bm25], 60, [1.0, 0.5])] == [1, 2, 3]


def test_a_count_qualified_by_a_name_the_question_lacks_is_not_the_answer(seed_text):
    sentence, offset = sentence_with(seed_text, "3000 جندي", "2500 أميركي")
    spans = typed_spans("number", sentence, offset, None, LEX)
    best = rank_spans(spans, "How many coalition troops remain in Iraq?", sentence, offset, LEX)[0]
    assert best.render["en"] == "about 3,000 soldiers"
    asked = rank_spans(
        typed_spans("number", sentence, offset, None, LEX),
        "How many American troops remain in Iraq?",
        sentence,
        offset,
        LEX,
    )[0]
    assert asked.render["en"] == "2,500 Americans"


def test_a_deadline_does_not_answer_when_something_happened(seed_text):
    sentence, offset = sentence_with(seed_text, "السادس والعشرين من يوليو", "بحلول نهاية العام")
    ref = dt.date(2021, 8, 8)
    spans = typed_spans("date", sentence, offset, ref, LEX)
    when = rank_spans(
        spans, "When did Iraq and the US agree to withdraw combat forces?", sentence, offset, LEX
    )[0]
    assert when.render["en"] == "26 July 2021"
    by_when = rank_spans(
        typed_spans("date", sentence, offset, ref, LEX),
        "By when will the US combat forces leave Iraq?",
        sentence,
        offset,
        LEX,
    )[0]
    assert "2021" in by_when.render["en"] and "July" not in by_when.render["en"]


def test_dates_that_do_not_contradict_each_other_agree():
    from rag.answers.ranking import dates_compatible

    assert dates_compatible("2021-07-26", "?-07")  # "26 July 2021" and "July (year not stated)"
    assert dates_compatible("2021-07", "2021-07-26") and dates_compatible("2021", "2021-07-26")
    assert dates_compatible("?-07-26", "2021-07-26")
    assert not dates_compatible("2021-07", "2021-08") and not dates_compatible("?-07-26", "2021-07-25")
    assert not dates_compatible("2021", "2024-01-25") and not dates_compatible("end of 2021", "2021-12")


def test_names_in_an_english_sentence_are_candidates_too():
    """An uploaded English article: capitalised names are person candidates (a crash in the app before)."""
    spans = typed_spans("person", "The unit arrived in Kuwait, said Colonel Wayne Marotto.", 0, None, LEX)
    assert "Colonel Wayne Marotto" in [s.text for s in spans]


@pytest.mark.parametrize(
    "text, values",
    [
        ("تبلغ مساحتها 11،787 ميل مربع", [11787.0]),  # an unspaced Arabic comma between thousands
        ("بلغ 1,500 و2،500 جندي", [1500.0, 2500.0]),
        ("في عامي 2019، 2020", [2019.0, 2020.0]),  # a spaced one separates
        ("الأعداد 1،2،3", [1.0, 2.0, 3.0]),
        (
            "من 22 مقاطعة وخمس مناطق ذاتية الحكم وأربع بلديات",
            [22.0, 5.0, 4.0],
        ),  # «و» written onto a number word
        ("تنتهي الأحد وثلاثاء", []),
        ("تتكون من ثماني عشرة محافظة وتسعة عشر قضاء", [18.0, 19.0]),  # the teens
        ("هو رئيس جمهورية تركيا الثاني عشر والحالي منذ", []),  # an ordinal counts nothing
    ],
)
def test_the_arabic_comma_groups_thousands_only_between_digits(text, values):
    assert [q.value for q in find_quantities(text)] == values


def test_a_years_era_marker_is_not_a_word_when_answers_are_scored():
    from rag.evaluation.metrics import ExactMatch, TokenF1

    assert ExactMatch()("1565", ["1565م"]) == 1.0 and TokenF1()("سنة 1565", ["سنة 1565م؛"]) == 1.0
    assert TokenF1()("1157", ["1157 هـ"]) == 1.0 and TokenF1()("1565", ["1566م"]) == 0.0


def test_a_year_question_is_not_answered_by_a_date_without_a_year():
    from rag.answers.questions import wants_year
    from rag.answers.short import with_year

    sentence = "وفي 20 مايو تحدث المغني عن الفرقة خلال ندوة رجال الأعمال التي عقدت عام 2011 في سيول."
    spans = typed_spans("date", sentence, 0, None, LEX)
    assert {sp.value for sp in spans} >= {"?-05-20", "2011"}
    assert wants_year("في أي عام تحدث المغني عن الفرقة؟") and not wants_year("متى تحدث المغني عن الفرقة؟")
    assert [sp.value for sp in with_year(spans)] == ["2011"]


@pytest.mark.parametrize(
    ("sentence", "question", "answer"),
    [
        (
            "النمسا عضو في الأمم المتحدة منذ عام 1955 انضمت إلى الاتحاد الأوروبي في عام 1995، وهي من مؤسسي المنظمة.",
            "متى انضمت النمسا للإتحاد الأوروبي؟",
            "عام 1995",
        ),
        (
            "وفي عام 1598، رسا أسطول هولندي في غراند بورت مما أدى إلى إقامة أول مستعمرة هولندية على الجزيرة في 1638.",
            "متي أقيمت أول مستعمرة هولندية في موريشيوس؟",
            "1638",
        ),
        (
            "وذلك بعد عام 1916م حيث أقنعا الأب بالانتقال إلى القاهرة ومعه أم كلثوم وذلك في عام 1922م.",
            "في أي عام إنتقلت أم كلثوم و والدها إلى القاهرة؟",
            "عام 1922",
        ),
    ],
)
def test_of_two_dates_the_one_the_questions_words_lead_into_answers(sentence, question, answer):
    """A date follows the event it dates: the question's words just before a date bind it to the question
    (a bare year at the end of a sentence is a candidate too)."""
    spans = ranked("date", sentence, question)
    assert spans[0].text == answer, [s.text for s in spans]


def test_a_count_of_the_noun_the_question_counts_wins_even_in_its_broken_plural():
    """«كم منطقة» counts regions: «خمس مناطق» (after a «و» written onto the number), not «22 مقاطعة»."""
    from rag.answers.extractive import _unit_match
    from rag.answers.questions import counted_terms

    sentence = "تتألف الصين من أكثر من 22 مقاطعة وخمس مناطق ذاتية الحكم وأربع بلديات تدار مباشرة."
    question = "كم منطقة ذاتية الحكم في الصين؟"
    spans = ranked("number", sentence, question)
    assert spans[0].text == "خمس مناطق", [s.text for s in spans]
    assert counted_terms("كم يبلغ عدد سكان اليابان؟") == ["سكان"]
    assert counted_terms("How many coalition troops remain in Iraq?")[:2] == ["coalit", "troop"]
    by_text = {s.text: s for s in spans}
    assert _unit_match(question, by_text["خمس مناطق"]) == 1.0
    assert _unit_match(question, by_text["أكثر من 22 مقاطعة"]) == 0.0
    assert _unit_match("How many regions does China have?", by_text["أكثر من 22 مقاطعة"]) == 0.5


@pytest.mark.parametrize(
    ("question", "answer"),
    [("في أي عام توفي ألبرت أينشتاين؟", "18 أبريل 1955"), ("متى ولد ألبرت أينشتاين؟", "14 مارس 1879")],
)
def test_a_life_spans_second_date_is_the_death(question, answer):
    spans = ranked(
        "date", "ألبرت أينشتاين (14 مارس 1879 – 18 أبريل 1955) عالم فيزياء ألماني المولد.", question
    )
    assert spans[0].text == answer, [s.text for s in spans]


def test_a_share_is_answered_by_a_percentage_not_a_head_count():
    sentence = "يقدر عدد سكان العراق في 2016 بحوالي 37,547,686 نسمة، وتصل نسبة العرب من 75% إلى 80% من الشعب."
    question = "إلى كم تصل نسبة العرب من إجمالي سكان العراق؟"
    spans = ranked("number", sentence, question)
    assert spans and all("%" in s.text for s in spans), [s.text for s in spans]
