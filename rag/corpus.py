"""Keeping the corpus: following news feeds, and removing articles.

Feeds are updated under their own lock (one update at a time; an app and a watch can run together)
and add their new items through `Isnad.ingest`, under the index's writer lock. Removing an article
takes it out of the store the settings name and out of the harvested names; the files Isnad itself
keeps (uploads, fetched pages) go to a trash folder unless purged. A user's own files (added with
``isnad ingest PATH``) are never touched: only the index forgets them.
"""

from __future__ import annotations

import datetime as dt
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from rag.errors import DocumentNotFound, FetchError, IndexBusyError, IndexMissingError
from rag.ingest.feeds import FeedList, parse_feed, same_story, shingles
from rag.ingest.web import ORIGINAL, SIDECAR, save
from rag.store.folders import SearchIndex, load_repairing
from rag.store.lock import writer_lock
from rag.text.arabic import normalize_ar
from rag.text.harvest import read_harvest, write_harvest
from rag.text.lexicon import HARVESTED
from rag.types import Document

TRASH = "trash"  # under index_dir: what a delete set aside, one folder per delete


@dataclass
class FeedsReport:
    """What one update of the followed feeds did."""

    checked: list[str] = field(default_factory=list)  # feeds fetched and read
    added: list[str] = field(default_factory=list)  # sources of the articles added
    duplicates: list[tuple[str, str, str]] = field(default_factory=list)  # (item URL, kept source, outlet)
    failed: list[tuple[str, str]] = field(default_factory=list)  # (feed URL, why): retried later
    item_errors: list[tuple[str, str]] = field(default_factory=list)  # (item URL, why): tried again next time
    waiting: list[str] = field(default_factory=list)  # feeds still waiting out an earlier failure


@dataclass
class DeleteReport:
    """What a delete removed, and where the files Isnad kept went."""

    removed: list[str] = field(default_factory=list)  # sources of the documents removed
    n_chunks: int = 0
    trashed: list[str] = field(default_factory=list)  # files moved to the trash folder
    purged: list[str] = field(default_factory=list)  # files deleted for good
    left: list[str] = field(default_factory=list)  # the user's own files: left where they are
    names_dropped: int = 0  # harvested names no remaining article mentions


def match_documents(docs: list[Document], refs: list[str]) -> list[Document]:
    """The documents ``refs`` name: a document id (or its first 6 characters or more), a source path, or a
    file name. A reference that names none, or several, is refused by name: a delete never guesses."""
    out: list[Document] = []
    problems = []
    for ref in refs:
        ref = ref.strip()
        exact = [d for d in docs if ref in (d.doc_id, d.source) or Path(d.source).name == ref]
        found = exact or [d for d in docs if len(ref) >= 6 and d.doc_id.startswith(ref)]
        if not ref or not found:
            problems.append(f"no indexed article matches '{ref}'")
        elif len(found) > 1:
            names = ", ".join(Path(d.source).name for d in found[:5])
            problems.append(
                f"'{ref}' matches {len(found)} articles ({names}); give the whole file name or id"
            )
        elif found[0] not in out:
            out.append(found[0])
    if problems:
        raise DocumentNotFound(
            "; ".join(problems) + " (nothing was deleted; `isnad info` lists the articles)"
        )
    return out


class Corpus:
    """Feeds and removal (`isnad feeds`, `isnad watch`, `isnad delete`, the app's Corpus tab), as
    methods of `Isnad` (which mixes this in)."""

    def follow(self, url: str) -> str:
        """Start following a feed; its items come in at the next update."""
        feeds = FeedList.load(self.settings.index_dir)
        feeds.add(url, _now())
        feeds.save()
        return url

    def unfollow(self, url: str) -> None:
        """Stop following a feed; the articles it brought stay."""
        feeds = FeedList.load(self.settings.index_dir)
        feeds.remove(url)
        feeds.save()

    def update_feeds(self, every_feed: bool = False) -> FeedsReport:
        """Fetch the followed feeds (those not waiting out a failure, or all) and add their new items."""
        from filelock import FileLock, Timeout

        folder = Path(self.settings.index_dir)
        folder.mkdir(parents=True, exist_ok=True)
        try:
            with FileLock(str(folder / "feeds.lock"), timeout=0):
                return self._update_feeds(every_feed)
        except Timeout:
            raise IndexBusyError("another feed update is running; try again when it has finished") from None

    def _update_feeds(self, every_feed: bool) -> FeedsReport:
        when = _now()
        feeds, report = FeedList.load(self.settings.index_dir), FeedsReport()
        due = feeds.feeds if every_feed else feeds.due(when)
        report.waiting = [f.url for f in feeds.feeds if f not in due]
        known: dict[str, set[int]] | None = None  # the corpus's texts as word runs, read once when needed
        fetcher = self.fetcher()
        try:
            for feed in due:
                try:
                    title, items = parse_feed(fetcher.feed(feed.url))
                except FetchError as e:
                    feeds.failed(feed, str(e), when)
                    report.failed.append((feed.url, str(e)))
                    continue
                feed.title = title or feed.title
                report.checked.append(feed.url)
                if known is None:
                    known = self._known_texts()
                paths = []
                for item in items:
                    if item.url in feeds.seen or item.url in known:
                        continue
                    try:
                        page = fetcher.page(item.url)
                    except FetchError as e:
                        report.item_errors.append((item.url, str(e)))
                        continue
                    if kept := same_story(page.text, known):
                        outlet = page.outlet or item.url
                        feeds.seen[item.url] = {"feed": feed.url, "duplicate_of": kept, "outlet": outlet}
                        report.duplicates.append((item.url, kept, outlet))
                        continue
                    path = save(page, Path(self.settings.pages_dir))
                    known[str(path)] = shingles(page.text)
                    feeds.seen[item.url] = {"feed": feed.url, "source": str(path), "at": _iso(when)}
                    paths.append(path)
                if paths:
                    summary = self.ingest(paths, origin={"feed": feed.url})
                    report.added += summary.report.added
                    feed.items_added += len(summary.report.added)
                    report.item_errors += [(e.source, e.reason) for e in summary.errors]
                feeds.succeeded(feed, when)
        finally:
            fetcher.close()
            feeds.save()
        return report

    def _known_texts(self) -> dict[str, set[int]]:
        """Every indexed article's text as word runs, by source; its address too, when it came from one."""
        try:
            docs = self.index.documents()
        except IndexMissingError:
            return {}
        known = {d.source: shingles(d.body()) for d in docs}
        known.update({d.origin["url"]: set() for d in docs if d.origin.get("url")})
        return known

    def delete(self, refs: list[str], purge: bool = False, wait: bool = True) -> DeleteReport:
        """Remove the documents ``refs`` name, under the index's writer lock (one writer at a time)."""
        folder = self.settings.index_dir
        report = DeleteReport()
        with writer_lock(folder, wait):
            if self.folders:
                index, _ = load_repairing(folder)
                store = index
            else:
                store = self._open_store()
            docs = match_documents(store.documents(), refs)
            report.n_chunks = store.delete([d.doc_id for d in docs])
            if isinstance(store, SearchIndex):
                store.save(folder)
            report.removed = [d.source for d in docs]
            remaining = store.documents()
            report.names_dropped = _forget_names(folder / HARVESTED, docs, remaining)
            self._put_aside(docs, report, purge)
        self._index, self._searcher = store, None  # engines rebind to the store as it when is
        return report

    def _put_aside(self, docs: list[Document], report: DeleteReport, purge: bool) -> None:
        """Uploads and fetched pages (Isnad's own copies) to the trash, or deleted with ``purge``."""
        kept_by_isnad = [Path(self.settings.uploads_dir).resolve(), Path(self.settings.pages_dir).resolve()]
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%f")
        trash = Path(self.settings.index_dir) / TRASH / stamp
        for doc in docs:
            path = Path(doc.origin.get("path") or doc.source)
            ours = doc.origin.get("via") in ("upload", "url") and any(
                path.resolve().is_relative_to(root) for root in kept_by_isnad
            )
            if not ours:
                report.left.append(str(path))
                continue
            files = [path]
            if doc.origin.get("via") == "url":  # the page's original HTML and what was recorded of it
                files += [path.with_name(path.stem + ORIGINAL), path.with_name(path.stem + SIDECAR)]
            for f in files:
                if not f.exists():
                    continue
                if purge:
                    f.unlink()
                    report.purged.append(str(f))
                else:
                    trash.mkdir(parents=True, exist_ok=True)
                    shutil.move(str(f), trash / f.name)
                    report.trashed.append(str(trash / f.name))


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _iso(when: dt.datetime) -> str:
    return when.isoformat(timespec="seconds")


def _forget_names(path: Path, removed: list[Document], remaining: list[Document]) -> int:
    """Harvested names that only the removed articles mention; returns how many were dropped."""
    rows = read_harvest(path)
    if not rows:
        return 0
    gone_text = [normalize_ar(d.text) for d in removed]
    left_text = [normalize_ar(d.text) for d in remaining]
    keep = [
        r
        for r in rows
        if not any(normalize_ar(r["arabic"]) in t for t in gone_text)
        or any(normalize_ar(r["arabic"]) in t for t in left_text)
    ]
    if len(keep) < len(rows):
        write_harvest(path, keep)
    return len(rows) - len(keep)
