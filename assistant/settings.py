"""One settings object; environment variables with the prefix ASSISTANT_ override every field."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from assistant.errors import UsageError
from assistant.limits import MAX_K, MIN_API_KEY_CHARS, MIN_K

DEFAULT_EMBEDDING_MODEL = "all-MiniLM-L6-v2"

# Bump when chunking or sentence splitting changes what a chunk holds: old indexes are then not reused.
CHUNKER_VERSION = 1
# Bump when how vectors are computed from the text changes (2: one pass over token windows, pooled).
EMBEDDER_VERSION = 2

Precision = Literal["auto", "bf16", "int8", "fp32-onnx", "fp32"]
ReaderPrecision = Literal["auto", "int8", "bf16", "fp32"]
# Bump when what the vector store holds per chunk changes (2: undated chunks carry date_int 0, so an
# as-of cutoff lets them through; 3: documents' voice, publisher and licence, and voice_keys to filter on).
STORE_VERSION = 3


class Settings(BaseSettings):
    """Where the corpus and index live, which models to use, and how retrieval and answering behave."""

    model_config = SettingsConfigDict(env_prefix="ASSISTANT_", extra="forbid", validate_assignment=True)

    corpus_dir: Path = Field(default=Path("corpus"), description="Folder of documents to answer from.")
    index_dir: Path = Field(
        default=Path(".index"),
        description="Folder for the local index: catalog, lexical index and sentence vectors, the embedded "
        "Chroma store, and the model's ONNX export for questions.",
    )
    embedding_model: str = Field(
        default=DEFAULT_EMBEDDING_MODEL,
        description="sentence-transformers model: the packaged all-MiniLM-L6-v2 (default), "
        "another model name or a local folder; 'fake' for tests (word hashes, no model).",
    )
    chroma_url: str | None = Field(
        default=None,
        description="URL of a Chroma server (http://host:port); unset means the embedded store in index_dir.",
    )
    llm: str = Field(
        default="extractive",
        description="Answerer: 'extractive' (no model: quotes the corpus), or a chat model as "
        "'provider:model', e.g. 'ollama:llama3.2' or 'openai:gpt-4o-mini'.",
    )
    chunk_size: int = Field(default=900, ge=200, le=8000, description="Largest chunk, in characters.")
    chunk_overlap: int = Field(
        default=200, ge=0, le=2000, description="Characters of whole sentences repeated from the previous chunk."
    )
    k: int = Field(default=5, ge=MIN_K, le=MAX_K, description="Passages retrieved for a question.")
    # Source: not measured (set with the first hybrid search; the fusion weights below were chosen with it).
    candidates: int = Field(
        default=50, ge=5, le=500, description="Candidates each ranker (dense, lexical) contributes before fusion."
    )
    # Source of the four fusion weights: eval/README.md, "What moved the numbers", the as-of row (dense, closest
    # sentence, recency with recency_days: the top of a grid over the fitting halves) and the two time-frame rows.
    dense_weight: float = Field(
        default=0.5,
        ge=0.0,
        le=1.0,
        description="Weight of the dense ranking in the fusion (the lexical one gets the rest); see eval/README.md.",
    )
    sentence_weight: float = Field(
        default=0.4,
        ge=0.0,
        le=2.0,
        description="Weight, added to the fusion, of how close the question comes to a candidate's closest sentence.",
    )
    recency_weight: float = Field(
        default=0.3,
        ge=0.0,
        le=2.0,
        description="Weight of a document's recency (relative to the question's as-of date) added to the fusion.",
    )
    frame_weight: float = Field(
        default=0.15,
        ge=0.0,
        le=2.0,
        description="Weight added to the fusion for a document dated within the time the question names "
        "('this week', 'in 2023').",
    )
    recency_days: float = Field(
        default=90.0,
        gt=0.0,
        le=36500.0,
        description="A document this many days older than the as-of date earns 1/e of the full recency weight "
        "(chosen with the weights above on the fitting halves; eval/README.md).",
    )
    # Source: not measured (set with the first extractive answerer). It bounds the dated quotes that answer a
    # question about change; a short answer (the best sentence, the one before it, one more) stays within it.
    max_answer_sentences: int = Field(default=3, ge=1, le=10, description="Most sentences in an extractive answer.")
    abstain_below: float = Field(
        default=0.5,
        ge=0.0,
        le=1.0,
        description="Abstain when the answerability score is below this (calibrated; see eval/README.md).",
    )
    embed_batch_size: int = Field(
        default=32, ge=1, le=1024, description="Token windows (about 1,000 characters each) embedded at once in ingest."
    )
    embed_precision: Precision = Field(
        default="auto",
        description="How ingest runs the encoder: 'auto' (the fastest on this machine of the four below whose "
        "vectors agree with fp32 to a cosine of 0.999, measured once and recorded in model_cache_dir), 'bf16' "
        "(torch under bfloat16 autocast), 'int8' (the quantised ONNX export; questions use it too), 'fp32-onnx' "
        "(the ONNX export), 'fp32' (the model in torch; on the GPU when torch sees one).",
    )
    reader_precision: ReaderPrecision = Field(
        default="int8",
        description="How the trained reader runs: 'int8' (the shipped ONNX graph, whose logits the answer models "
        "were fitted on; the default), 'bf16' (its weights in torch under bfloat16 autocast), 'fp32' (in torch), or "
        "'auto' (the fastest on this machine of the three whose logits agree with fp32's to a cosine of 0.999, "
        "measured once and recorded in model_cache_dir; torch's paths move some answers, bench/README.md).",
    )
    model_cache_dir: Path | None = Field(
        default=None,
        description="Per-user folder for the model's ONNX exports and the measured encoder and reader choices, "
        "shared by every index folder; unset: the platform's cache folder (~/.cache/conflict-corpus-assistant "
        "on Linux).",
    )
    api_key: str | None = Field(
        default=None,
        description="Bearer token the REST API and web chat require (at least 16 characters); needed whenever they "
        "listen beyond loopback.",
    )
    trusted_proxies: str | None = Field(
        default=None,
        description="Comma-separated addresses of the reverse proxies in front of the server, whose "
        "X-Forwarded-For header names the client; empty: the header is ignored and the connecting address is the "
        "client (so a client cannot pick the address the sign-in limit counts).",
    )
    read_timeout: float = Field(
        default=20.0,
        ge=1,
        le=600,
        description="Seconds a client of `assistant api` and `assistant serve` has to send a request's headers (plus "
        "one for every 500 bytes, at most twice this) and then its body (plus one for every 500 bytes), and that a "
        "new connection may stay silent; slower ones get a 408 and are closed (Apache's default rule).",
    )
    max_upload_mb: float = Field(default=10.0, gt=0, le=50, description="Largest document a user may upload, in MB.")
    uploads_subdir: str = Field(default="uploads", description="Folder inside the corpus where uploaded documents go.")
    feedback_path: Path = Field(
        default=Path("feedback/feedback.jsonl"),
        description="JSONL file that thumbs up/down in the web chat append to (an eval question set).",
    )
    sources_contact: str | None = Field(
        default=None,
        description="An e-mail address or URL where the operators of the sites a source sync fetches from can reach "
        "you; it goes in the User-Agent, and `assistant sources sync` refuses to fetch without it.",
    )
    sources_delay: float = Field(
        default=5.0,
        ge=0.0,
        le=600.0,
        description="Seconds between two requests to one host when syncing sources (a robots.txt Crawl-delay "
        "that asks for more wins).",
    )
    sources_timeout: float = Field(
        default=20.0, gt=0.0, le=300.0, description="Seconds a source request may take to connect or to send data."
    )
    sources_max_mb: float = Field(
        default=5.0,
        gt=0.0,
        le=50.0,
        description="Largest response a source sync reads, in MB; a larger one is skipped.",
    )
    sources_max_wait: float = Field(
        default=300.0,
        ge=0.0,
        le=3600.0,
        description="Longest Retry-After (seconds) a sync waits out after a 429 or 503; a longer one ends that "
        "source's sync until the next.",
    )
    sources_schedule: bool = Field(
        default=True,
        description="Whether `assistant serve` and `assistant api` sync each source in the background when its "
        "`every` says (a source never synced at once), then ingest what it brought; they fetch nothing without "
        "ASSISTANT_SOURCES_CONTACT. 0: sources are fetched only by `sources sync` and Sync now.",
    )
    sources_allow_networks: str = Field(
        default="",
        description="Comma-separated address ranges (127.0.0.1/32, 10.0.0.0/8) sources may fetch from besides "
        "public addresses; empty: loopback, link-local and private addresses are refused.",
    )

    @model_validator(mode="after")
    def _long_enough_key(self) -> Settings:
        if self.api_key is not None and len(self.api_key.strip()) < MIN_API_KEY_CHARS:
            raise ValueError(
                f"ASSISTANT_API_KEY is too short ({len(self.api_key.strip())} characters besides spaces); use at "
                f"least {MIN_API_KEY_CHARS} characters, e.g. the output of "
                '`python -c "import secrets; print(secrets.token_urlsafe(24))"`'
            )
        return self

    @model_validator(mode="after")
    def _overlap_below_size(self) -> Settings:
        if self.chunk_overlap >= self.chunk_size:
            raise ValueError(
                f"ASSISTANT_CHUNK_OVERLAP ({self.chunk_overlap}) must be smaller than "
                f"ASSISTANT_CHUNK_SIZE ({self.chunk_size})"
            )
        return self

    def index_name(self) -> str:
        """The collection name: the corpus folder's name plus a hash of all that shapes the vectors."""
        shape = {
            "corpus": str(self.corpus_dir.resolve()),
            "embedding_model": self.embedding_model,
            "chunk_size": self.chunk_size,
            "chunk_overlap": self.chunk_overlap,
            "chunker": CHUNKER_VERSION,
            "embedder": EMBEDDER_VERSION,
            # Every path but a set 'int8' gives vectors within 0.999 cosine of fp32: one index for all of them.
            "precision": "int8" if self.embed_precision == "int8" else "fp32",
            "store": STORE_VERSION,
        }
        digest = hashlib.sha256(json.dumps(shape, sort_keys=True).encode()).hexdigest()[:12]
        stem = re.sub(r"[^a-zA-Z0-9_-]+", "-", self.corpus_dir.resolve().name).strip("-_")[:40] or "corpus"
        return f"{stem}-{digest}"

    def model_cache_path(self) -> Path:
        """The per-user model cache: model_cache_dir, else the platform's cache folder for this project."""
        if self.model_cache_dir is not None:
            return self.model_cache_dir
        import platformdirs

        return platformdirs.user_cache_path("conflict-corpus-assistant") / "models"

    def index_path(self) -> Path:
        """The folder of the local files of this index (lexical index, sentence vectors)."""
        return self.index_dir / self.index_name()


def describe_settings() -> list[tuple[str, str, str]]:
    """Each setting as (environment variable, default, description), for help texts and the README."""
    rows = []
    for name, info in Settings.model_fields.items():
        default = "unset" if info.default is None else str(info.default)
        rows.append((f"ASSISTANT_{name.upper()}", default, info.description or ""))
    return rows


def load_settings(**overrides: Any) -> Settings:
    """Settings from the environment and overrides; a bad value is a UsageError naming the variable and its range."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        raise UsageError(_settings_problem(exc)) from None


def _settings_problem(exc: ValidationError) -> str:
    problems = []
    for error in exc.errors():
        name = str(error["loc"][0]) if error["loc"] else ""
        if name not in Settings.model_fields:  # a check across fields: its message names them
            problems.append(str(error["msg"]).removeprefix("Value error, "))
            continue
        shown = repr(error["input"]) if isinstance(error["input"], str | int | float) else "this value"
        problems.append(f"ASSISTANT_{name.upper()}={shown} is not valid; set it to {_allowed(name)}")
    return "; ".join(problems) + "."


def _allowed(name: str) -> str:
    """What a setting takes, in words: 'a whole number from 1 to 50'."""
    info = Settings.model_fields[name]
    bounds = {
        attr: getattr(rule, attr) for rule in info.metadata for attr in ("ge", "gt", "le", "lt") if hasattr(rule, attr)
    }
    kinds: dict[Any, str] = {int: "a whole number", float: "a number", Path: "a folder or file path", bool: "1 or 0"}
    kind = kinds.get(info.annotation, "a text")
    if "ge" in bounds and "le" in bounds:
        return f"{kind} from {bounds['ge']:g} to {bounds['le']:g}"
    limits = [
        f"{word} {bounds[key]:g}"
        for key, word in (("gt", "above"), ("ge", "at least"), ("lt", "below"), ("le", "at most"))
        if key in bounds
    ]
    return " ".join([kind, " and ".join(limits)]).strip()
