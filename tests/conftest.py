"""Shared fixtures: the real model and a real index of the seed articles, built once."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # an unreachable hub costs 76 s per try
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
# Tests run the model at its reference precision, so results do not depend on whether this CPU
# computes bfloat16 natively ("auto" picks bf16 there). On a bf16 CPU the topic briefing's medium
# timeline drops one seed event at the cut-off; that is a ranking margin, not what a test should vary on.
os.environ.setdefault("ISNAD_EMBEDDING_DTYPE", "float32")

from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
SEEDS = ROOT / "seeds"


@pytest.fixture(scope="session")
def seeds_dir() -> Path:
    return SEEDS


@pytest.fixture(scope="session")
def settings(tmp_path_factory):
    from rag.config import Settings

    return Settings(index_dir=tmp_path_factory.mktemp("index"))


@pytest.fixture(scope="session")
def embedder(settings):
    from rag.models.embedder import load_embedder

    return load_embedder(settings)


@pytest.fixture(scope="session")
def isnad(settings, embedder):
    """The real pipeline over the real seeds: real model, real files."""
    from rag.pipeline import Isnad

    app = Isnad(settings)
    summary = app.ingest([SEEDS])
    assert len(summary.report.added) == 5 and not summary.errors
    return app


@pytest.fixture(scope="session")
def folders_isnad(settings, embedder, tmp_path_factory):
    """The same seeds in the generation-folder index (ISNAD_STORE=folders): the reference stores are checked against."""
    from rag.pipeline import Isnad

    app = Isnad(
        settings.model_copy(update={"store": "folders", "index_dir": tmp_path_factory.mktemp("folders")})
    )
    assert len(app.ingest([SEEDS]).report.added) == 5
    return app


def source_names(settings) -> list[str]:
    """The file names of the documents an index holds, read by a fresh reader ([] when there is no index)."""
    from rag.errors import IndexMissingError
    from rag.pipeline import Isnad

    try:
        return sorted(Path(d.source).name for d in Isnad(settings).searcher.documents().values())
    except IndexMissingError:
        return []


class FakeEmbedder:
    """Deterministic bag-of-characters vectors: for index logic tests only, never quality."""

    def __init__(self, model_id: str = "fake", dim: int = 32, max_tokens: int = 64):
        self.model_id, self.dim, self.max_tokens = model_id, dim, max_tokens

    def count_tokens(self, texts):
        return [len(t.split()) for t in texts]

    def _vec(self, text: str) -> np.ndarray:
        v = np.zeros(self.dim, np.float32)
        for ch in text:
            v[ord(ch) % self.dim] += 1
        return v / (np.linalg.norm(v) or 1)

    def embed_documents(self, texts, titles=None):
        return np.array([self._vec(t) for t in texts], np.float32).reshape(len(texts), self.dim)

    def embed_queries(self, texts):
        return self.embed_documents(texts)


@pytest.fixture
def fake_embedder():
    return FakeEmbedder()


@pytest.fixture(scope="session")
def web_server():
    """A real HTTP server on 127.0.0.1 serving the shared web fixtures and hostile responses (tests/webserver.py)."""
    from tests.webserver import WebServer

    server = WebServer()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def app_server(isnad, settings, tmp_path_factory, web_server):
    """The real app on loopback over a copy of the seed index (uploads must not touch the shared one).
    Its operator allows URL ingestion from the test web server's host and port, and from nothing else local."""
    import shutil

    from rag.interfaces import app as isnad_app
    from rag.models.llm import free_port

    root = tmp_path_factory.mktemp("app")
    shutil.copytree(settings.index_dir, root / "index")
    app_settings = settings.model_copy(
        update={
            "index_dir": root / "index",
            "uploads_dir": root / "uploads",
            "port": free_port(),
            "host": "127.0.0.1",
            "pages_dir": root / "pages",
            "fetch_allow": f"127.0.0.1:{web_server.port}",
        }
    )
    demo = isnad_app.launch(app_settings, wait=False)
    yield f"http://127.0.0.1:{app_settings.port}/", app_settings
    demo.close()


@pytest.fixture(scope="session")
def app_url(app_server) -> str:
    return app_server[0]


@pytest.fixture(scope="session")
def postgres():
    """A real PostgreSQL with pgvector on 127.0.0.1 for the session (scripts/test.sh installs it).
    If it cannot start, the PostgreSQL tests fail and say why: they never pass silently."""
    from rag.store import pgserver

    server = pgserver.start()
    yield server
    server.stop()


def fresh_database(server) -> str:
    """A new, empty database on the session's PostgreSQL, for one test."""
    import uuid

    import psycopg

    name = "t_" + uuid.uuid4().hex[:12]
    with psycopg.connect(server.url, autocommit=True) as c:
        c.execute(f"CREATE DATABASE {name}")
    return server.url.rsplit("/", 1)[0] + "/" + name


# Markers follow from what a test needs, so `scripts/test.sh --fast` can leave out everything slow.
MODEL_FIXTURES = {"embedder", "isnad", "folders_isnad", "app_server", "app_url"}
NEEDS = {"model": MODEL_FIXTURES, "postgres": {"postgres"}, "browser": {"browser", "page"}}


def pytest_collection_modifyitems(config, items):
    for item in items:
        names = set(getattr(item, "fixturenames", ()))
        params = set(map(str, getattr(getattr(item, "callspec", None), "params", {}).values()))
        for marker, fixtures in NEEDS.items():
            if names & fixtures:
                item.add_marker(marker)
        if "postgresql" in params:
            item.add_marker("postgres")
        if item.get_closest_marker("browser") or item.get_closest_marker("llm"):
            item.add_marker("model")
