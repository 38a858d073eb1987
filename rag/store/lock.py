"""One writer per index folder at a time, across processes; readers never wait."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from rag.errors import IndexBusyError, storage_failure


def fix_hint(index_dir: Path) -> str:
    return (
        f"run `isnad doctor --index-dir {index_dir}`: it points the index back at the newest intact "
        "generation and deletes nothing"
    )


@contextmanager
def writer_lock(
    index_dir: Path, wait: bool = True, on_wait: Callable[[str], None] | None = None
) -> Iterator[None]:
    """Serialise every writer of ``index_dir`` (CLI ingests, app uploads, rebuilds, repairs) across processes."""
    from filelock import FileLock, Timeout

    index_dir = Path(index_dir)
    lock = FileLock(str(index_dir / "write.lock"), thread_local=False)
    try:
        index_dir.mkdir(parents=True, exist_ok=True)
        lock.acquire(timeout=0)
    except Timeout:  # before OSError: filelock's Timeout is a TimeoutError
        if not wait:
            raise IndexBusyError(
                f"another ingest is writing to {index_dir}; try again when it has finished, "
                "or run without --no-wait to wait for it"
            ) from None
        if on_wait:
            on_wait("another ingest is running, waiting…")
        lock.acquire()
    except OSError as e:  # a full disk or a read-only folder: said plainly, before anything is written
        raise storage_failure(e, index_dir) or e from None
    try:
        yield
    finally:
        lock.release()
