"""Where files added in the app are kept, without ever losing one.

A file is checked (size, encoding, article text) before anything is copied; a different
article under a name already in use gets a new name (``page-2.html``) unless the user asked
to replace; a replaced copy is held aside until the new one is indexed, and put back if
indexing fails. Nothing that was there before an upload is gone after a failed one.

A file reference from the web client is trusted only when it names a regular file inside the web
server's own upload folder (the folder Gradio writes request bodies to), after every link is
resolved; anything else (a server path, a link out of the folder, a name with ``..``) is refused
and logged, and the client is told only that the reference was not an upload.
"""

from __future__ import annotations

import logging
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from rag.errors import IngestFileError, UploadRefused
from rag.ingest.files import MAX_FILE_BYTES, check_size, check_suffix, megabytes, parse_document, text_of

log = logging.getLogger("isnad.uploads")


def received(reference: str | Path, upload_root: str | Path) -> bytes:
    """The bytes of a file the web server received, read once; UploadRefused for any other path.

    The reference must resolve (links followed) to a regular file strictly inside ``upload_root``,
    and must not itself be a link; it is opened without following links and checked again on the
    open descriptor, so a swap between the check and the read changes nothing.
    """
    root = os.path.realpath(upload_root)
    path = os.path.abspath(str(reference))
    real = os.path.realpath(path)
    inside = os.path.commonpath([root, real]) == root and real != root
    if not inside or os.path.islink(path):
        log.warning("refused an upload reference outside the upload folder: %r", str(reference))
        raise UploadRefused()
    try:
        fd = os.open(real, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError:
        log.warning("refused an upload reference that cannot be opened safely: %r", str(reference))
        raise UploadRefused() from None
    with os.fdopen(fd, "rb") as f:
        info = os.fstat(f.fileno())
        if not stat.S_ISREG(info.st_mode):
            log.warning("refused an upload reference that is not a regular file: %r", str(reference))
            raise UploadRefused()
        check_size(info.st_size)
        data = f.read(MAX_FILE_BYTES + 1)
    if len(data) > MAX_FILE_BYTES:
        raise IngestFileError(f"the file is larger than the limit of {megabytes(MAX_FILE_BYTES)}")
    return data


@dataclass
class Kept:
    path: Path  # where the upload now lives (the source the index records)
    renamed: bool = False  # its name was taken by a different article
    backup: Path | None = None  # the replaced copy, until `commit` or `rollback`
    created: bool = True  # this upload made the file (rollback removes it)


class UploadStore:
    def __init__(self, folder: Path):
        self.folder = Path(folder)

    def keep(self, data: bytes, name: str, replace: bool = False) -> Kept:
        """Validate ``data`` and store it as ``name``; raises IngestFileError/OSError and changes nothing."""
        name = Path(name.replace("\\", "/")).name  # never a path from the client
        if name in ("", ".", "..") or name.startswith("."):
            raise IngestFileError("the file has no usable name")
        check_suffix(name)
        parse_document(text_of(data, name)[0], name)  # readable, with article text left
        self.folder.mkdir(parents=True, exist_ok=True)
        target = self.folder / name
        kept = Kept(target)
        if target.exists():
            if target.read_bytes() == data:
                return Kept(target, created=False)  # the same file again: the index reports it unchanged
            if replace:
                kept.backup = target.with_name(f".{target.name}.replaced")
                os.replace(target, kept.backup)
            else:
                kept.path, kept.renamed = self._free_name(target), True
        tmp = kept.path.with_name(f".{kept.path.name}.part")
        tmp.write_bytes(data)
        os.replace(tmp, kept.path)
        return kept

    def commit(self, kept: Kept) -> None:
        if kept.backup:
            kept.backup.unlink(missing_ok=True)

    def rollback(self, kept: Kept) -> None:
        """Undo `keep`: the new copy goes, a replaced one comes back."""
        if kept.backup:
            os.replace(kept.backup, kept.path)
        elif kept.created:
            kept.path.unlink(missing_ok=True)

    def _free_name(self, target: Path) -> Path:
        n = 2
        while (candidate := target.with_name(f"{target.stem}-{n}{target.suffix}")).exists():
            n += 1
        return candidate
