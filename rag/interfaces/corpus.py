"""The Corpus tab's handlers: uploads and pages by URL (with progress and stop), the article table, repair."""

from __future__ import annotations

import threading
from pathlib import Path

import gradio as gr

from rag.errors import IndexMissingError, IndexProblem, IngestFileError, UploadRefused
from rag.ingest.uploads import UploadStore, received
from rag.interfaces.background import Job, pretranslate
from rag.text.escape import md_escape

CORPUS_ROW = ("title", "outlet", "date", "chunks", "file", "added")  # the table's columns, in order


class CorpusHandlers:
    """Handlers for adding and listing articles, as methods of `IsnadApp` (which mixes this in)."""

    def corpus_rows(self) -> list[list]:
        try:
            stats = self.isnad.stats()
        # missing or damaged: the banner above the tabs says which, and offers the repair
        except IndexProblem:
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

    def pick_row(self, picked: list[str] | None, event: gr.SelectData):
        """A click on a row of the article table adds that article to the ones chosen for removal."""
        try:
            rows = self.isnad.stats()["per_document"]
        except IndexProblem:
            return gr.update()
        picked = list(picked or [])
        values = list(getattr(event, "row_value", None) or [])
        if len(values) == len(CORPUS_ROW):  # the row as shown (the table may be sorted): file and arrival
            found = [r["doc_id"] for r in rows if [Path(r["source"]).name, r["arrival"]] == values[4:6]]
        else:
            row = event.index[0] if isinstance(event.index, list | tuple) else event.index
            found = [rows[row]["doc_id"]] if isinstance(row, int) and 0 <= row < len(rows) else []
        picked += [doc_id for doc_id in found[:1] if doc_id not in picked]
        return gr.update(choices=self.article_choices(), value=picked)

    def ask_delete(self, picked: list[str] | None):
        """The first click: say what will go and where Isnad's copies go, and ask to confirm."""
        docs = self.docs()
        chosen = [docs[i] for i in picked or [] if i in docs]
        if not chosen:
            return "Choose the articles to remove first (or click their rows in the table).", gr.update(
                visible=False
            )
        names = "; ".join(f"{d.title or '(untitled)'} ({Path(d.source).name})" for d in chosen[:10])
        more = f" and {len(chosen) - 10} more" if len(chosen) > 10 else ""
        return (
            f"Remove {len(chosen)} article(s) from the index: {md_escape(names)}{more}? Uploaded files and "
            "fetched pages go to the trash folder; files added from the command line stay where they are.",
            gr.update(visible=True),
        )

    def delete(self, picked: list[str] | None):
        """The confirmed removal, under the same lock as uploads (one writer at a time)."""
        if not picked:
            return (
                "Nothing was chosen; nothing was removed.",
                gr.update(visible=False),
                gr.update(),
                gr.update(),
                gr.update(),
            )
        with self._ingest_lock:
            try:
                report = self.isnad.delete(list(picked), wait=True)
            except (IngestFileError, IndexProblem, OSError) as e:
                message = f"✗ {md_escape(str(e))}"
            else:
                lines = [f"- ✓ removed {md_escape(Path(s).name)}" for s in report.removed]
                lines += [f"- kept in the trash: {md_escape(Path(f).name)}" for f in report.trashed]
                message = "\n".join(lines) or "Nothing was removed."
        choices = self.article_choices()
        return (
            message,
            gr.update(visible=False),
            self.corpus_rows(),
            gr.update(choices=choices, value=[]),
            gr.update(choices=choices, value=None),
        )

    def feed_rows(self) -> list[list]:
        from rag.ingest.feeds import FeedList

        try:
            feeds = FeedList.load(self.settings.index_dir).feeds
        except IngestFileError:
            return []
        return [
            [
                f.title or "(not read yet)",
                f.url,
                f.items_added,
                f.ok[:16].replace("T", " ") or "never",
                f"failing: {f.error}" if f.error else "ok",
            ]
            for f in feeds
        ]

    def follow_feed(self, url: str | None):
        """Follow an RSS or Atom feed; its items come in with "Check feeds now" (or `isnad watch`)."""
        try:
            self.isnad.follow((url or "").strip())
        except IngestFileError as e:
            return f"✗ {md_escape(str(e))}", self.feed_rows(), url
        return (
            f'Following {md_escape(url.strip())}. "Check feeds now" adds its articles.',
            self.feed_rows(),
            "",
        )

    def check_feeds(self):
        """Update every followed feed now, under the same lock as uploads (one writer at a time)."""
        with self._ingest_lock:
            try:
                r = self.isnad.update_feeds(every_feed=True)
            except (IndexProblem, IngestFileError, OSError) as e:
                message = f"✗ {md_escape(str(e))}"
            else:
                lines = [f"- ✓ added {md_escape(Path(s).name)}" for s in r.added]
                lines += [
                    f"- already in the corpus: {md_escape(u)} ({md_escape(o)}) tells the same story; kept once"
                    for u, _, o in r.duplicates
                ]
                lines += [f"- ✗ feed {md_escape(u)}: {md_escape(w)} (tried again later)" for u, w in r.failed]
                lines += [f"- ✗ {md_escape(u)}: {md_escape(w)}" for u, w in r.item_errors]
                lines.append(f"\n{len(r.checked)} feed(s) read, {len(r.added)} article(s) added.")
                message = "\n".join(lines)
        choices = self.article_choices()
        return (
            message,
            self.feed_rows(),
            self.corpus_rows(),
            gr.update(choices=choices),
            gr.update(choices=choices),
        )

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
            yield "Choose .txt, .md, .html, .pdf or .docx files first.", self.corpus_rows(), gr.update()
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
