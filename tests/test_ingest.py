"""Cleaning and metadata on the real seed articles, and per-file errors."""

import pytest

from rag.errors import IngestFileError
from rag.ingest.files import doc_id_for, ingest_paths, parse_document, read_text

BOILERPLATE = [
    "تحميل المزيد",
    "Changed",
    "شارك القصة",
    "تابع القراءة",
    "Close",
    "اخر الاخبار",
    "اترك تعليقاً",
    "لن يتم نشر عنوان بريدك الإلكتروني",
    "قد يعجبك ايضا",
    "ملفات تعريف الارتباط",
    "تم النشر:",
    "تم التحديث:",
    "قوات التحالف في العراق - رويترز",
    "(غيتي)",
    "المصدر: عنب بلدي",
    "المصادر:",
    "العربي، وكالات",
    "الثلاثاء 16 أبريل",
]


@pytest.fixture(scope="module")
def docs(seeds_dir):
    result = ingest_paths([seeds_dir])
    assert not result.errors
    return {d.source.split("/")[-1][:3]: d for d in result.documents}


def test_no_boilerplate_line_survives(docs):
    for d in docs.values():
        body = d.body()
        for junk in BOILERPLATE:
            assert junk not in body, (d.source, junk)


def test_repeated_headline_kept_once(docs):
    body = docs["001"].body()
    assert body.count("باستثناء الاستشاريين.. العراق يعلن بدء انسحاب القوات الأميركية") == 1
    assert body.count("يقضي بإنهاء الوجود العسكري الأميركي نهاية العام الجاري") == 1


def test_article_text_is_kept(docs):
    assert "ولا يزال حوالي 3000 جندي للتحالف الدولي" in docs["003"].body()
    assert "اتفق العراق والولايات المتحدة الأمريكية، السبت 5 يونيو/حزيران 2021" in docs["000"].body()
    assert "وخلال عام 2020، تعرضت القواعد العسكرية الأمريكية" in docs["004"].body()


def test_titles(docs):
    assert docs["000"].title.startswith("وزارة الدفاع العراقية: بغداد وواشنطن تتفقان")
    assert docs["001"].title == "باستثناء الاستشاريين.. العراق يعلن بدء انسحاب القوات الأميركية"
    assert docs["002"].title.startswith("“البنتاجون”: محادثاتنا مع العراق")
    assert docs["003"].title == "ترحيب عراقي بنقل قوات أميركية إلى قواعدها بالكويت"
    assert docs["004"].title.startswith("العراق: رغم تهديدات الميليشيات")


def test_outlets_with_provenance(docs):
    assert docs["000"].outlet == "عربي بوست"
    assert docs["001"].outlet == "العربي"
    assert docs["002"].outlet == "عنب بلدي"
    assert docs["003"].outlet is None and docs["004"].outlet is None
    assert "line" in docs["000"].provenance["outlet"]


def test_dates_and_where_they_came_from(docs):
    assert docs["000"].date == "2021-06-05" and "byline" in docs["000"].provenance["date"]
    assert docs["003"].date == "2021-08-08" and "dateline" in docs["003"].provenance["date"]
    # 002 names only "الخميس 25 من كانون الثاني": the year comes from the weekday, and says so.
    assert docs["002"].date == "2024-01-25"
    assert any("weekday" in f for f in docs["002"].flags)
    assert docs["004"].date is None


def test_page_chrome_date_is_flagged_not_used(docs):
    d = docs["001"]
    assert d.date is None
    assert any("2024-04-16" in f and "not used" in f for f in d.flags)


def test_language_and_offsets(docs):
    for d in docs.values():
        assert d.language == "ar"
        for a, b in d.paragraphs:
            assert d.text[a:b] == d.text[a:b].strip() and d.text[a:b]


def test_nbsp_kept_in_original_text(docs):
    assert "\xa0" in docs["003"].text  # display/citation text is untouched


def test_same_article_twice_is_one_document(seeds_dir, tmp_path):
    copy = tmp_path / "copy.txt"
    copy.write_bytes((seeds_dir / "000_93952b5621d37da0.txt").read_bytes())
    result = ingest_paths([seeds_dir / "000_93952b5621d37da0.txt", copy])
    assert len(result.documents) == 1 and len(result.duplicates) == 1


def test_bad_files_get_specific_errors_and_others_still_load(seeds_dir, tmp_path):
    (tmp_path / "latin1.txt").write_bytes("café à la carte".encode("latin-1"))
    (tmp_path / "binary.txt").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00")
    (tmp_path / "empty.txt").write_bytes(b"")
    (tmp_path / "only_junk.txt").write_text("شارك القصة\nClose\n", encoding="utf-8")
    (tmp_path / "good.txt").write_bytes((seeds_dir / "003_75e3133bff7c7106.txt").read_bytes())
    result = ingest_paths([tmp_path, tmp_path / "missing.txt"])
    reasons = {e.source.split("/")[-1]: e.reason for e in result.errors}
    assert "UTF-8" in reasons["latin1.txt"]
    assert "binary" in reasons["binary.txt"]
    assert "empty" in reasons["empty.txt"]
    assert "boilerplate" in reasons["only_junk.txt"]
    assert "no such file" in reasons["missing.txt"]
    assert [d.title for d in result.documents] == ["ترحيب عراقي بنقل قوات أميركية إلى قواعدها بالكويت"]


def test_unsupported_suffix(tmp_path):
    p = tmp_path / "a.odt"
    p.write_bytes(b"PK\x03\x04 an OpenDocument file")
    with pytest.raises(IngestFileError, match=r"unsupported file type '\.odt'; use .*\.pdf or \.docx"):
        read_text(p)


def test_html_and_markdown(tmp_path):
    page = tmp_path / "a.html"
    page.write_text(
        "<html><head><script>var x=1;</script><title>t</title></head><body><nav>Home | News</nav>"
        "<h1>US troops leave base</h1><p>The last unit left on June 5, 2021.</p>"
        "<p>Share</p><footer>cookies</footer></body></html>",
        encoding="utf-8",
    )
    doc = parse_document(read_text(page)[0], str(page))
    assert doc.title == "t" or doc.title == "US troops leave base"
    assert "The last unit left on June 5, 2021." in doc.body()
    assert "var x" not in doc.text and "Home | News" not in doc.text and "Share" not in doc.body()
    assert doc.language == "en"


def test_doc_id_ignores_spelling_noise():
    assert doc_id_for("الأمريكية\xa0اليوم") == doc_id_for("الامريكيه اليوم")


def test_a_sentence_starting_with_published_is_not_a_byline():
    text = "Published at a time of rising demand for German-language publications, Luther's version spread."
    assert parse_document(text, "x.txt").body() == text
    doc = parse_document("Title here\nPublished: June 5, 2021\nBody sentence one is here.", "y.txt")
    assert doc.date == "2021-06-05" and "Published" not in doc.body()


@pytest.mark.parametrize("encoding,name", [("cp1256", "Windows-1256"), ("iso8859_6", "ISO-8859-6")])
def test_legacy_arabic_encodings_are_detected_and_named(tmp_path, seeds_dir, encoding, name):
    original = (seeds_dir / "000_93952b5621d37da0.txt").read_text(encoding="utf-8")
    # what the encoding can hold
    text = "".join(ch for ch in original if ch.encode(encoding, errors="ignore"))
    p = tmp_path / "legacy.txt"
    p.write_bytes(text.encode(encoding))
    result = ingest_paths([p])
    assert not result.errors
    doc = result.documents[0]
    assert (
        doc.text == text.replace("\r\n", "\n") and doc.title == ingest_paths([seeds_dir]).documents[0].title
    )
    assert doc.provenance["encoding"].startswith(name)


def test_text_in_an_unsure_encoding_is_refused_per_file(tmp_path, seeds_dir):
    (tmp_path / "latin.txt").write_bytes("Café society and the naïve résumé of a señor.".encode("latin-1"))
    (tmp_path / "good.txt").write_bytes((seeds_dir / "003_75e3133bff7c7106.txt").read_bytes())
    result = ingest_paths([tmp_path])
    assert [e.reason for e in result.errors][0].startswith("not valid UTF-8")
    assert "save it as UTF-8" in result.errors[0].reason and len(result.documents) == 1


def test_size_limit_message_uses_one_unit(tmp_path):
    from rag.ingest.files import MAX_FILE_BYTES, check_size

    with pytest.raises(IngestFileError, match=r"the file is 21\.0 MB; the limit is 20\.0 MB"):
        check_size(21 * 2**20)
    check_size(MAX_FILE_BYTES)  # at the limit: accepted


@pytest.mark.parametrize("codec", ["utf-16", "utf-16-be"])
def test_utf16_files_with_a_byte_order_mark_are_read(tmp_path, seeds_dir, codec):
    original = (seeds_dir / "000_93952b5621d37da0.txt").read_text(encoding="utf-8")
    p = tmp_path / "unicode.txt"
    p.write_bytes((b"\xfe\xff" if codec == "utf-16-be" else b"") + original.encode(codec))
    result = ingest_paths([p])
    assert not result.errors, result.errors
    assert result.documents[0].text == original and result.documents[0].provenance["encoding"].startswith(
        "UTF-16"
    )
