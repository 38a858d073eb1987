"""The one configuration object. Every field can be set as ISNAD_<NAME> in the environment."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_EMBEDDING_MODEL = "embeddinggemma-300m"


def _cache_home() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "isnad"


@dataclass(frozen=True)
class ChunkerSettings:
    max_tokens: int = 256
    overlap_sentences: int = 1

    def to_dict(self) -> dict:
        return asdict(self)


class Settings(BaseSettings):
    """Every setting Isnad reads; each is also the environment variable ISNAD_<NAME>.

    Descriptions say what a setting does; how the fitted thresholds were chosen, and what they
    measure, is in docs/evaluation.md. docs/configuration.md is generated from these descriptions.
    """

    model_config = SettingsConfigDict(env_prefix="ISNAD_", extra="ignore")

    # Index and models
    index_dir: Path = Field(Path("data/index"), description="folder of the index (and of the SQLite store)")
    cache_dir: Path = Field(default_factory=_cache_home, description="downloaded and verified models")
    embedding_model: str = Field(
        DEFAULT_EMBEDDING_MODEL,
        description=(
            "'embeddinggemma-300m' (provisioned offline from PyPI) or any sentence-transformers name or path"
        ),
    )
    query_prompt: str | None = Field(None, description="override the embedding model's query prompt")
    document_prompt: str | None = Field(None, description="override the document prompt; may use {title}")
    device: str = Field("cpu", description="torch device for the embedding model")
    embedding_dtype: str = Field(
        "auto",
        description="float32, bfloat16, or auto: bfloat16 where the CPU computes it natively, else float32",
    )
    batch_size: int = Field(8, description="texts per embedding batch")
    chunk_tokens: int = Field(
        256, description="chunk size in the embedding model's tokens (capped at its limit)"
    )
    chunk_overlap_sentences: int = Field(1, description="sentences shared by neighbouring chunks")

    # Retrieval
    store: str = Field(
        "sqlite",
        description=(
            "where chunks live: 'sqlite' (SQLite + FAISS in index_dir/store, no server), "
            "'postgresql://user@host:port/db' (PostgreSQL + pgvector), or 'folders' (generation folders "
            "in index_dir; each change rewrites the corpus)"
        ),
    )
    top_k: int = Field(5, description="results of a search")
    retrieval_mode: str = Field("hybrid", description="'hybrid' (dense and BM25 fused), 'dense' or 'bm25'")
    rrf_k: int = Field(60, description="the k of reciprocal rank fusion")
    bm25_weight: float = Field(
        0.5, description="weight of the BM25 list in hybrid fusion (the dense list has 1)"
    )
    candidates: int = Field(50, description="results each leg contributes to the fusion")

    # Answers
    max_question_chars: int = Field(2000, description="longest question accepted")
    answer_k: int = Field(8, description="chunks retrieved to find answer sentences")
    answer_max_sentences: int = Field(3, description="quoted sentences in an extractive answer")
    abstain_below: float = Field(
        0.45,
        description=(
            "support under which the answer is 'the articles do not say', question and evidence in one "
            "language (fitted: docs/evaluation.md)"
        ),
    )
    abstain_below_cross: float = Field(
        0.36, description="the same when question and evidence differ in language"
    )
    short_confidence: bool = Field(
        True,
        description=(
            "withhold a short answer whose confidence (rag/data/short_confidence.json) is under its "
            "fitted threshold; false shows every short answer"
        ),
    )
    answer_margin: float = Field(0.1, description="sentences this close to the best one may hold the answer")
    disagree_margin: float = Field(
        0.03, description="another article's value this close to the best is shown as a disagreement"
    )
    disagree_similarity: float = Field(0.75, description="two sentences this similar state the same fact")
    topic_floor: float = Field(
        0.397,
        description=(
            "a topic briefing needs a sentence this close to the topic, same language (fitted: "
            "docs/evaluation.md)"
        ),
    )
    topic_floor_cross: float = Field(0.343, description="the same across languages")
    names_file: Path | None = Field(
        None, description="your own names: TSV of kind, English|variants, Arabic|variants"
    )
    verify_min_similarity: float = Field(
        0.5, description="claim-to-cited-sentence similarity a generated sentence needs"
    )
    translation_min_similarity: float = Field(
        0.67,
        description=(
            "original-to-translation similarity under which a machine translation is withheld (fitted: "
            "docs/evaluation.md)"
        ),
    )
    max_document_chunks: int = Field(
        3000,
        ge=1,
        description=(
            "chunks one article may make; a longer file is refused with its size (a book or a dump is "
            "not an article: split it, or raise this)"
        ),
    )
    translation_drafts: int = Field(
        4,
        ge=1,
        le=8,
        description=(
            "drafts per sentence: one greedy and the rest sampled; the draft that agrees most with the "
            "others is shown, and only when they agree (1: one greedy draft, no agreement check)"
        ),
    )
    translation_temperature: float = Field(
        0.7, gt=0, le=2, description="sampling temperature of the extra drafts"
    )
    translation_min_agreement: float | None = Field(
        None,
        description=(
            "agreement (mean chrF++ of the shown draft with the other drafts, 0–1) under which a "
            "translation is withheld; unset: the floors fitted for the model that translates "
            "(rag/data/translation_floors.json, for the bundled one), none for a model not fitted there "
            "(fit yours with isnad eval translation --sentences)"
        ),
    )

    # Generators: 'none', 'local' (Qwen2.5 GGUF served in-process), 'remote' (any OpenAI-compatible
    # endpoint), or 'auto' (remote when ISNAD_LLM_BASE_URL is set, else none)
    generator: str = Field(
        "auto",
        description=(
            "'none', 'local' (the bundled Qwen2.5-Coder-1.5B on 127.0.0.1), 'remote' "
            "(ISNAD_LLM_BASE_URL), or 'auto' (remote when a URL is set, else none)"
        ),
    )
    llm_base_url: str | None = Field(
        None, description="an OpenAI-compatible endpoint (…/v1): OpenAI, vLLM, Ollama, llama.cpp"
    )
    llm_model: str | None = Field(None, description="the model name that endpoint serves")
    llm_api_key: SecretStr | None = Field(
        None,
        validation_alias=AliasChoices("OPENAI_API_KEY", "ISNAD_LLM_API_KEY"),
        description=(
            "the endpoint's key (also ISNAD_LLM_API_KEY); sent only to ISNAD_LLM_BASE_URL, masked in "
            "every message"
        ),
    )
    llm_timeout: float = Field(
        120.0, description="seconds for a whole generation; then the extractive answer stands with a notice"
    )
    llm_connect_timeout: float = Field(5.0, description="seconds to reach the endpoint")
    llm_max_tokens: int = Field(400, description="longest generation")
    allow_user_endpoints: bool = Field(
        False,
        description=(
            "let users type an endpoint in the app (used only with a key they type, never the server's)"
        ),
    )
    allowed_hosts: str = Field(
        "", description="comma-separated hosts typed endpoints may use (empty: any, when allowed)"
    )
    local_threads: int = Field(0, description="threads for the local generator (0: all cores)")
    local_ctx: int = Field(4096, description="context length of the local generator")

    # The app
    host: str = Field(
        "127.0.0.1",
        description="address the app binds; loopback unless you mean to share it (docs/security.md)",
    )
    port: int = Field(7860, description="port the app listens on")
    auth_user: str | None = Field(None, description="with auth_password: require this login")
    auth_password: SecretStr | None = Field(None, description="the login's password")
    pretranslate: bool = Field(
        True,
        description=(
            "with a generator, translate the corpus into the cache in the background while the app runs"
        ),
    )
    uploads_dir: Path = Field(Path("data/uploads"), description="where files added in the app are kept")
    pages_dir: Path = Field(
        Path("data/pages"),
        description=(
            "where pages added by URL are kept: the extracted text, the original HTML and their metadata"
        ),
    )
    api_keys: SecretStr | None = Field(
        None,
        description=(
            "name:key pairs, comma-separated, for the HTTP API (Authorization: Bearer key); "
            "none: the API answers this machine only"
        ),
    )
    api_rate_per_minute: int = Field(60, description="requests a minute each API key may make")
    fetch_allow: str = Field(
        "",
        description=(
            "comma-separated hosts or host:port entries that URL ingestion may fetch although they "
            "resolve to loopback or private addresses (empty: public addresses only)"
        ),
    )
    fetch_timeout: float = Field(
        20.0, description="seconds to wait for a web server when adding a page by URL"
    )
    fetch_respect_robots: bool = Field(
        True, description="skip pages a site's robots.txt disallows for automated readers"
    )

    def chunker(self):
        return ChunkerSettings(max_tokens=self.chunk_tokens, overlap_sentences=self.chunk_overlap_sentences)
