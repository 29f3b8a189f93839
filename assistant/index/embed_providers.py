"""Which embeddings a model name means: a small table of providers by the name's prefix.

"fake" (or "fake:N") is one provider: FakeEmbeddings, model-free, for tests; any other name is a
sentence-transformers model. A provider is a function of the settings.
"""

from __future__ import annotations

from collections.abc import Callable

from assistant.errors import UsageError
from assistant.index.embed import SentenceEmbeddings
from assistant.index.embed_fake import FakeEmbeddings
from assistant.settings import Settings


def _sentence_transformers(settings: Settings) -> SentenceEmbeddings:
    return SentenceEmbeddings(
        settings.embedding_model, settings.embed_batch_size, settings.model_cache_path(), settings.embed_precision
    )


def _fake(settings: Settings) -> SentenceEmbeddings:
    try:
        return FakeEmbeddings.named(settings.embedding_model)
    except ValueError as exc:
        raise UsageError(f"ASSISTANT_EMBEDDING_MODEL {exc}.") from None


Provider = Callable[[Settings], SentenceEmbeddings]
# The embedding providers by the prefix of a model name ('fake' or 'fake:N'); any other name is a
# sentence-transformers model.
PROVIDERS: dict[str, Provider] = {"fake": _fake}


def embeddings_for(settings: Settings) -> SentenceEmbeddings:
    """The embeddings the settings name: a provider's by the name's prefix (PROVIDERS), else the
    sentence-transformers model, with its ONNX exports and measured encoder choice in the per-user cache."""
    provider = PROVIDERS.get(settings.embedding_model.split(":", 1)[0], _sentence_transformers)
    return provider(settings)
