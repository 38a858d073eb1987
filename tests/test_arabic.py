from rag.text.arabic import bm25_tokens, detect_language, normalize_ar, normalize_for_model, sentence_spans


def sentences(text):
    return [text[a:b] for a, b in sentence_spans(text)]


def test_normalize_folds_variants_and_strips_marks():
    assert normalize_ar("أإآٱ") == "اااا"
    assert normalize_ar("مُصْطَفَى") == "مصطفي"
    assert normalize_ar("الـــعراق") == "العراق"
    assert normalize_ar("مدرسة") == "مدرسه"
    assert normalize_ar("٢٠٢١") == "2021"


def test_model_normalisation_handles_nbsp_zero_width_and_presentation_forms():
    assert normalize_for_model("ونقلت\xa0وكالة") == "ونقلت وكالة"
    assert normalize_for_model("a\u200bb\u200f") == "ab"
    assert normalize_for_model("\ufefb") == "لا"  # lam-alef ligature


def test_split_on_arabic_and_latin_terminators():
    assert sentences("هل انسحبت القوات؟ نعم، انسحبت. وماذا بعد؛ لا نعرف! End.") == [
        "هل انسحبت القوات؟",
        "نعم، انسحبت.",
        "وماذا بعد؛",
        "لا نعرف!",
        "End.",
    ]


def test_no_split_inside_decimals_dates_abbreviations():
    text = "ارتفع المؤشر 3.5 في المئة في 5.6.2021 حسب د. أحمد. قال U.S. officials خبرا. Mr. Smith left."
    assert sentences(text) == [
        "ارتفع المؤشر 3.5 في المئة في 5.6.2021 حسب د. أحمد.",
        "قال U.S. officials خبرا.",
        "Mr. Smith left.",
    ]


def test_line_breaks_split_and_closing_quotes_stay():
    text = 'قال: "انتهت المهمة." ثم غادر\nعنوان فرعي\nإضافة'
    assert sentences(text) == ['قال: "انتهت المهمة."', "ثم غادر", "عنوان فرعي", "إضافة"]


def test_ellipsis_inside_headline_is_not_a_boundary():
    assert sentences("باستثناء الاستشاريين.. العراق يعلن بدء الانسحاب") == [
        "باستثناء الاستشاريين.. العراق يعلن بدء الانسحاب"
    ]


def test_spans_are_offsets_into_the_original():
    text = "  أولاً.\xa0ثانياً؟  "
    for a, b in sentence_spans(text):
        assert text[a:b].strip() == text[a:b]
    assert [text[a:b] for a, b in sentence_spans(text)] == ["أولاً.", "ثانياً؟"]


def test_bm25_tokens_match_across_spelling_variants():
    assert bm25_tokens("الأمريكية") == bm25_tokens("الامريكيه")
    assert bm25_tokens("القوات") == bm25_tokens("قوات") == bm25_tokens("للقوات") == bm25_tokens("والقوات")
    assert "في" not in bm25_tokens("في العراق")
    assert bm25_tokens("Troops withdrew") == ["troop", "withdrew"]


def test_detect_language():
    assert detect_language("انسحاب القوات الأمريكية من العراق") == "ar"
    assert detect_language("US troops leave Iraq") == "en"
    assert detect_language("Die Truppen verlassen den Irak") == "en"  # Latin script; caller checks further
    assert detect_language("12345 !!") == "other"
    assert detect_language("Войска покидают Ирак") == "other"
