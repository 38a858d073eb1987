"""One writer at a time, and recovery that never deletes good data: real processes, real model, real files."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rag.config import Settings
from rag.ingest.files import ingest_paths
from rag.pipeline import Isnad
from rag.store.folders import SearchIndex
from rag.store.lock import writer_lock
from tests.conftest import source_names

pytestmark = pytest.mark.model  # CLI ingests in other processes load the embedding model

ROOT = Path(__file__).resolve().parents[1]


def articles(seeds_dir: Path, folder: Path, n: int) -> list[Path]:
    """``n`` distinct small articles cut from the seed articles' paragraphs."""
    paras = [d.text[a:b] for d in ingest_paths([seeds_dir]).documents for a, b in d.paragraphs if b - a > 120]
    assert len(paras) >= 2 * n
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for i in range(n):
        p = folder / f"article_{i:02d}.txt"
        p.write_text(f"تقرير رقم {i + 1}\n\n{paras[2 * i]}\n\n{paras[2 * i + 1]}\n", encoding="utf-8")
        out.append(p)
    return out


def _env(index_dir: Path) -> dict:
    return {**os.environ, "ISNAD_INDEX_DIR": str(index_dir), "PYTHONPATH": str(ROOT)}


_INGEST_ONE_BY_ONE = """
import sys
from rag.pipeline import Isnad
from tests.conftest import source_names
app = Isnad()
for path in sys.argv[1:]:
    app.ingest([path])
"""


def test_two_cli_ingests_at_once_keep_both_sets(tmp_path, seeds_dir):
    files = articles(seeds_dir, tmp_path / "in", 4)
    index_dir = tmp_path / "index"
    cmd = [sys.executable, "-m", "rag", "ingest"]
    procs = [
        subprocess.Popen(
            cmd + [str(f) for f in part],
            env=_env(index_dir),
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for part in (files[:2], files[2:])
    ]
    outs = [p.communicate(timeout=600) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    assert all("added 2" in out for out, _ in outs)
    assert source_names(Settings(index_dir=index_dir)) == [f.name for f in files]


def test_twenty_interleaved_ingests_from_two_processes_all_land(tmp_path, seeds_dir):
    files = articles(seeds_dir, tmp_path / "in", 20)
    index_dir = tmp_path / "index"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _INGEST_ONE_BY_ONE, *map(str, part)],
            env=_env(index_dir),
            cwd=tmp_path,
            stderr=subprocess.PIPE,
            text=True,
        )
        for part in (files[0::2], files[1::2])
    ]
    errs = [p.communicate(timeout=900)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], errs
    assert source_names(Settings(index_dir=index_dir)) == [f.name for f in files]  # 20 of 20, every time


def test_a_second_writer_waits_or_fails_clearly(tmp_path, seeds_dir):
    f = articles(seeds_dir, tmp_path / "in", 1)[0]
    index_dir = tmp_path / "index"
    cmd = [sys.executable, "-m", "rag", "ingest", str(f)]
    log = tmp_path / "waiting.err"
    with writer_lock(index_dir):
        busy = subprocess.run(
            cmd + ["--no-wait"],
            env=_env(index_dir),
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=600,
        )
        with open(log, "w") as err:
            waiting = subprocess.Popen(
                cmd, env=_env(index_dir), cwd=tmp_path, stdout=subprocess.PIPE, stderr=err, text=True
            )
        deadline = time.monotonic() + 300
        while "waiting" not in log.read_text() and waiting.poll() is None and time.monotonic() < deadline:
            time.sleep(0.5)
        # it waits; nothing written
        assert waiting.poll() is None and not source_names(Settings(index_dir=index_dir))
    out, _ = waiting.communicate(timeout=600)
    assert busy.returncode == 1 and "another ingest is writing" in busy.stderr
    assert (
        waiting.returncode == 0
        and "another ingest is running, waiting" in log.read_text()
        and "added 1" in out
    )


# ------------------------------------------------------------------ recovery (real pipeline, in process)


@pytest.fixture
def three_generations(tmp_path, seeds_dir, settings, embedder):
    files = articles(seeds_dir, tmp_path / "in", 4)
    app = Isnad(settings.model_copy(update={"index_dir": tmp_path / "index", "store": "folders"}))
    for f in files[:3]:
        app.ingest([f])  # gen-000001 .. gen-000003; the last two are kept
    return app, files


def test_current_at_a_missing_generation_rebuild_keeps_every_known_document(three_generations):
    app, files = three_generations
    folder = app.settings.index_dir
    shutil.rmtree(folder / "gen-000003")
    summary = Isnad(app.settings).ingest([files[3]], rebuild=True)
    assert "gen-000002" in summary.notes[0] and "Nothing was deleted" in summary.notes[0]
    names = sorted(Path(d.source).name for d in SearchIndex.load(folder).docs.values())
    assert names == [files[0].name, files[1].name, files[3].name]  # what gen-000002 knew, plus the new file


def test_deleted_current_is_repaired_by_the_next_ingest(three_generations):
    app, files = three_generations
    folder = app.settings.index_dir
    (folder / "CURRENT").unlink()
    summary = Isnad(app.settings).ingest([files[3]])  # used to fail with "[Errno 39] Directory not empty"
    assert "gen-000003" in summary.notes[0]
    assert len(SearchIndex.load(folder).docs) == 4


def test_doctor_repairs_and_says_what_it_did(three_generations):
    app, _ = three_generations
    folder = app.settings.index_dir
    (folder / "gen-000003" / "vectors.npy").write_bytes(b"damaged")
    result = subprocess.run(
        [sys.executable, "-m", "rag", "doctor"],
        env={**_env(folder), "ISNAD_STORE": "folders"},
        cwd=folder.parent,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    assert (
        "now points at gen-000002" in result.stdout and "index OK: gen-000002, 2 documents" in result.stdout
    )
    assert (folder / "gen-000003").is_dir()  # kept for inspection: nothing deleted


def test_rebuild_with_no_intact_generation_re_embeds_the_recovered_documents(three_generations):
    app, files = three_generations
    folder = app.settings.index_dir
    for gen in folder.glob("gen-*"):
        (gen / "dense.faiss").write_bytes(b"damaged")
    summary = Isnad(app.settings).ingest([files[3]], rebuild=True)
    assert "recovered from gen-000003" in summary.notes[0]
    assert len(SearchIndex.load(folder).docs) == 4


def test_the_app_starts_on_a_damaged_index_and_repairs_it(three_generations):
    from rag.interfaces.app import IsnadApp

    app, _ = three_generations
    folder = app.settings.index_dir
    (folder / "gen-000003" / "chunks.jsonl").write_text("damaged", encoding="utf-8")
    ui = IsnadApp(Isnad(app.settings))
    ui.build()  # used to raise at start-up
    assert "needs repair" in ui.index_problem() and ui.corpus_rows() == []
    message, button, rows, _ = ui.repair()
    assert "now points at gen-000002" in message.replace("\\", "") and button["visible"] is False
    assert len(rows) == 2 and ui.index_problem() == ""
