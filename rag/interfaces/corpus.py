"""The Corpus tab's handlers: uploads and pages by URL (with progress and stop), the article table, repair."""

from __future__ import annotations

import threading
from pathlib import Path

import gradio as gr  # noqa: E402

from rag.errors import IndexMissingError, IndexProblem, IngestFileError, UploadRefused
from rag.ingest.uploads import UploadStore, received  # noqa: E402
from rag.interfaces.background import Job, pretranslate
from rag.text.escape import md_escape  # noqa: E402


class CorpusHandlers:
    """Handlers for adding and listing articles, as methods of `IsnadApp` (which mixes this in)."""

    def corpus_rows(self) -> list[list]:
        try:
            stats = self.isnad.stats()
        except (
            IndexProblem
        ):  # missing or damaged: the banner above the tabs says which, and offers the repair
            return []
        return [
            [
                d["title"] or "(untitled)",
                d["outlet"] or "unknown",
                d["date"] or "unknown",
                d["chunks"],
                Path(d["source"]).name,
                d["arrival"],
            ]
            for d in stats["per_document"]
        ]

    def index_problem(self) -> str:
        """A damaged index is a banner with a repair button, never a crash at start-up ("" when sound)."""
        try:
            _ = self.isnad.index
        except IndexMissingError:
            return ""
        except IndexProblem as e:
            return f"⚠ **The index needs repair.** {md_escape(str(e))}"
        return ""

    def repair(self):
        try:
            notes = self.isnad.doctor()
        except IndexProblem as e:
            return f"⚠ {md_escape(str(e))}", gr.update(visible=True), self.corpus_rows(), gr.update()
        return (
            md_escape(" ".join(notes)),
            gr.update(visible=False),
            self.corpus_rows(),
            gr.update(choices=self.article_choices()),
        )

    def upload(self, files: list[str] | None, replace: bool = False):
        """Add files one by one, streaming "chunks embedded / total"; bad files never stop the rest.

        A file is checked before it is copied, a taken name gets a suffix unless ``replace``,
        and a failed or stopped upload puts everything back as it was (see rag.ingest.uploads).
        """
        files = files or []
        if not files:
            yield "Choose .txt, .md or .html files first.", self.corpus_rows(), gr.update()
            return
        store = UploadStore(self.settings.uploads_dir)
        yield from self._adding(files, lambda f: self._kept_upload(store, f, replace), store)

    def add_url(self, url: str | None):
        """Fetch a web page (public addresses only, redirects re-checked: rag.ingest.web) and index it."""
        url = (url or "").strip()
        if not url:
            yield "Type the address of a web page first (https://…).", self.corpus_rows(), gr.update()
            return
        yield from self._adding([url], lambda u: (u, None, {"via": "url"}), None)

    def _kept_upload(self, store: UploadStore, f: str, replace: bool):
        """(what to index, the kept upload, origin) for one uploaded file; raises before anything is stored."""
        name = Path(str(f)).name
        kept = store.keep(received(f, self.upload_root), name, replace)
        return kept.path, kept, {"via": "upload", "name": name}

    def _adding(self, items: list[str], prepare, store: UploadStore | None):
        """Index items one by one, streaming "chunks embedded / total"; bad items never stop the rest.

        A file is checked before it is copied, a taken name gets a suffix unless asked to replace,
        and a failed or stopped addition puts everything back as it was (see rag.ingest.uploads).
        """
        lines: list[str] = []
        indexed = False  # anything added: the background pass translates it
        self._cancel = threading.Event()
        with self._ingest_lock:
            for item in items:
                shown = md_escape(Path(item).name if store else item)
                try:
                    source, kept, origin = prepare(item)
                except UploadRefused as e:
                    lines.append(f"- ✗ {md_escape(str(e))} (nothing was read or changed)")
                    yield "\n".join(lines), gr.update(), gr.update()
                    continue
                except (IngestFileError, OSError) as e:
                    lines.append(f"- ✗ {shown}: {md_escape(str(e))} (nothing was changed)")
                    yield "\n".join(lines), gr.update(), gr.update()
                    continue
                job = Job(
                    lambda p, s=source, o=origin: self.isnad.ingest(
                        [s], on_progress=p, cancel=self._cancel, origin=o
                    )
                )
                while job.running():
                    yield "\n".join(lines + [f"- … {shown}: {job.status()}"]), gr.update(), gr.update()
                if job.error is not None or job.result.errors:
                    if kept is not None:
                        store.rollback(kept)
                    why = (
                        str(job.error)
                        if job.error is not None
                        else "; ".join(e.reason for e in job.result.errors)
                    )
                    lines.append(f"- ✗ {shown}: {md_escape(why)} (nothing was changed)")
                    continue
                if kept is not None:
                    store.commit(kept)
                indexed = True
                r = job.result.report
                what = "added" if r.added else ("replaced" if r.replaced else "already indexed (same text)")
                renamed = kept is not None and kept.renamed
                as_name = (
                    f" as {md_escape(kept.path.name)} (that name held a different article)" if renamed else ""
                )
                lines.append(
                    f"- ✓ {shown}: {what}{as_name}, {r.n_chunks} chunk{'' if r.n_chunks == 1 else 's'}"
                )
        if self.isnad.generator is not None and indexed and self.settings.pretranslate:
            threading.Thread(target=pretranslate, args=(self.isnad,), name="isnad-pretranslate").start()
        yield "\n".join(lines), self.corpus_rows(), gr.update(choices=self.article_choices())

    def stop_upload(self) -> None:
        """Stop the running upload between two batches; the index stays as it was."""
        if self._cancel is not None:
            self._cancel.set()
