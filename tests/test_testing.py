"""The fakes users test their own code with: FakeEmbeddings (the chat-model fakes are exercised in test_chat
and test_attribution)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from langchain_core.embeddings import Embeddings

from assistant.errors import UsageError
from assistant.index.embed import SentenceEmbeddings
from assistant.index.embed_providers import embeddings_for
from assistant.settings import Settings
from assistant.testing import FakeEmbeddings

from .conftest import DATA


def test_fake_embeddings_are_unit_vectors_that_bring_texts_with_shared_words_close() -> None:
    fake = FakeEmbeddings()
    assert isinstance(fake, SentenceEmbeddings) and isinstance(fake, Embeddings)
    talks, same, weather, empty = fake.encode(["Talks in Istanbul", "Istanbul talks resumed", "Rain in Paris", ""])
    assert np.linalg.norm([talks, same, weather, empty], axis=1) == pytest.approx(1.0)
    assert talks @ same > 0.5 > abs(talks @ weather)
    assert fake.embed_query("Talks in Istanbul") == pytest.approx(talks.tolist())
    assert len(fake.embed_documents(["a b", "c"])) == 2 and fake.dimension == len(talks) == 64


def test_the_setting_selects_the_fake_and_a_bad_size_is_a_clear_error(tmp_path: Path) -> None:
    assert embeddings_for(Settings(embedding_model="fake:16")).dimension == 16
    with pytest.raises(UsageError, match="ASSISTANT_EMBEDDING_MODEL 'fake:big' is not fake or fake:N"):
        embeddings_for(Settings(embedding_model="fake:big"))
    # a fake index is its own index: it never meets the real model's vectors
    assert (
        Settings(corpus_dir=tmp_path).index_name() != Settings(corpus_dir=tmp_path, embedding_model="fake").index_name()
    )


def test_an_assistant_on_fake_embeddings_ingests_and_answers_without_loading_torch(tmp_path: Path) -> None:
    code = (
        "import sys\nfrom assistant import Assistant, Settings\n"
        f"settings = Settings(corpus_dir={str(DATA / 'aliases')!r}, index_dir={str(tmp_path)!r},"
        " embedding_model='fake')\n"
        "assistant = Assistant(settings)\nassistant.ingest()\n"
        "print(assistant.retrieve('Kremlin talks', k=1)[0].chunk.doc_id, 'torch' in sys.modules)\n"
        "from assistant.testing import FakeEmbeddings\nprint(FakeEmbeddings().encode(['Peskov'])[0].tolist())"
    )
    first, second = (
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.splitlines()
        for _ in range(2)
    )
    assert first[0] == "kremlin-signals-talks False"
    assert first[1] == second[1], "the same vectors in every process"
