"""The Python API: one object that wires settings, model, index and retrieval.

The CLI and the app both go through it, so they cannot drift apart.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import shutil
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

from rag.answer import Answer, ExtractiveEngine, GenerativeEngine
from rag.brief import Briefing, ExtractiveBriefer, GenerativeBriefer
from rag.config import Settings
from rag.dates import reference_date
from rag.index import (AddReport, IndexMissingError, IndexProblem, IndexStaleError, Progress, SearchIndex,
                       check_compatible, chunk_and_embed, load_repairing, recover_documents, store_items, writer_lock)
from rag.ingest import IngestError, ingest_paths, is_url
from rag.lexicon import HARVESTED, lexicon_for, read_harvest, record_spellings, update_harvest
from rag.llm import Generator, make_generator
from rag.models import load_embedder
from rag.retrieve import Filters, Hit, Searcher
from rag.store.base import Reader, Store, StoreError, StoreInfo, StoreMissingError, corpus_stats
from rag.store.sqlite import SqliteStore, salvage_documents
from rag.text_ar import detect_language, sentence_spans
from rag.translate import Translation, Translator, translator_for


FOLDERS = "folders"  # ISNAD_STORE for the generation-folder index (rag/index.py)


def sqlite_folder(settings: Settings) -> Path:
    return Path(settings.index_dir) / "store"


def next_folder(settings: Settings) -> Path:
    """Where a SQLite store is built aside (rebuild, repair) before it replaces the live one."""
    return sqlite_folder(settings).with_name("store.next")


def store_kind(store: str) -> str:
    """'sqlite', 'folders' or 'postgresql' for an ``ISNAD_STORE`` value (a PostgreSQL URL may hold a password)."""
    return "postgresql" if store.startswith(("postgresql://", "postgres://")) else store


def open_store(settings: Settings, info: StoreInfo | None = None) -> Store:
    """The store ``settings.store`` names; store errors become the index errors every caller handles."""
    kind = store_kind(settings.store)
    try:
        if kind == "sqlite":
            _finish_swap(settings)
            return SqliteStore(sqlite_folder(settings), info)
        if kind == "postgresql":
            from rag.store.postgres import PostgresStore

            return PostgresStore(settings.store, info)
    except StoreMissingError as e:
        raise IndexMissingError(str(e)) from None
    except StoreError as e:
        raise IndexProblem(str(e)) from None
    raise ValueError(f"unknown ISNAD_STORE '{settings.store}': use sqlite, folders or postgresql://user@host:port/db")


def store_label(settings: Settings) -> str:
    """Where the index lives, for messages: never a database password."""
    kind = store_kind(settings.store)
    if kind == "sqlite":
        return f"the SQLite store at {sqlite_folder(settings)}"
    if kind == FOLDERS:
        return f"the generation folders in {settings.index_dir}"
    from urllib.parse import urlparse

    url = urlparse(settings.store)
    return f"PostgreSQL at {url.hostname}:{url.port or 5432}{url.path}"


def _finish_swap(settings: Settings) -> None:
    """A rebuild that stopped between its two renames left a complete ``store.next`` and no ``store``."""
    live, new = sqlite_folder(settings), next_folder(settings)
    if not live.exists() and (new / "isnad.sqlite3").exists():
        new.rename(live)


log = logging.getLogger(__name__)


def _swap_in(live: Path, new: Path, keep_old_as: str | None = None) -> Path | None:
    """Put a store built aside in place of the live one; the old one is deleted, or kept under ``keep_old_as``."""
    old = live.with_name(keep_old_as or f"store.old-{os.getpid()}")
    n = 1
    while old.exists():  # two repairs in one second
        n += 1
        old = live.with_name(f"{keep_old_as or 'store.old'}-{n}")
    if live.exists():
        live.rename(old)
    new.rename(live)
    if keep_old_as:
        return old
    shutil.rmtree(old, ignore_errors=True)
    return None


@dataclass
class IngestSummary:
    report: AddReport
    errors: list[IngestError]
    duplicates: list[str]
    rebuilt: bool = False
    notes: list[str] = field(default_factory=list)


class Isnad:
    def __init__(self, settings: Settings | None = None, progress: bool = False):
        self.settings = settings or Settings()
        self.progress = progress
        self._index: SearchIndex | None = None
        self._searcher: Searcher | None = None
        self._generator: Generator | None = None
        self._generator_made = False  # None is a valid generator: "extractive only"
        self._extractive: ExtractiveEngine | None = None
        self._briefer: ExtractiveBriefer | None = None

    @classmethod
    def in_memory(cls, documents, settings: Settings | None = None, progress: bool = False) -> "Isnad":
        """An app over documents indexed in memory only (evaluations, tests, one-off corpora)."""
        app = cls(settings, progress)
        embedder = app.embedder
        app._index = SearchIndex(embedder.model_id, embedder.dim, app.settings.chunker())
        app._index.add(documents, embedder, progress)
        return app

    @property
    def embedder(self):
        return load_embedder(self.settings, self.progress)

    @property
    def folders(self) -> bool:
        """The generation-folder index (``ISNAD_STORE=folders``) rather than a store."""
        return self.settings.store == FOLDERS

    @property
    def index(self) -> Reader:
        """The store ``ISNAD_STORE`` names (SQLite by default), or the generation folders."""
        if self._index is None:
            self._index = SearchIndex.load(self.settings.index_dir) if self.folders else self._open_store()
        return self._index

    def _open_store(self, info: StoreInfo | None = None) -> Store:
        """The store; an empty default store next to a generation-folder index is filled from it first
        (vectors copied, nothing re-embedded, the folders left as they were)."""
        try:
            return open_store(self.settings)
        except IndexMissingError:
            if self.settings.store == "sqlite" and (self.settings.index_dir / "CURRENT").exists():
                with writer_lock(self.settings.index_dir):
                    log.warning(self.migrate())
                return self._index
            if info is None:
                raise
        return open_store(self.settings, info)

    def stats(self) -> dict:
        index = self.index
        return index.stats() if isinstance(index, SearchIndex) else corpus_stats(index)

    @property
    def searcher(self) -> Searcher:
        if self._searcher is None:
            self._searcher = Searcher(self.index, self.embedder, self.settings.rrf_k, self.settings.candidates,
                                     self.settings.bm25_weight)
        return self._searcher

    def fetcher(self):
        """The guarded HTTP client for pages added by URL (rag.web), configured by the operator's settings."""
        from rag.web import Fetcher

        s = self.settings
        return Fetcher(allow=s.fetch_allow, timeout=s.fetch_timeout, respect_robots=s.fetch_respect_robots)

    def fetch_pages(self, urls: list[str]) -> tuple[list[Path], list[IngestError]]:
        """Fetch each URL into ``pages_dir`` (text, original HTML, metadata); a page that fails is reported."""
        from rag.web import FetchError, save

        paths, errors = [], []
        fetcher = self.fetcher()
        try:
            for url in urls:
                try:
                    paths.append(save(fetcher.page(url), self.settings.pages_dir))
                except FetchError as e:
                    errors.append(IngestError(url, str(e)))
                except OSError as e:
                    errors.append(IngestError(url, f"the page could not be saved ({e.strerror or e})"))
        finally:
            fetcher.close()
        return paths, errors

    def ingest(self, paths: list[str | Path], rebuild: bool = False, wait: bool = True,
               on_wait: Callable[[str], None] | None = None, on_progress: Progress | None = None,
               cancel: threading.Event | None = None, origin: dict[str, str] | None = None) -> IngestSummary:
        """Add files to the index (created if absent); rebuild when model or chunker changed.

        One writer at a time across processes: the index is read, extended and saved under the
        index folder's lock, so two ingests never overwrite each other's documents. A broken
        CURRENT is repaired first (nothing deleted); `rebuild` re-embeds every document the index
        knew plus ``paths``, never fewer.
        """
        stamp = {"at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), **(origin or {})}
        urls = [str(p) for p in paths if is_url(str(p))]
        pages, fetch_errors = self.fetch_pages(urls) if urls else ([], [])
        result = ingest_paths([p for p in paths if not is_url(str(p))] + pages, origin=stamp)
        result.errors[:0] = fetch_errors
        if not self.folders:
            return self._ingest_store(result, rebuild, wait, on_wait, on_progress, cancel)
        embedder = self.embedder
        chunker = self.settings.chunker()
        folder = self.settings.index_dir
        notes: list[str] = []
        did_rebuild = False
        with writer_lock(folder, wait, on_wait):
            try:
                index, repaired = load_repairing(folder)
                notes += repaired
            except IndexMissingError:
                index = None
            except IndexProblem as e:  # nothing intact, or another format version
                if not rebuild:
                    raise
                known, gen = recover_documents(folder)
                notes.append(f"unreadable index ({e}); re-embedding the {len(known)} documents recovered from "
                             f"{gen or 'no generation'} with the new files")
                index = SearchIndex(embedder.model_id, embedder.dim, chunker)
                index.add(known, embedder, self.progress, on_progress, cancel)
                did_rebuild = True
            if index is None:
                index = SearchIndex(embedder.model_id, embedder.dim, chunker)
            elif not did_rebuild:
                try:
                    index.check_compatible(embedder.model_id, chunker)
                    stale = None
                except IndexStaleError as e:
                    stale = str(e)
                if rebuild or stale:
                    notes.append(f"re-embedding the {len(index.docs)} indexed documents" + (f": {stale}" if stale else ""))
                    index = index.rebuilt(embedder, chunker, self.progress, on_progress, cancel)
                    did_rebuild = True
            report = index.add(result.documents, embedder, self.progress, on_progress, cancel)
            if report.added or report.replaced or did_rebuild or not (folder / "CURRENT").exists():
                index.save(folder)
                new = update_harvest(folder / HARVESTED, [d.text for d in (index.docs.values() if did_rebuild
                                                                          else result.documents)],
                                     lexicon_for(self.settings))
                if new:
                    notes.append(f"{new} new name(s) found after a title; `isnad translate` spells them in English")
        self._index, self._searcher = index, None  # engines rebind to the new searcher
        return IngestSummary(report, result.errors, result.duplicates, did_rebuild, notes)

    def _configured(self) -> StoreInfo:
        """What a store built now would record: the configured model and chunker."""
        embedder = self.embedder
        return StoreInfo(embedder.model_id, embedder.dim, self.settings.chunker().to_dict())

    def _ingest_store(self, result, rebuild: bool, wait: bool, on_wait, on_progress: Progress | None,
                      cancel: threading.Event | None) -> IngestSummary:
        """Into a store: only new and changed files are chunked and embedded, then written in one transaction.
        A changed model or chunker (or ``rebuild``) re-embeds the whole corpus into a new SQLite store that
        replaces the old one only when complete."""
        embedder, chunker = self.embedder, self.settings.chunker()
        info = self._configured()
        store = self._open_store(info)
        try:
            check_compatible(store.info(), embedder.model_id, chunker.to_dict(), fix="")
            stale = None
        except IndexStaleError as e:
            stale = str(e)
        if rebuild or stale:
            if self.settings.store != "sqlite":
                raise IndexStaleError(f"{stale or '--rebuild'}: point ISNAD_STORE at an empty database and ingest "
                                      "again (a server store is not re-embedded in place)")
            return self._rebuild_store(store, result, stale, wait, on_wait, on_progress, cancel)
        present = store.doc_ids_for([d.source for d in result.documents])
        report = AddReport()
        new = []
        for d in result.documents:
            if present.get(d.source) == d.doc_id:
                report.unchanged.append(d.source)
                continue
            (report.replaced if d.source in present else report.added).append(d.source)
            new.append(d)
        embedded = chunk_and_embed(new, embedder, chunker, self.progress, on_progress, cancel)
        report.n_chunks = sum(len(chunks) for _, chunks, _ in embedded)
        notes = []
        with writer_lock(self.settings.index_dir, wait, on_wait):  # no rebuild swaps the store under this write
            if embedded:
                if store.replaced():  # a rebuild or repair swapped a new store in while we embedded
                    store.close()
                    store = open_store(self.settings, info)
                check_compatible(store.info(), embedder.model_id, chunker.to_dict())
                store.upsert_many(store_items(embedded))
            if found := update_harvest(self.settings.index_dir / HARVESTED, [d.text for d in new],
                                       lexicon_for(self.settings)):
                notes.append(f"{found} new name(s) found after a title; `isnad translate` spells them in English")
        self._index, self._searcher = store, None
        return IngestSummary(report, result.errors, result.duplicates, False, notes)

    def _rebuild_store(self, store: Store, result, stale: str | None, wait: bool, on_wait,
                       on_progress: Progress | None, cancel: threading.Event | None) -> IngestSummary:
        """Every document the store holds plus the new files, re-embedded into ``store.next``, then swapped in."""
        with writer_lock(self.settings.index_dir, wait, on_wait):
            known = {d.source: d for d in store.documents()}
            store.close()
            report = AddReport()
            for d in result.documents:
                (report.replaced if d.source in known else report.added).append(d.source)
                known[d.source] = d
            notes = [f"re-embedding the {len(known)} documents" + (f": {stale}" if stale else "")]
            report.n_chunks = self._build_sqlite(list(known.values()), on_progress, cancel)
            _swap_in(sqlite_folder(self.settings), next_folder(self.settings))
            update_harvest(self.settings.index_dir / HARVESTED, [d.text for d in known.values()], lexicon_for(self.settings))
        self._index, self._searcher = None, None
        return IngestSummary(report, result.errors, result.duplicates, True, notes)

    def _build_sqlite(self, docs: list, on_progress: Progress | None = None,
                      cancel: threading.Event | None = None) -> int:
        """A new SQLite store of ``docs`` in ``store.next`` (the live one untouched); its chunk count."""
        folder = next_folder(self.settings)
        shutil.rmtree(folder, ignore_errors=True)  # a build that stopped half-way
        embedded = chunk_and_embed(docs, self.embedder, self.settings.chunker(), self.progress, on_progress, cancel)
        new = SqliteStore(folder, self._configured())
        try:
            new.upsert_many(store_items(embedded))
        finally:
            new.close()
        return sum(len(chunks) for _, chunks, _ in embedded)

    def migrate(self) -> str:
        """Copy the generation-folder index into the store ISNAD_STORE names, vectors and all (no re-embedding)."""
        if self.folders:
            raise ValueError("set ISNAD_STORE (sqlite or postgresql://…) to the store to migrate into")
        old = SearchIndex.load(self.settings.index_dir)
        store = self._fill(old, open_store(self.settings, old.info()))
        info = store.info()
        return (f"migrated {info.n_docs} documents and {info.n_chunks} chunks from the generation folders in "
                f"{self.settings.index_dir} into {store_label(self.settings)} (the folders are left as they were)")

    def _fill(self, index: SearchIndex, store: Store) -> Store:
        """Copy ``index`` (vectors and all) into ``store`` in one transaction (a copy stopped half-way leaves
        nothing to clean up, and PostgreSQL builds its indexes once), and read from it from now on."""
        store.upsert_many(index.items())
        self._index, self._searcher = store, None
        return store

    def copied_to(self, store: str, index_dir: Path) -> "Isnad":
        """This Isnad's in-memory index copied into another store, without re-embedding (to compare engines)."""
        other = Isnad(self.settings.model_copy(update={"store": store, "index_dir": Path(index_dir)}), self.progress)
        index = self.index
        target = open_store(other.settings, index.info())
        if target.info().n_docs:
            raise ValueError(f"{store_label(other.settings)} already holds documents; compare engines on an empty one")
        other._fill(index, target)
        return other

    def doctor(self, compact: bool = False) -> list[str]:
        """Check the index and repair what is damaged, deleting nothing: a broken CURRENT is pointed at the
        newest intact generation; a damaged SQLite store is rebuilt from the documents it can still read
        and kept aside. A sound store also reports the deleted rows it still holds (reclaimed with
        ``compact``) and the store's own advice."""
        if self.folders:
            folder = self.settings.index_dir
            with writer_lock(folder):
                index, notes = load_repairing(folder)
            self._index, self._searcher = index, None
            gen = (folder / "CURRENT").read_text().strip()
            return notes + [f"index OK: {gen}, {len(index.docs)} documents, {len(index.chunks)} chunks, checksums verified"]
        if self.settings.store == "sqlite":
            sound, notes = self._doctor_sqlite()
            if not sound:
                return notes
        else:
            info = self.index.info()
            notes = [f"index OK ({store_label(self.settings)}): {info.n_docs} documents, {info.n_chunks} chunks"]
        return notes + self._upkeep(compact)

    def _upkeep(self, compact: bool) -> list[str]:
        """Deleted rows a sound store still holds, reclaimed when asked, then the store's advice."""
        store = self.index
        held = store.held_deleted()
        if not compact:
            notes = [f"{held} deleted chunks are still held (every search skips them); "
                     "`isnad doctor --compact` reclaims them"] if held else []
        elif not held:
            notes = ["nothing to compact: no deleted chunks are held"]
        else:
            started = time.perf_counter()
            with writer_lock(self.settings.index_dir):
                store.compact()
            notes = [f"compacted: {held} deleted chunks reclaimed in {time.perf_counter() - started:.1f} s"]
        return notes + store.advice()

    def _doctor_sqlite(self) -> tuple[bool, list[str]]:
        """(sound, notes): a damaged store is rebuilt here and kept aside."""
        live = sqlite_folder(self.settings)
        self._index = self._searcher = None
        with writer_lock(self.settings.index_dir):
            try:
                store = open_store(self.settings)
                problems = store.check()
                docs = store.documents() if problems else []
                info = store.info()
                store.close()
            except IndexMissingError:
                if (self.settings.index_dir / "CURRENT").exists():
                    return False, [self.migrate()]
                raise
            except IndexProblem as e:
                problems, docs = [str(e)], salvage_documents(live)
            if not problems:
                return True, [f"index OK ({store_label(self.settings)}): {info.n_docs} documents, {info.n_chunks} "
                              "chunks; database pages and one vector per chunk checked"]
            n_chunks = self._build_sqlite(docs)
            aside = _swap_in(live, next_folder(self.settings),
                             keep_old_as=f"store.damaged-{dt.datetime.now():%Y%m%d-%H%M%S}")
        return False, [f"damaged: {p}" for p in problems] + [
            f"rebuilt from the {len(docs)} documents still readable ({n_chunks} chunks re-embedded); "
            f"the damaged store is kept at {aside}" + ("" if docs else "; nothing was readable: ingest your files again")]

    @property
    def generator(self) -> Generator | None:
        """The configured generator (None: extractive only). Started lazily, once."""
        if not self._generator_made:
            self._generator, self._generator_made = make_generator(self.settings), True
        return self._generator

    def translator(self) -> Translator:
        """Fact-locked translation with the configured generator, cached in the index folder."""
        return translator_for(self.generator, self.embedder, self.settings)

    def translate_corpus(self, doc_ids: list[str] | None = None) -> Iterator[tuple[int, int, Translation]]:
        """Translate every Arabic sentence of the corpus once (cached), yielding (done, total, result):
        briefings and answers then show English at once."""
        translator = self.translator()
        if translator.generator is None:
            raise ValueError("no generator is configured: set ISNAD_GENERATOR=local, or ISNAD_LLM_BASE_URL")
        names = self.settings.index_dir / HARVESTED
        todo = [r["arabic"] for r in read_harvest(names) if not (r["english"] or r["how"])]
        if todo:
            spelled = {arabic: translator.transliterate(arabic) for arabic in todo}
            with writer_lock(self.settings.index_dir):
                record_spellings(names, spelled)
            translator = self.translator()  # the spelled names join the lexicon the translation uses
        docs = [d for d in self.searcher.documents().values() if not doc_ids or d.doc_id in doc_ids]
        refs = {d.doc_id: reference_date(d.date, d.body())[0] for d in docs}  # once per article, not per sentence
        todo = [(d.text[a:b], refs[d.doc_id]) for d in docs for p0, p1 in d.paragraphs
                for a, b in sentence_spans(d.text, p0, p1) if detect_language(d.text[a:b]) == "ar"]
        for i, (sentence, ref) in enumerate(todo, start=1):
            yield i, len(todo), translator.translate(sentence, "en", ref)

    def extractive(self) -> ExtractiveEngine:
        """The extractive engine over the current index (rebuilt after an ingest)."""
        if self._extractive is None or self._extractive.searcher is not self.searcher:
            self._extractive = ExtractiveEngine(self.searcher, self.embedder, self.settings, self.generator)
        return self._extractive

    def engine(self, kind: str = "extractive") -> ExtractiveEngine | GenerativeEngine:
        """'extractive' (offline default) or 'generative' (needs a generator)."""
        if kind == "extractive":
            return self.extractive()
        if kind == "generative":
            if self.generator is None:
                raise ValueError("no generator is configured: set ISNAD_GENERATOR=local, or ISNAD_LLM_BASE_URL "
                                 "and ISNAD_LLM_MODEL for an OpenAI-compatible endpoint")
            return GenerativeEngine(self.extractive(), self.generator, self.settings)
        raise ValueError(f"unknown engine '{kind}'; use extractive or generative")

    def ask(self, question: str, engine: str = "extractive", filters: Filters | None = None,
            mode: str | None = None) -> Answer:
        return self.engine(engine).answer(question, filters=filters, mode=mode)

    def briefer(self, kind: str = "extractive") -> ExtractiveBriefer | GenerativeBriefer:
        """'extractive' (offline default; translates when a generator exists) or 'generative'."""
        if self._briefer is None or self._briefer.searcher is not self.searcher:
            self._briefer = ExtractiveBriefer(self.searcher, self.embedder, self.settings, self.generator)
        if kind == "extractive":
            return self._briefer
        if kind == "generative":
            if self.generator is None:
                raise ValueError("no generator is configured: set ISNAD_GENERATOR=local, or ISNAD_LLM_BASE_URL")
            return GenerativeBriefer(self._briefer, self.generator, self.settings)
        raise ValueError(f"unknown engine '{kind}'; use extractive or generative")

    def brief(self, articles: list[str] | None = None, topic: str | None = None, lang: str = "both",
              length: str = "medium", engine: str = "extractive") -> Briefing:
        return self.briefer(engine).brief(articles, topic, lang, length)

    def search(self, query: str, k: int | None = None, mode: str | None = None,
               filters: Filters | None = None) -> list[Hit]:
        return self.searcher.search(query, k or self.settings.top_k, mode or self.settings.retrieval_mode, filters)
