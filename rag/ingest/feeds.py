"""News feeds (RSS, Atom) followed by an index: the list, what each item became, and near-duplicates.

The list lives in ``index_dir/feeds.json`` beside the index it feeds. Each item's address is
remembered once handled, so an update fetches only what is new; a feed that fails is retried later
(after 10 minutes, doubling up to 6 hours) without holding up the others. A wire story republished
by a second outlet is recognised by its shared word runs and kept once; the second outlet and address
are recorded with the item.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

from rag.errors import FetchError, IngestFileError
from rag.text.arabic import normalize_ar

FEEDS = "feeds.json"
RETRY_FIRST = dt.timedelta(minutes=10)
RETRY_MOST = dt.timedelta(hours=6)
SHINGLE = 5  # words per shingle
SAME_STORY = 0.8  # share of the shorter text's shingles the other holds: the same story


@dataclass
class Feed:
    """One followed feed and how its last updates went (times are ISO, UTC)."""

    url: str
    title: str = ""
    added: str = ""
    checked: str = ""  # the last attempt
    ok: str = ""  # the last success
    error: str = ""  # the last failure's reason, "" after a success
    failures: int = 0  # in a row
    next_try: str = ""  # not before this (after failures); "" means at the next update
    items_added: int = 0


@dataclass
class FeedItem:
    url: str
    title: str = ""
    published: str | None = None  # ISO date, as the feed gives it


@dataclass
class FeedList:
    """The followed feeds and every item already handled (added, a duplicate of, or refused)."""

    path: Path
    feeds: list[Feed] = field(default_factory=list)
    seen: dict[str, dict] = field(default_factory=dict)

    @classmethod
    def load(cls, index_dir: Path) -> FeedList:
        path = Path(index_dir) / FEEDS
        if not path.exists():
            return cls(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return cls(path, [Feed(**f) for f in data.get("feeds", [])], dict(data.get("seen", {})))
        except (ValueError, TypeError) as e:
            raise IngestFileError(
                f"{path} is damaged ({e}); fix or remove it to follow feeds again"
            ) from None

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        data = {"feeds": [asdict(f) for f in self.feeds], "seen": self.seen}
        tmp.write_text(json.dumps(data, ensure_ascii=False, indent=1), encoding="utf-8")
        os.replace(tmp, self.path)

    def add(self, url: str, when: dt.datetime) -> Feed:
        url = url.strip()
        if not re.match(r"^https?://[^\s/]+", url):
            raise IngestFileError(f"'{url}' is not an http:// or https:// address")
        if any(f.url == url for f in self.feeds):
            raise IngestFileError(f"{url} is already followed")
        feed = Feed(url, added=_iso(when))
        self.feeds.append(feed)
        return feed

    def remove(self, url: str) -> None:
        if not any(f.url == url for f in self.feeds):
            raise IngestFileError(f"{url} is not followed (`isnad feeds list` shows the feeds)")
        self.feeds = [f for f in self.feeds if f.url != url]

    def due(self, when: dt.datetime) -> list[Feed]:
        """Feeds to fetch at ``when``: all but those waiting out a failure."""
        return [f for f in self.feeds if not f.next_try or f.next_try <= _iso(when)]

    def failed(self, feed: Feed, reason: str, when: dt.datetime) -> None:
        feed.checked, feed.error, feed.failures = _iso(when), reason, feed.failures + 1
        wait = min(RETRY_MOST, RETRY_FIRST * 2 ** (feed.failures - 1))
        feed.next_try = _iso(when + wait)

    def succeeded(self, feed: Feed, when: dt.datetime) -> None:
        feed.checked = feed.ok = _iso(when)
        feed.error, feed.failures, feed.next_try = "", 0, ""


def parse_feed(raw: bytes) -> tuple[str, list[FeedItem]]:
    """The feed's title and its items that link somewhere; a feed that cannot be read says why."""
    import feedparser

    parsed = feedparser.parse(raw)
    items = []
    for entry in parsed.entries:
        link = (entry.get("link") or "").strip()
        if not link:
            continue
        when = entry.get("published_parsed") or entry.get("updated_parsed")
        items.append(FeedItem(link, (entry.get("title") or "").strip(), _date(when)))
    if not items and (parsed.bozo or not parsed.version):  # a feed may be empty; it may not be broken
        reason = str(getattr(parsed, "bozo_exception", "")) or "no RSS or Atom structure"
        raise FetchError(f"the feed is not valid RSS or Atom ({reason[:120]})")
    return (parsed.feed.get("title") or "").strip(), items


def shingles(text: str) -> set[int]:
    """Hashes of the text's runs of SHINGLE words, after Arabic normalisation (spelling variants agree)."""
    words = re.findall(r"\w+", normalize_ar(text).lower())
    return {hash(" ".join(words[i : i + SHINGLE])) for i in range(max(1, len(words) - SHINGLE + 1))}


def same_story(text: str, known: dict[str, set[int]]) -> str | None:
    """The key of a known text that tells the same story (most of the shorter one's runs in the other)."""
    mine = shingles(text)
    for key, theirs in known.items():
        shorter = min(len(mine), len(theirs))
        if shorter >= 10 and len(mine & theirs) >= SAME_STORY * shorter:
            return key
    return None


def parse_every(text: str) -> dt.timedelta:
    """'30m', '1h', '90s', '1h30m' as a duration; anything else is refused with an example."""
    parts = re.fullmatch(r"\s*(?:(\d+)h)?\s*(?:(\d+)m)?\s*(?:(\d+)s)?\s*", text or "")
    if not parts or not any(parts.groups()):
        raise ValueError(f"'{text}' is not a duration; write e.g. 30m, 1h or 1h30m")
    h, m, s = (int(x or 0) for x in parts.groups())
    every = dt.timedelta(hours=h, minutes=m, seconds=s)
    if every.total_seconds() < 1:
        raise ValueError("the interval must be at least one second")
    return every


def _iso(when: dt.datetime) -> str:
    return when.astimezone(dt.UTC).isoformat(timespec="seconds")


def _date(parsed) -> str | None:
    try:
        return dt.date(*parsed[:3]).isoformat() if parsed else None
    except (TypeError, ValueError):
        return None
