"""Which store engine a setting names, where its files live, and how a rebuilt store replaces the live one."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from urllib.parse import urlparse

from rag.config import Settings
from rag.errors import IndexMissingError, IndexProblem, StoreError, StoreMissingError
from rag.store.base import Store, StoreInfo
from rag.store.sqlite import SqliteStore

FOLDERS = "folders"  # ISNAD_STORE for the generation-folder index (rag/store/folders.py)


def sqlite_folder(settings: Settings) -> Path:
    return Path(settings.index_dir) / "store"


def next_folder(settings: Settings) -> Path:
    """Where a SQLite store is built aside (rebuild, repair) before it replaces the live one."""
    return sqlite_folder(settings).with_name("store.next")


class Engine:
    """One store engine: which ``ISNAD_STORE`` values name it, how it opens, how messages name it."""

    kind = ""

    def names(self, store: str) -> bool:
        return store == self.kind

    def open(self, settings: Settings, info: StoreInfo | None) -> Store:
        raise ValueError(f"ISNAD_STORE={self.kind} is not a store that opens on its own")

    def label(self, settings: Settings) -> str:
        raise NotImplementedError


class SqliteEngine(Engine):
    """SQLite + FAISS parts in ``index_dir/store``: embedded, no server (the default)."""

    kind = "sqlite"

    def open(self, settings: Settings, info: StoreInfo | None) -> Store:
        _finish_swap(settings)
        return SqliteStore(sqlite_folder(settings), info)

    def label(self, settings: Settings) -> str:
        return f"the SQLite store at {sqlite_folder(settings)}"


class PostgresEngine(Engine):
    """PostgreSQL + pgvector at a ``postgresql://`` URL."""

    kind = "postgresql"

    def names(self, store: str) -> bool:
        return store.startswith(("postgresql://", "postgres://"))

    def open(self, settings: Settings, info: StoreInfo | None) -> Store:
        from rag.store.postgres import PostgresStore

        return PostgresStore(settings.store, info)

    def label(self, settings: Settings) -> str:
        """Host, port and database: never the URL's password."""
        url = urlparse(settings.store)
        return f"PostgreSQL at {url.hostname}:{url.port or 5432}{url.path}"


class FoldersEngine(Engine):
    """Generation folders in ``index_dir``, each change a new generation (``rag.store.folders.SearchIndex``)."""

    kind = FOLDERS

    def label(self, settings: Settings) -> str:
        return f"the generation folders in {settings.index_dir}"


ENGINES: tuple[Engine, ...] = (SqliteEngine(), PostgresEngine(), FoldersEngine())


def engine_for(store: str) -> Engine:
    """The engine an ``ISNAD_STORE`` value names; a clear error for any other value."""
    for engine in ENGINES:
        if engine.names(store):
            return engine
    raise ValueError(f"unknown ISNAD_STORE '{store}': use sqlite, folders or postgresql://user@host:port/db")


def store_kind(store: str) -> str:
    """'sqlite', 'folders' or 'postgresql' for an ``ISNAD_STORE`` value (a PostgreSQL URL may hold a password)."""
    return engine_for(store).kind


def open_store(settings: Settings, info: StoreInfo | None = None) -> Store:
    """The store ``settings.store`` names; store errors become the index errors every caller handles."""
    engine = engine_for(settings.store)
    try:
        return engine.open(settings, info)
    except StoreMissingError as e:
        raise IndexMissingError(str(e)) from None
    except StoreError as e:
        raise IndexProblem(str(e)) from None


def store_label(settings: Settings) -> str:
    """Where the index lives, for messages: never a database password."""
    return engine_for(settings.store).label(settings)


def _finish_swap(settings: Settings) -> None:
    """A rebuild that stopped between its two renames left a complete ``store.next`` and no ``store``."""
    live, new = sqlite_folder(settings), next_folder(settings)
    if not live.exists() and (new / "isnad.sqlite3").exists():
        new.rename(live)


def swap_in(live: Path, new: Path, keep_old_as: str | None = None) -> Path | None:
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
