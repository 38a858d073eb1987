"""The Python API: one object that wires settings, model, index and retrieval.

The CLI and the app both go through it, so they cannot drift apart.
"""

from __future__ import annotations

import datetime as dt
import logging
import shutil
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from rag.answers.extractive import ExtractiveEngine
from rag.answers.generative import GenerativeEngine
from rag.briefing.briefing import Briefing
from rag.briefing.extractive import ExtractiveBriefer
from rag.briefing.generative import GenerativeBriefer
from rag.config import Settings
from rag.corpus import Corpus
from rag.errors import BriefingError, IndexMissingError, IndexProblem, IndexStaleError
from rag.ingest.embed import EMBEDDING_CACHE, EmbeddingCache, chunk_and_embed, store_items, too_long
from rag.ingest.files import IngestError, ingest_paths, is_url
from rag.models.embedder import load_embedder
from rag.models.llm import Generator, make_generator
from rag.retrieval.hybrid import Searcher
from rag.store.base import Reader, Store, StoreInfo, check_compatible, corpus_stats
from rag.store.folders import AddReport, SearchIndex, load_repairing, recover_documents
from rag.store.lock import writer_lock
from rag.store.registry import FOLDERS, next_folder, open_store, sqlite_folder, store_kind, swap_in
from rag.store.sqlite import SqliteStore
from rag.text.arabic import detect_language, sentence_spans
from rag.text.dates import reference_date
from rag.text.harvest import read_harvest, record_spellings, update_harvest
from rag.text.lexicon import HARVESTED, lexicon_for
from rag.translation.translator import Translation, Translator, translator_for
from rag.types import Answer, Document, Filters, Hit, Progress, Query
from rag.upkeep import Upkeep

log = logging.getLogger(__name__)


@dataclass
class IngestSummary:
    report: AddReport
    errors: list[IngestError]
    duplicates: list[str]
    rebuilt: bool = False
    notes: list[str] = field(default_factory=list)


class Isnad(Upkeep, Corpus):
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
    def in_memory(cls, documents, settings: Settings | None = None, progress: bool = False) -> Isnad:
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
        return store_kind(self.settings.store) == FOLDERS

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
            if store_kind(self.settings.store) == "sqlite" and (self.settings.index_dir / "CURRENT").exists():
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
            self._searcher = Searcher(
                self.index,
                self.embedder,
                self.settings.rrf_k,
                self.settings.candidates,
                self.settings.bm25_weight,
            )
        return self._searcher

    def fetcher(self):
        """The guarded HTTP client for pages added by URL (rag.ingest.web), configured by the operator's settings."""
        from rag.ingest.web import Fetcher

        s = self.settings
        return Fetcher(allow=s.fetch_allow, timeout=s.fetch_timeout, respect_robots=s.fetch_respect_robots)

    def fetch_pages(self, urls: list[str]) -> tuple[list[Path], list[IngestError]]:
        """Fetch each URL into ``pages_dir`` (text, original HTML, metadata); a page that fails is reported."""
        from rag.errors import FetchError
        from rag.ingest.web import save

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

    def ingest(
        self,
        paths: list[str | Path],
        rebuild: bool = False,
        wait: bool = True,
        on_wait: Callable[[str], None] | None = None,
        on_progress: Progress | None = None,
        cancel: threading.Event | None = None,
        origin: dict[str, str] | None = None,
    ) -> IngestSummary:
        """Add files to the index (created if absent); rebuild when model or chunker changed.

        One writer at a time across processes: the index is read, extended and saved under the
        index folder's lock, so two ingests never overwrite each other's documents. A broken
        CURRENT is repaired first (nothing deleted); `rebuild` re-embeds every document the index
        knew plus ``paths``, never fewer.
        """
        stamp = {"at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), **(origin or {})}
        urls = [str(p) for p in paths if is_url(str(p))]
        pages, fetch_errors = self.fetch_pages(urls) if urls else ([], [])
        result = ingest_paths([p for p in paths if not is_url(str(p))] + pages, origin=stamp)
        result.errors[:0] = fetch_errors
        if result.documents:
            long = too_long(
                result.documents, self.embedder, self.settings.chunker(), self.settings.max_document_chunks
            )
            result.documents = [d for d in result.documents if d.source not in long]
            result.errors += [IngestError(source, why) for source, why in long.items()]
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
                notes.append(
                    f"unreadable index ({e}); re-embedding the {len(known)} documents recovered from "
                    f"{gen or 'no generation'} with the new files"
                )
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
                    notes.append(
                        f"re-embedding the {len(index.docs)} indexed documents"
                        + (f": {stale}" if stale else "")
                    )
                    index = index.rebuilt(embedder, chunker, self.progress, on_progress, cancel)
                    did_rebuild = True
            report = index.add(result.documents, embedder, self.progress, on_progress, cancel)
            if report.added or report.replaced or did_rebuild or not (folder / "CURRENT").exists():
                index.save(folder)
                new = update_harvest(
                    folder / HARVESTED,
                    [d.text for d in (index.docs.values() if did_rebuild else result.documents)],
                    lexicon_for(self.settings),
                )
                if new:
                    notes.append(
                        f"{new} new name(s) found after a title; `isnad translate` spells them in English"
                    )
        self._index, self._searcher = index, None  # engines rebind to the new searcher
        return IngestSummary(report, result.errors, result.duplicates, did_rebuild, notes)

    def _configured(self) -> StoreInfo:
        """What a store built now would record: the configured model and chunker."""
        embedder = self.embedder
        return StoreInfo(embedder.model_id, embedder.dim, self.settings.chunker().to_dict())

    def _ingest_store(
        self,
        result,
        rebuild: bool,
        wait: bool,
        on_wait,
        on_progress: Progress | None,
        cancel: threading.Event | None,
    ) -> IngestSummary:
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
                raise IndexStaleError(
                    f"{stale or '--rebuild'}: point ISNAD_STORE at an empty database and ingest "
                    "again (a server store is not re-embedded in place)"
                )
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
        cache = (
            EmbeddingCache.open(self.settings.index_dir / EMBEDDING_CACHE, embedder.model_id) if new else None
        )
        embedded = chunk_and_embed(new, embedder, chunker, self.progress, on_progress, cancel, cache)
        report.n_chunks = sum(len(chunks) for _, chunks, _ in embedded)
        notes = []
        # no rebuild swaps the store under this write
        with writer_lock(self.settings.index_dir, wait, on_wait):
            if embedded:
                if store.replaced():  # a rebuild or repair swapped a new store in while we embedded
                    store.close()
                    store = open_store(self.settings, info)
                check_compatible(store.info(), embedder.model_id, chunker.to_dict())
                store.upsert_many(store_items(embedded))
            if cache is not None:
                cache.clear()
            if found := update_harvest(
                self.settings.index_dir / HARVESTED, [d.text for d in new], lexicon_for(self.settings)
            ):
                notes.append(
                    f"{found} new name(s) found after a title; `isnad translate` spells them in English"
                )
        self._index, self._searcher = store, None
        return IngestSummary(report, result.errors, result.duplicates, False, notes)

    def _rebuild_store(
        self,
        store: Store,
        result,
        stale: str | None,
        wait: bool,
        on_wait,
        on_progress: Progress | None,
        cancel: threading.Event | None,
    ) -> IngestSummary:
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
            swap_in(sqlite_folder(self.settings), next_folder(self.settings))
            update_harvest(
                self.settings.index_dir / HARVESTED,
                [d.text for d in known.values()],
                lexicon_for(self.settings),
            )
        self._index, self._searcher = None, None
        return IngestSummary(report, result.errors, result.duplicates, True, notes)

    def _build_sqlite(
        self, docs: list, on_progress: Progress | None = None, cancel: threading.Event | None = None
    ) -> int:
        """A new SQLite store of ``docs`` in ``store.next`` (the live one untouched); its chunk count."""
        folder = next_folder(self.settings)
        shutil.rmtree(folder, ignore_errors=True)  # a build that stopped half-way
        embedded = chunk_and_embed(
            docs, self.embedder, self.settings.chunker(), self.progress, on_progress, cancel
        )
        new = SqliteStore(folder, self._configured())
        try:
            new.upsert_many(store_items(embedded))
        finally:
            new.close()
        return sum(len(chunks) for _, chunks, _ in embedded)

    @property
    def generator(self) -> Generator | None:
        """The configured generator (None: extractive only). Started lazily, once."""
        if not self._generator_made:
            self._generator, self._generator_made = make_generator(self.settings), True
        return self._generator

    def translator(self) -> Translator:
        """Fact-locked translation with the configured generator, cached in the index folder."""
        return translator_for(self.generator, self.embedder, self.settings)

    def translate_corpus(
        self, doc_ids: list[str] | None = None, pause: Callable[[], None] | None = None
    ) -> Iterator[tuple[int, int, Translation]]:
        """Translate every Arabic sentence of the corpus once (cached), yielding (done, total, result):
        briefings and answers then show English at once. ``pause`` is called before each model call
        (the app's background pass waits there while a reader is served)."""
        translator = self.translator()
        translator.pause = pause
        if translator.generator is None:
            raise ValueError("no generator is configured: set ISNAD_GENERATOR=local, or ISNAD_LLM_BASE_URL")
        names = self.settings.index_dir / HARVESTED
        todo = [r["arabic"] for r in read_harvest(names) if not (r["english"] or r["how"])]
        if todo:
            spelled = {arabic: translator.transliterate(arabic) for arabic in todo}
            with writer_lock(self.settings.index_dir):
                record_spellings(names, spelled)
            translator = self.translator()  # the spelled names join the lexicon the translation uses
            translator.pause = pause
        if translator.withholds_all:  # none of this model's translations would be shown
            return
        docs = [d for d in self.searcher.documents().values() if not doc_ids or d.doc_id in doc_ids]
        # once per article, not per sentence
        refs = {d.doc_id: reference_date(d.date, d.body())[0] for d in docs}
        todo = [
            (d.text[a:b], refs[d.doc_id])
            for d in docs
            for p0, p1 in d.paragraphs
            for a, b in sentence_spans(d.text, p0, p1)
            if detect_language(d.text[a:b]) == "ar"
        ]
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
                raise ValueError(
                    "no generator is configured: set ISNAD_GENERATOR=local, or ISNAD_LLM_BASE_URL "
                    "and ISNAD_LLM_MODEL for an OpenAI-compatible endpoint"
                )
            return GenerativeEngine(self.extractive(), self.generator, self.settings)
        raise ValueError(f"unknown engine '{kind}'; use extractive or generative")

    def ask(
        self,
        question: str,
        engine: str = "extractive",
        filters: Filters | None = None,
        mode: str | None = None,
    ) -> Answer:
        return self.engine(engine).answer(Query(question, filters=filters, mode=mode))

    def briefer(self, kind: str = "extractive") -> ExtractiveBriefer | GenerativeBriefer:
        """'extractive' (offline default; translates when a generator exists) or 'generative'."""
        if self._briefer is None or self._briefer.searcher is not self.searcher:
            self._briefer = ExtractiveBriefer(self.searcher, self.embedder, self.settings, self.generator)
        if kind == "extractive":
            return self._briefer
        if kind == "generative":
            if self.generator is None:
                raise ValueError(
                    "no generator is configured: set ISNAD_GENERATOR=local, or ISNAD_LLM_BASE_URL"
                )
            return GenerativeBriefer(self._briefer, self.generator, self.settings)
        raise ValueError(f"unknown engine '{kind}'; use extractive or generative")

    def brief(
        self,
        articles: list[str] | None = None,
        topic: str | None = None,
        lang: str = "both",
        length: str = "medium",
        engine: str = "extractive",
        since: str | None = None,
    ) -> Briefing:
        """A briefing of ``articles`` (all by default) or of a ``topic`` across them; ``since`` (an ISO
        date) keeps the articles published, or added to the corpus, on or after it."""
        if since:
            new = [d.doc_id for d in self.index.documents() if is_new(d, since)]
            if articles:
                chosen = {d.doc_id for d in self.briefer(engine).resolve_articles(articles)}
                new = [i for i in new if i in chosen]
            if not new:
                raise BriefingError(f"no article was published or added on or after {since}")
            articles = new
        return self.briefer(engine).brief(articles, topic, lang, length)

    def search(
        self, query: str, k: int | None = None, mode: str | None = None, filters: Filters | None = None
    ) -> list[Hit]:
        return self.searcher.search(
            query, k or self.settings.top_k, mode or self.settings.retrieval_mode, filters
        )


def is_new(doc: Document, since: str) -> bool:
    """Published, or added to the corpus, on or after ``since`` (an ISO date): new to the reader."""
    return any(when and when >= since for when in (doc.date, doc.origin.get("at", "")[:10]))
