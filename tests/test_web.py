"""Web pages by URL (rag/web.py) against a real HTTP server on 127.0.0.1: extraction of the real CNN
pages, the address rules, and every bad response refused with its message and nothing stored."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from rag.errors import AddressRefused, FetchError
from rag.ingest.files import ingest_paths, parse_document
from rag.ingest.web import Fetcher, allow_list, save, vet
from tests.webserver import ARABIC_EXPECTED, WebServer


@pytest.fixture(scope="module")
def server():
    s = WebServer()
    yield s
    s.stop()


@pytest.fixture
def fetcher(server):
    f = Fetcher(allow=f"127.0.0.1:{server.port}", timeout=5)
    yield f
    f.close()


def char_f1(got: str, want: str) -> tuple[float, float, float]:
    """Precision, recall and F1 over the characters of two texts, whitespace ignored."""
    a, b = Counter("".join(got.split())), Counter("".join(want.split()))
    common = sum((a & b).values())
    p, r = common / max(1, sum(a.values())), common / max(1, sum(b.values()))
    return p, r, 2 * p * r / max(1e-9, p + r)


def test_the_arabic_cnn_page_gives_its_article_title_outlet_and_date(fetcher, server):
    page = fetcher.page(server.url("/ar.html"))
    doc = parse_document(page.text, "page.txt")
    p, r, f1 = char_f1(doc.body(), ARABIC_EXPECTED.read_text(encoding="utf-8"))
    assert r >= 0.98 and p >= 0.95 and f1 >= 0.97, (p, r, f1)
    assert "ترحب شبكة CNN بالنقاش" not in doc.body()  # the comment policy under the article
    assert page.title == "معارضون يسيطرون على مخازن للصواريخ بريف دمشق"
    assert page.outlet == "CNNArabic"
    # No date in the markup: the date line under the headline, read by Isnad's own rules.
    assert page.date == "2013-08-28" and page.provenance["date"].startswith("page text")


def test_the_english_page_takes_its_date_from_the_markup(fetcher, server):
    page = fetcher.page(server.url("/en.html"))
    assert page.title.startswith("After storm, forecasters see smooth sailing")
    assert page.date == "2013-11-27" and page.provenance["date"] == "page markup (published time)"
    assert page.outlet == "CNN"


def test_a_saved_page_keeps_its_original_and_enters_the_corpus_with_its_address(fetcher, server, tmp_path):
    url = server.url("/ar.html")
    text_file = save(fetcher.page(url), tmp_path)
    assert (tmp_path / (text_file.stem + ".html.original")).read_bytes() == (
        ARABIC_EXPECTED.parent / "cnnarabic-syria-2013.html"
    ).read_bytes()
    result = ingest_paths([tmp_path])  # a folder of saved pages: the originals are not read as articles
    [doc] = result.documents
    assert doc.origin["via"] == "url" and doc.origin["url"] == url and doc.date == "2013-08-28"
    assert doc.arrival().startswith(f"fetched from {url}")
    assert doc.text == text_file.read_text(encoding="utf-8")  # citations are offsets into the stored text


@pytest.mark.parametrize(
    "path, message",
    [
        ("/missing", "HTTP 404"),
        ("/report.pdf", "serves 'application/pdf', not a web page"),
        ("/nav.html", "no article text was found"),
        ("/huge.html", "the page is 50.0 MB; the limit is 10.0 MB"),
        ("/endless.html", "larger than the limit of 10.0 MB"),
        ("/private/page.html", "robots.txt asks automated readers not to fetch this page"),
    ],
)
def test_bad_pages_get_their_own_message(fetcher, server, path, message):
    with pytest.raises(FetchError, match=message.replace(".", r"\.").replace("(", r"\(")):
        fetcher.page(server.url(path))


def test_an_unreachable_host_says_so(fetcher):
    from rag.models.llm import free_port

    port = free_port()  # nothing listens there
    with pytest.raises(FetchError, match="could not be fetched"):
        Fetcher(allow=f"127.0.0.1:{port}", timeout=3).page(f"http://127.0.0.1:{port}/a.html")
    with pytest.raises(FetchError, match="could not be found"):
        vet("http://no-such-host.invalid/x", set())


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "ftp://example.com/a",
        "gopher://127.0.0.1/",
        "javascript:alert(1)",
        "http://127.0.0.1/",
        "http://localhost/",
        "http://[::1]/",
        "http://0.0.0.0/",
        "http://2130706433/",
        "http://0x7f.1/",
        "http://10.0.0.1/",
        "http://192.168.1.1/",
        "http://172.16.0.1/",
        "http://169.254.169.254/latest",
        "http://100.64.0.1/",
        "http://[::ffff:127.0.0.1]/",
        "http://[fd00::1]/",
        "http://user:pw@example.com/",
    ],
)
def test_addresses_users_cannot_make_the_server_fetch(url):
    with pytest.raises(AddressRefused):
        vet(url, set())


def test_the_operator_allows_one_host_and_port_not_its_neighbours(server):
    allow = allow_list(f" 127.0.0.1:{server.port} ")
    assert vet(server.url("/ar.html"), allow).ip == "127.0.0.1"
    for other in (f"http://127.0.0.1:{server.port + 1}/", f"http://localhost:{server.port}/"):
        with pytest.raises(AddressRefused):
            vet(other, allow)


def test_a_redirect_to_another_local_address_is_refused_without_following_it(fetcher, server):
    hits = len(server.hits)
    with pytest.raises(AddressRefused):
        fetcher.page(server.url("/redirect?to=http://127.0.0.1:1/secret"))
    with pytest.raises(AddressRefused):
        fetcher.page(server.url(f"/redirect?to=http://localhost:{server.port}/ar.html"))
    assert "/secret" not in server.hits[hits:]
    # A redirect within the allowed origin is followed.
    assert fetcher.page(server.url("/redirect?to=/ar.html")).final_url == server.url("/ar.html")


def test_cli_ingests_a_url_and_ask_cites_the_page(embedder, server, tmp_path, monkeypatch, capsys):
    """`isnad ingest URL` from the command line, then `isnad ask` quotes the page with its outlet and date."""
    import json

    from rag.interfaces.cli import main

    monkeypatch.setenv("ISNAD_FETCH_ALLOW", f"127.0.0.1:{server.port}")
    monkeypatch.setenv("ISNAD_PAGES_DIR", str(tmp_path / "pages"))
    index = ["--index-dir", str(tmp_path / "index")]
    bad = server.url("/report.pdf")
    # the good page goes in, the bad one is named
    assert main(index + ["ingest", server.url("/ar.html"), bad]) == 2
    out = capsys.readouterr()
    assert "added 1," in out.out and f"error: {bad}: the address serves 'application/pdf'" in out.err
    assert main(index + ["ask", "ما الذي سيطرت عليه فصائل المعارضة بريف دمشق؟", "--json"]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert not answer["abstained"]
    quote = next(s for s in answer["sources"] if "مستودعات للأسلحة" in s["quote"])
    assert (
        quote["outlet"] == "CNNArabic"
        and quote["date"] == "2013-08-28"
        and quote["arrival"].startswith("fetched from")
    )


def test_a_saved_html_file_is_read_like_the_fetched_page_with_its_markup(tmp_path):
    """An .html file (an upload, a folder of saved pages) goes through the same extractor as a URL: the
    article body without the site's chrome, and the title, outlet and date its markup and dateline give."""
    arabic = tmp_path / "syria.html"
    arabic.write_bytes(ARABIC_EXPECTED.parent.joinpath("cnnarabic-syria-2013.html").read_bytes())
    english = tmp_path / "storm.html"
    english.write_bytes(ARABIC_EXPECTED.parent.joinpath("cnn-english-article.html").read_bytes())
    docs = {Path(d.source).name: d for d in ingest_paths([arabic, english]).documents}
    doc = docs["syria.html"]
    p, r, f1 = char_f1(doc.body(), ARABIC_EXPECTED.read_text(encoding="utf-8"))
    assert f1 >= 0.97, (p, r, f1)
    assert (doc.title, doc.outlet, doc.date) == (
        "معارضون يسيطرون على مخازن للصواريخ بريف دمشق",
        "CNNArabic",
        "2013-08-28",
    )
    assert docs["storm.html"].date == "2013-11-27" and docs["storm.html"].outlet == "CNN"
    assert docs["storm.html"].provenance["date"] == "page markup (published time)"
    assert doc.origin["via"] == "cli"  # a file the user gave, not a fetched address
