"""Where files added in the app are kept, without ever losing one.

A file is checked (size, encoding, article text) before anything is copied; a different
article under a name already in use gets a new name (``page-2.html``) unless the user asked
to replace; a replaced copy is held aside until the new one is indexed, and put back if
indexing fails. Nothing that was there before an upload is gone after a failed one.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from rag.ingest import check_size, parse_document, read_text


@dataclass
class Kept:
    path: Path  # where the upload now lives (the source the index records)
    renamed: bool = False  # its name was taken by a different article
    backup: Path | None = None  # the replaced copy, until `commit` or `rollback`
    created: bool = True  # this upload made the file (rollback removes it)


class UploadStore:
    def __init__(self, folder: Path):
        self.folder = Path(folder)

    def keep(self, src: Path, name: str, replace: bool = False) -> Kept:
        """Validate ``src`` and copy it in as ``name``; raises IngestFileError/OSError and changes nothing."""
        src = Path(src)
        check_size(src.stat().st_size)  # before any copy
        parse_document(read_text(src)[0], name)  # readable, with article text left
        self.folder.mkdir(parents=True, exist_ok=True)
        name = Path(name).name or "upload.txt"  # never a path from the client
        target = self.folder / name
        kept = Kept(target)
        if target.exists():
            if target.read_bytes() == src.read_bytes():
                return Kept(target, created=False)  # the same file again: the index reports it unchanged
            if replace:
                kept.backup = target.with_name(f".{target.name}.replaced")
                os.replace(target, kept.backup)
            else:
                kept.path, kept.renamed = self._free_name(target), True
        tmp = kept.path.with_name(f".{kept.path.name}.part")
        shutil.copyfile(src, tmp)
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
