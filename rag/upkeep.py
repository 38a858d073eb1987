"""Keeping an index healthy: migrating a folder index into a store, copying a store, doctor's checks and rebuilds."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path
from typing import Self

from rag.errors import IndexMissingError, IndexProblem
from rag.store.base import Store
from rag.store.folders import SearchIndex, load_repairing
from rag.store.lock import writer_lock
from rag.store.registry import next_folder, open_store, sqlite_folder, store_kind, store_label, swap_in
from rag.store.sqlite_parts import salvage_documents


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
            return notes + [
                f"index OK: {gen}, {len(index.docs)} documents, {len(index.chunks)} chunks, checksums verified"
            ]
        if store_kind(self.settings.store) == "sqlite":
            sound, notes = self._doctor_sqlite()
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
                return True, [
                    f"index OK ({store_label(self.settings)}): {info.n_docs} documents, {info.n_chunks} "
                    "chunks; database pages and one vector per chunk checked"
                ]
            n_chunks = self._build_sqlite(docs)
            aside = swap_in(
                live,
                next_folder(self.settings),
                keep_old_as=f"store.damaged-{dt.datetime.now():%Y%m%d-%H%M%S}",
            )
        return False, [f"damaged: {p}" for p in problems] + [
            f"rebuilt from the {len(docs)} documents still readable ({n_chunks} chunks re-embedded); "
            f"the damaged store is kept at {aside}"
            + ("" if docs else "; nothing was readable: ingest your files again")
        ]
