"""The one configuration object. Every field can be set as ISNAD_<NAME> in the environment."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_EMBEDDING_MODEL = "embeddinggemma-300m"


def _cache_home() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "isnad"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ISNAD_", extra="ignore")

    index_dir: Path = Field(Path("data/index"), description="where the index lives")
    cache_dir: Path = Field(default_factory=_cache_home, description="downloaded and verified models")
    embedding_model: str = Field(
        DEFAULT_EMBEDDING_MODEL,
        description="'embeddinggemma-300m' (provisioned offline from PyPI) or any sentence-transformers name or path",
    )
    query_prompt: str | None = Field(None, description="override the model's query prompt")
    document_prompt: str | None = Field(None, description="override the document prompt; may use {title}")
    device: str = "cpu"
    embedding_dtype: str = Field(
        "auto", description="float32, bfloat16, or auto: bfloat16 where the CPU computes it natively (3x faster, cosine 0.9995 to float32)"
    )
    batch_size: int = 8
    chunk_tokens: int = 256
    chunk_overlap_sentences: int = 1

    store: str = Field("sqlite", description="where the index lives: 'sqlite' SQLite + FAISS in index_dir/store (no server; adding a file costs what the file costs); 'folders' the older generation folders in index_dir (each change rewrites the corpus); 'postgresql://user@host:port/db' PostgreSQL + pgvector")
    top_k: int = 5
    retrieval_mode: str = "hybrid"
    rrf_k: int = 60
    bm25_weight: float = Field(0.5, description="weight of the BM25 list in hybrid fusion (dense has 1); chosen on XQuAD-ar, confirmed on ARCD-test")
    candidates: int = 50

    # Answers
    max_question_chars: int = 2000
    answer_k: int = Field(8, description="chunks retrieved to find answer sentences")
    answer_max_sentences: int = 3
    abstain_below: float = Field(0.45, description="support under which the answer is 'the articles do not say', question and evidence in one language (Youden-optimal on 400 XQuAD-ar questions with and without their article; the evidence checks in rag/answer.py come first)")
    abstain_below_cross: float = Field(0.36, description="the same when question and evidence differ in language (cross-lingual similarities run lower; Youden-optimal on 400 XQuAD English questions over the Arabic paragraphs, with and without their article)")
    answer_margin: float = Field(0.1, description="sentences this close to the best one may hold the answer")
    disagree_margin: float = Field(0.03, description="another article's value this close to the best is shown as a disagreement")
    disagree_similarity: float = Field(0.75, description="two sentences this similar state the same fact")
    topic_floor: float = Field(0.397, description="a topic briefing needs a sentence this close to the topic, same language (Youden-optimal on ARCD-train article titles with and without their article; on ARCD-test 97% of covered topics kept, 83% of uncovered refused: `isnad eval coverage`)")
    topic_floor_cross: float = Field(0.343, description="the same across languages (English XQuAD titles over the Arabic paragraphs: fitted on even articles; on odd ones 88% kept, 96% refused)")
    names_file: Path | None = Field(None, description="your own names: TSV of kind, English|variants, Arabic|variants")
    verify_min_similarity: float = Field(0.5, description="claim-to-cited-sentence similarity a generated sentence needs")
    translation_min_similarity: float = Field(0.67, description="original-to-translation similarity under which a machine translation is withheld as drifted (the floor that best separates correct from wrong translations on even XQuAD-R paragraphs; `isnad eval translation` reports it on odd ones)")

    # Generators: 'none', 'local' (Qwen2.5 GGUF served in-process), 'remote' (any OpenAI-compatible
    # endpoint), or 'auto' (remote when ISNAD_LLM_BASE_URL is set, else none)
    generator: str = "auto"
    llm_base_url: str | None = None
    llm_model: str | None = None
    llm_api_key: SecretStr | None = Field(None, validation_alias=AliasChoices("OPENAI_API_KEY", "ISNAD_LLM_API_KEY"))
    llm_timeout: float = Field(120.0, description="seconds for a whole generation")
    llm_connect_timeout: float = 5.0
    llm_max_tokens: int = 400
    allow_user_endpoints: bool = Field(False, description="let users type an endpoint in the app (used only with a key they type, never the server's)")
    allowed_hosts: str = Field("", description="comma-separated hosts typed endpoints may use (empty: any, when allowed)")
    local_threads: int = Field(0, description="threads for the local generator (0: all cores)")
    local_ctx: int = 4096

    # The app
    host: str = Field("127.0.0.1", description="address the app binds; loopback unless you mean to share it")
    port: int = 7860
    auth_user: str | None = Field(None, description="with auth_password: require this login")
    auth_password: SecretStr | None = None
    pretranslate: bool = Field(True, description="with a generator, translate the corpus into the cache in the background while the app runs")
    uploads_dir: Path = Field(Path("data/uploads"), description="where files added in the app are kept")
    pages_dir: Path = Field(Path("data/pages"), description="where pages added by URL are kept: the extracted text, the original HTML and their metadata")
    fetch_allow: str = Field("", description="comma-separated hosts or host:port entries that URL ingestion may fetch even though they resolve to loopback or private addresses (empty: public addresses only)")
    fetch_timeout: float = Field(20.0, description="seconds to wait for a web server when adding a page by URL")
    fetch_respect_robots: bool = Field(True, description="skip pages a site's robots.txt disallows for automated readers")

    def chunker(self):
        from rag.chunking import ChunkerSettings

        return ChunkerSettings(max_tokens=self.chunk_tokens, overlap_sentences=self.chunk_overlap_sentences)
