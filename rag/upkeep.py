"""Keeping an index healthy: migrating a folder index into a store, copying a store, doctor's checks and rebuilds."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path
from typing import Self

from rag.errors import IndexMissingError, IndexProblem
from rag.ingest.files import ingest_paths
from rag.store.base import Store
from rag.store.folders import SearchIndex, load_repairing
from rag.store.lock import writer_lock
from rag.store.registry import next_folder, open_store, sqlite_folder, store_kind, store_label, swap_in
from rag.store.sqlite_parts import salvage_documents
from rag.types import Document


class Upkeep:
    """`isnad migrate` and `isnad doctor`, as methods of `Isnad` (which mixes this in)."""

    def migrate(self) -> str:
        """Copy the generation-folder index into the store ISNAD_STORE names, vectors and all (no re-embedding)."""
        if self.folders:
            raise ValueError("set ISNAD_STORE (sqlite or postgresql://…) to the store to migrate into")
        old = SearchIndex.load(self.settings.index_dir)
        store = self._fill(old, open_store(self.settings, old.info()))
        info = store.info()
        return (
            f"migrated {info.n_docs} documents and {info.n_chunks} chunks from the generation folders in "
            f"{self.settings.index_dir} into {store_label(self.settings)} (the folders are left as they were)"
        )

    def _fill(self, index: SearchIndex, store: Store) -> Store:
        """Copy ``index`` (vectors and all) into ``store`` in one transaction (a copy stopped half-way leaves
        nothing to clean up, and PostgreSQL builds its indexes once), and read from it from now on."""
        store.upsert_many(index.items())
        self._index, self._searcher = store, None
        return store

    def copied_to(self, store: str, index_dir: Path) -> Self:
        """This Isnad's in-memory index copied into another store, without re-embedding (to compare engines)."""
        other = type(self)(
            self.settings.model_copy(update={"store": store, "index_dir": Path(index_dir)}), self.progress
        )
        index = self.index
        target = open_store(other.settings, index.info())
        if target.info().n_docs:
            raise ValueError(
                f"{store_label(other.settings)} already holds documents; compare engines on an empty one"
            )
        other._fill(index, target)
        return other

    def doctor(self, compact: bool = False, accept_loss: bool = False) -> list[str]:
        """Check the index and repair what is damaged, deleting nothing: a broken CURRENT is pointed at the
        newest intact generation; a damaged SQLite store is rebuilt from the documents it can still read
        (row by row) and kept aside, but only when none is lost or ``accept_loss`` says the reader agreed
        to lose what is not readable. A sound store also reports the deleted rows it still holds
        (reclaimed with ``compact``) and the store's own advice."""
        if self.folders:
            folder = self.settings.index_dir
            with writer_lock(folder):
                index, notes = load_repairing(folder)
            self._index, self._searcher = index, None
            gen = (folder / "CURRENT").read_text().strip()
            return notes + [
                f"index OK: {gen}, {len(index.docs)} documents, {len(index.chunks)} chunks, checksums verified"
            ]
        if store_kind(self.settings.store) == "sqlite":
            sound, notes = self._doctor_sqlite(accept_loss)
            if not sound:
                return notes
        else:
            info = self.index.info()
            notes = [
                f"index OK ({store_label(self.settings)}): {info.n_docs} documents, {info.n_chunks} chunks"
            ]
        return notes + self._upkeep(compact)

    def _upkeep(self, compact: bool) -> list[str]:
        """Deleted rows a sound store still holds, reclaimed when asked, then the store's advice."""
        store = self.index
        held = store.held_deleted()
        if not compact:
            notes = (
                [
                    f"{held} deleted chunks are still held (every search skips them); "
                    "`isnad doctor --compact` reclaims them"
                ]
                if held
                else []
            )
        elif not held:
            notes = ["nothing to compact: no deleted chunks are held"]
        else:
            started = time.perf_counter()
            with writer_lock(self.settings.index_dir):
                store.compact()
            notes = [f"compacted: {held} deleted chunks reclaimed in {time.perf_counter() - started:.1f} s"]
        return notes + store.advice()

    def _salvaged(self, live: Path) -> tuple[list[Document], set[str], int]:
        """The readable documents of a damaged store, with those whose rows are lost read again from
        their original files where the files are still where they were ingested from."""
        found = salvage_documents(live)
        docs, have = list(found.documents), {d.source for d in found.documents}
        again = [s for s in sorted(found.sources - have) if Path(s).is_file()]
        if again:
            docs += [
                d for d in ingest_paths(again).documents if d.doc_id in found.held and d.source not in have
            ]
        return docs, found.held, len(docs) - len(found.documents)

    def _doctor_sqlite(self, accept_loss: bool = False) -> tuple[bool, list[str]]:
        """(sound, notes): a damaged store is rebuilt here and kept aside; never one that would lose
        documents unless ``accept_loss``."""
        live = sqlite_folder(self.settings)
        self._index = self._searcher = None
        with writer_lock(self.settings.index_dir):
            try:
                store = open_store(self.settings)
                problems = store.check()
                docs = store.documents() if problems else []
                held, again = {d.doc_id for d in docs}, 0
                info = store.info()
                store.close()
            except IndexMissingError:
                if (self.settings.index_dir / "CURRENT").exists():
                    return False, [self.migrate()]
                raise
            except IndexProblem as e:
                problems = [str(e)]
                docs, held, again = self._salvaged(live)
            if not problems:
                return True, [
                    f"index OK ({store_label(self.settings)}): {info.n_docs} documents, {info.n_chunks} "
                    "chunks; database pages and one vector per chunk checked"
                ]
            damaged = [f"damaged: {p}" for p in problems]
            lost = sorted(held - {d.doc_id for d in docs})
            if not docs and not accept_loss:
                return False, damaged + [
                    "no document is readable in the damaged store, and none of its original files was "
                    "found. Nothing was changed. `isnad doctor --accept-loss` starts an empty index and keeps "
                    "the damaged store aside; then ingest your files again."
                ]
            if lost and not accept_loss:
                return False, damaged + [
                    f"{len(docs)} of {len(held)} documents are still readable; a rebuild would lose "
                    f"{len(lost)} ({', '.join(lost[:5])}{', …' if len(lost) > 5 else ''}). Nothing was "
                    "changed: the index stays in use as it is. `isnad doctor --accept-loss` rebuilds it "
                    "from the readable documents and keeps the damaged store aside; the lost articles can "
                    "then be ingested again from their files."
                ]
            n_chunks = self._build_sqlite(docs)
            aside = swap_in(
                live,
                next_folder(self.settings),
                keep_old_as=f"store.damaged-{dt.datetime.now():%Y%m%d-%H%M%S}",
            )
        lost_note = f"; {len(lost)} documents were not readable and are lost" if lost else ""
        again_note = f", {again} of them read again from their original files" if again else ""
        return False, damaged + [
            f"rebuilt from the {len(docs)} documents still readable{again_note} ({n_chunks} chunks "
            f"re-embedded){lost_note}; the damaged store is kept at {aside}"
            + ("" if docs else "; nothing was readable: ingest your files again")
        ]
