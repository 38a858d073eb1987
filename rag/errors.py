"""Every error Isnad raises on purpose, in one place: each message says what went wrong and the fix."""

from __future__ import annotations

from pathlib import Path


class QuestionError(ValueError):
    """The question cannot be asked as given; the message says why."""


class GeneratorUnavailable(RuntimeError):
    """The endpoint cannot be reached, timed out or failed; callers fall back to extractive."""


class EndpointRefused(ValueError):
    """An endpoint typed by a user that this server will not call; the message says why."""


class IngestFileError(ValueError):
    pass


class FetchError(IngestFileError):
    """A page that could not be fetched or holds no article; the message says which and why."""


class AddressRefused(FetchError):
    """A URL whose scheme or address the server will not fetch on a user's behalf."""


class UploadRefused(IngestFileError):
    """A file reference that did not arrive as an upload: refused, never read."""

    def __init__(self) -> None:
        super().__init__("refused: this is not a file uploaded through the app")


class BriefingError(ValueError):
    """The briefing cannot be made as asked; the message says why."""


class StoreError(RuntimeError):
    """A store problem; the message names the fix."""


class StoreMissingError(StoreError):
    """Nothing has been indexed in this store yet."""


class ServerUnavailable(RuntimeError):
    """PostgreSQL could not be started; the message says why and how to fix it."""


class IndexProblem(RuntimeError):
    """Base for index problems; the message always names the fix."""


class IndexMissingError(IndexProblem):
    pass


class IndexCorruptError(IndexProblem):
    pass


class IndexStaleError(IndexProblem):
    pass


class IndexUnwritable(IndexProblem):
    """The index's disk is full or read-only: the change was not saved, and what was there is intact."""


def storage_failure(e: BaseException, where: Path | str) -> IndexProblem | None:
    """A database or file error in plain words (None when ``e`` is neither): a full disk and a read-only
    folder say so, a damaged database names the repair; what was stored before is never touched."""
    import errno
    import sqlite3

    text = str(e).lower()
    if isinstance(e, OSError) and e.errno == errno.ENOSPC or "database or disk is full" in text:
        return IndexUnwritable(
            f"no space left on the disk that holds the index ({where}): free some space and try again "
            "(this change was not saved; what the index held is unchanged)"
        )
    if isinstance(e, OSError) and e.errno in (errno.EROFS, errno.EACCES, errno.EPERM) or "readonly" in text:
        return IndexUnwritable(
            f"the index ({where}) is read-only here: it can be searched, not changed "
            "(this change was not saved)"
        )
    if isinstance(e, sqlite3.OperationalError) and ("locked" in text or "busy" in text):
        return IndexBusyError(f"the index ({where}) is busy with another writer; try again in a moment")
    if isinstance(e, sqlite3.DatabaseError):
        return IndexCorruptError(
            f"the index ({where}) is damaged ({str(e).splitlines()[0]}); `isnad doctor` salvages what "
            "is still readable"
        )
    return None


class IndexBusyError(IndexProblem):
    """Another writer holds the index's lock (only raised when told not to wait)."""


class IngestCancelled(IndexProblem):
    """The user stopped an ingest; nothing was written."""


class ModelIntegrityError(RuntimeError):
    """A provisioned file does not match its published hash: never load it."""


class ProvisionError(RuntimeError):
    pass


class DocumentNotFound(IngestFileError):
    """A reference to an article that names none (or several) of the indexed ones."""


class QuestionSetError(ValueError):
    """A question set that cannot be read: the file, the line (or row) and what is wrong with it."""
