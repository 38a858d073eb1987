"""Which store engine a setting names, where its files live, and how a rebuilt store replaces the live one."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from rag.config import Settings
from rag.errors import IndexMissingError, IndexProblem, StoreError, StoreMissingError
from rag.store.base import Store, StoreInfo
from rag.store.sqlite import SqliteStore

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
    raise ValueError(
        f"unknown ISNAD_STORE '{settings.store}': use sqlite, folders or postgresql://user@host:port/db"
    )


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
