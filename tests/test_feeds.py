"""Following news feeds: RSS and Atom read, new items fetched and indexed, a republished wire story kept once,
a failing feed retried later without stopping the others; `isnad watch` picks up what a feed adds."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from rag.errors import FetchError, IngestFileError
from rag.ingest.feeds import FeedList, parse_every, parse_feed, same_story, shingles
from tests.webserver import ARABIC_PAGE, Handler


def rss(*links: str, title: str = "Wire") -> bytes:
    items = "".join(
        f"<item><title>item {i}</title><link>{link}</link><pubDate>Wed, 28 Aug 2013 10:00:00 GMT</pubDate></item>"
        for i, link in enumerate(links)
    )
    return f'<?xml version="1.0"?><rss version="2.0"><channel><title>{title}</title>{items}</channel></rss>'.encode()


ATOM = b"""<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom"><title>Atom wire</title>
<entry><title>One</title><link href="http://example.org/a"/><updated>2024-01-25T08:00:00Z</updated></entry>
<entry><title>No link</title><updated>2024-01-25T08:00:00Z</updated></entry></feed>"""


def test_rss_and_atom_items_and_a_broken_feed_says_why():
    title, items = parse_feed(rss("http://example.org/x", "http://example.org/y"))
    assert title == "Wire" and [i.url for i in items] == ["http://example.org/x", "http://example.org/y"]
    assert items[0].published == "2013-08-28"
    title, items = parse_feed(ATOM)
    assert title == "Atom wire" and [(i.url, i.published) for i in items] == [
        ("http://example.org/a", "2024-01-25")
    ]
    with pytest.raises(FetchError, match="not valid RSS or Atom"):
        parse_feed(b"<rss><channel><item><title>broken & unclosed")


def test_a_republished_story_is_the_same_story_and_another_story_is_not():
    body = " ".join(f"قال المسؤول إن القوات رقم {i} غادرت القاعدة يوم الأحد." for i in range(12))
    republished = "وكالة أخرى: " + body.replace("الأحد", "الأحد،") + " انتهى."
    assert same_story(republished, {"a.txt": shingles(body)}) == "a.txt"
    other = " ".join(f"أعلنت الحكومة خطة جديدة للطاقة رقم {i} في البصرة." for i in range(12))
    assert same_story(other, {"a.txt": shingles(body)}) is None


def test_a_failing_feed_waits_longer_each_time_and_a_success_clears_it(tmp_path):
    feeds, now = FeedList.load(tmp_path), dt.datetime(2026, 12, 4, 12, tzinfo=dt.UTC)
    feed = feeds.add("https://example.org/rss", now)
    with pytest.raises(IngestFileError, match="already followed"):
        feeds.add("https://example.org/rss", now)
    with pytest.raises(IngestFileError, match="not an http"):
        feeds.add("file:///etc/passwd", now)
    feeds.failed(feed, "the server answered HTTP 500", now)
    assert feeds.due(now) == [] and feeds.due(now + dt.timedelta(minutes=10)) == [feed]
    feeds.failed(feed, "again", now)
    assert feed.next_try == "2026-12-04T12:20:00+00:00"
    feeds.succeeded(feed, now)
    assert feeds.due(now) == [feed] and feed.error == "" and feed.failures == 0
    feeds.save()
    assert FeedList.load(tmp_path).feeds[0].url == "https://example.org/rss"
    assert parse_every("1h30m") == dt.timedelta(minutes=90)
    with pytest.raises(ValueError, match="not a duration"):
        parse_every("soon")


def test_watch_adds_what_a_feed_brings_skips_a_republished_copy_and_survives_broken_feeds(
    embedder, web_server, tmp_path, monkeypatch, capsys
):
    from rag.interfaces.cli import main

    monkeypatch.setenv("ISNAD_FETCH_ALLOW", f"127.0.0.1:{web_server.port}")
    monkeypatch.setenv("ISNAD_PAGES_DIR", str(tmp_path / "pages"))
    index = ["--index-dir", str(tmp_path / "index")]
    feed, broken, gone = (
        web_server.url(p) for p in ("/feeds/wire.xml", "/feeds/broken.xml", "/feeds/gone.xml")
    )
    Handler.pages["/feeds/wire.xml"] = ("application/rss+xml", rss(web_server.url("/ar.html")))
    Handler.pages["/feeds/broken.xml"] = ("application/xml", b"<rss><channel><item>unclosed")
    copy = ARABIC_PAGE.read_bytes().replace(b"CNN", b"Wire Daily")  # another outlet, the same wire story
    Handler.pages["/feeds/republished.html"] = ("text/html; charset=utf-8", copy)
    try:
        assert main([*index, "feeds", "add", feed, broken, gone]) == 0
        assert main([*index, "feeds", "update"]) == 2  # two feeds failed; the good one went in
        out = capsys.readouterr()
        assert "added " in out.out and "1 article(s) added" in out.out
        assert f"feed failed: {broken}: the feed is not valid RSS or Atom" in out.err
        assert f"feed failed: {gone}: the server answered HTTP 404" in out.err
        # The feed brings an English story and the Arabic one republished under another outlet.
        Handler.pages["/feeds/wire.xml"] = (
            "application/rss+xml",
            rss(
                web_server.url("/ar.html"),
                web_server.url("/en.html"),
                web_server.url("/feeds/republished.html"),
            ),
        )
        assert main([*index, "watch", "--every", "1s", "--rounds", "1"]) == 0  # broken feeds wait their turn
        out = capsys.readouterr().out
        assert "1 article(s) added, 1 republished duplicate(s) skipped" in out
        assert f"waiting after earlier failures: {broken}" in out
        state = json.loads((tmp_path / "index" / "feeds.json").read_text(encoding="utf-8"))
        dup = state["seen"][web_server.url("/feeds/republished.html")]
        assert dup["duplicate_of"].endswith(".txt") and dup["outlet"]  # the second outlet is recorded
        assert main([*index, "info", "--json"]) == 0
        assert json.loads(capsys.readouterr().out)["documents"] == 2  # the Arabic story once, the English one
        # What is new since today: the two stories the feed brought (published in 2013, added today).
        today = dt.datetime.now(dt.UTC).date().isoformat()
        assert main([*index, "brief", "--since", today, "--lang", "ar", "--length", "short", "--json"]) == 0
        assert len(json.loads(capsys.readouterr().out)["doc_ids"]) == 2
        assert main([*index, "brief", "--since", "2099-01-01"]) == 2
        assert "no article was published or added on or after 2099-01-01" in capsys.readouterr().err
        assert main([*index, "ask", "ما الذي سيطرت عليه فصائل المعارضة بريف دمشق؟", "--json"]) == 0
        answer = json.loads(capsys.readouterr().out)
        assert any(s["arrival"].startswith("fetched from") for s in answer["sources"])
    finally:
        for path in ("/feeds/wire.xml", "/feeds/broken.xml", "/feeds/republished.html"):
            Handler.pages.pop(path, None)
