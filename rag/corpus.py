"""Removing articles: from the store the settings name, from the harvested names, and from the files
Isnad itself keeps (uploads, fetched pages), which go to a trash folder unless purged.

A user's own files (added with ``isnad ingest PATH``) are never touched: only the index forgets them.
"""

from __future__ import annotations

import datetime as dt
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from rag.errors import IngestFileError
from rag.ingest.web import ORIGINAL, SIDECAR
from rag.store.folders import SearchIndex, load_repairing
from rag.store.lock import writer_lock
from rag.text.arabic import normalize_ar
from rag.text.harvest import read_harvest, write_harvest
from rag.text.lexicon import HARVESTED
from rag.types import Document

TRASH = "trash"  # under index_dir: what a delete set aside, one folder per delete


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
        raise IngestFileError("; ".join(problems) + " (nothing was deleted; `isnad info` lists the articles)")
    return out


class Corpus:
    """`isnad delete` and the app's delete action, as methods of `Isnad` (which mixes this in)."""

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
        self._index, self._searcher = store, None  # engines rebind to the store as it now is
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
