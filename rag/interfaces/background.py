"""Work the app does besides answering: ingest jobs that report progress and stop on request,
warm-up, pre-translation paused while readers are served, and briefing download files."""

from __future__ import annotations

import atexit
import contextlib
import functools
import os
import queue
import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

from rag.errors import BriefingError, GeneratorUnavailable, IndexProblem
from rag.pipeline import Isnad  # noqa: E402


class Readers:
    """Readers' requests in flight. Background work runs only between them: it waits for none to be running."""

    def __init__(self) -> None:
        self._n = 0
        self._idle = threading.Condition()

    @contextlib.contextmanager
    def serving(self):
        with self._idle:
            self._n += 1
        try:
            yield
        finally:
            with self._idle:
                self._n -= 1
                self._idle.notify_all()

    def wait_idle(self) -> None:
        with self._idle:
            self._idle.wait_for(lambda: self._n == 0)


READERS = Readers()


def for_readers(handler):
    """A streaming handler counted as a reader's request while it runs (background work pauses meanwhile)."""

    @functools.wraps(handler)
    def serving(*args, **kwargs):
        with READERS.serving():
            yield from handler(*args, **kwargs)

    return serving


class Stopped(Exception):
    """The user pressed Stop: a worker ends at its next progress report."""


class Job:
    """Work on a worker thread, so the handler can stream its progress and a Stop button can end it."""

    def __init__(self, work, unit: str = "chunks"):
        self.done, self.total, self.unit = 0, 0, unit
        self.result, self.error = None, None
        self._stop = threading.Event()
        self._t0 = time.monotonic()
        self._thread = threading.Thread(target=self._run, args=(work,), daemon=True)
        self._thread.start()

    def _run(self, work) -> None:
        try:
            self.result = work(self._progress)
        except Exception as e:  # noqa: BLE001 (reported in the upload's line, never a traceback)
            self.error = e

    def _progress(self, done: int, total: int) -> None:
        if self._stop.is_set():
            raise Stopped("stopped")
        self.done, self.total = done, total

    def cancel(self) -> None:
        self._stop.set()

    def running(self, poll: float = 0.5) -> bool:
        self._thread.join(poll)
        return self._thread.is_alive()

    def status(self) -> str:
        if not self.unit:
            return f"{time.monotonic() - self._t0:.0f} s so far"
        if not self.total:
            return "reading and chunking…" if self.unit == "chunks" else "starting…"
        verb = "embedding " if self.unit == "chunks" else ""
        return f"{verb}{self.done} / {self.total} {self.unit} ({100 * self.done / self.total:.0f}%)"


def ticking(items: Iterator, every: float = 1.0) -> Iterator:
    """``items`` from a worker thread, with ``None`` each ``every`` seconds of waiting (to update a clock)."""
    q: queue.Queue = queue.Queue()
    end = object()

    def run() -> None:
        try:
            for item in items:
                q.put(item)
        except Exception as e:  # noqa: BLE001 (re-raised in the handler)
            q.put(e)
        q.put(end)

    threading.Thread(target=run, daemon=True).start()
    while True:
        try:
            item = q.get(timeout=every)
        except queue.Empty:
            yield None
            continue
        if item is end:
            return
        if isinstance(item, Exception):
            raise item
        yield item


def warm(isnad: Isnad) -> None:
    """Load the model, the index and the briefing's sentence vectors before the first click."""
    try:
        isnad.extractive()
        isnad.briefer().brief(lang="ar", length="short", translate=False)
        _ = isnad.generator  # starts the local server loading, if configured
    except (IndexProblem, BriefingError, ValueError):
        pass


def _background_priority() -> None:
    """The calling thread at the lowest CPU priority (Linux threads have their own nice value)."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)
    except (AttributeError, OSError):
        pass


def pretranslate(isnad: Isnad, readers: Readers = READERS) -> None:
    """With a generator configured, translate the corpus's sentences into the index's cache while the app
    runs, so briefings and answers show English at once. It runs at the lowest priority, waits while any
    reader's request runs, and stops between sentences once the app has exited."""
    _background_priority()
    with _PRETRANSLATING:  # one pass at a time; a pass after an upload finds the rest cached
        try:
            if isnad.generator is None:
                return
            readers.wait_idle()
            for _ in isnad.translate_corpus(pause=readers.wait_idle):
                if not threading.main_thread().is_alive():
                    return
                readers.wait_idle()  # a reader's question or briefing goes first
        except (IndexProblem, GeneratorUnavailable, ValueError):
            return  # answers and briefings translate on demand and say why they cannot


_PRETRANSLATING = threading.Lock()


KEEP_DOWNLOADS = 20


@functools.lru_cache(maxsize=1)
def downloads_folder() -> Path:
    folder = Path(tempfile.mkdtemp(prefix="isnad-briefings-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return folder


def new_download_folder() -> Path:
    """A fresh folder for files the app offers (briefings, reports); only the newest KEEP_DOWNLOADS stay
    (the web server has its own copy once a file is sent) and all go when the app exits."""
    folder = downloads_folder() / uuid.uuid4().hex[:12]
    folder.mkdir(parents=True)
    for stale in sorted(downloads_folder().iterdir(), key=lambda p: p.stat().st_mtime)[:-KEEP_DOWNLOADS]:
        shutil.rmtree(stale, ignore_errors=True)
    return folder
