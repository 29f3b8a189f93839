from __future__ import annotations

import numpy as np
import pytest

from assistant.index.embed import SentenceEmbeddings
from assistant.index.windows import TokenEncoder, encode_windows, plan_windows, pool, special_ids

from .conftest import BUNDLED_CORPUS

TITLE = "Kremlin signals readiness for talks"
SENTENCES = [
    "Kremlin spokesperson Dmitry Peskov said on Tuesday that Moscow was ready for a new round of talks.",
    "He accused Kyiv and Washington of slowing progress.",
    "Ukraine's foreign minister rejected any ceasefire that would freeze the front line.",
    "Grain exports from Odesa resumed after a drone attack damaged the port last week.",
    "In Madrid, Sevilla won the cup final on penalties.",
]


@pytest.fixture(scope="module")
def model() -> SentenceEmbeddings:
    return SentenceEmbeddings()  # no export folder: full precision through torch, as the model itself


@pytest.fixture(scope="module", params=["fp32", "int8"])
def encoder(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> TokenEncoder:
    """The model through torch (fp32), and its int8 ONNX export as ingest uses it by default."""
    models = tmp_path_factory.mktemp("models") if request.param == "int8" else None
    found = SentenceEmbeddings(cache_dir=models, precision="int8" if models else "fp32").token_encoder()
    assert found is not None
    return found


def _agreement(encoder: TokenEncoder) -> float:
    """How close to the model's own vectors this encoder's are: exact, or int8 close."""
    return 0.999 if "Torch" in type(encoder).__name__ else 0.97


def _vectors(encoder: TokenEncoder, title: str, sentences: list[str], chunks: list[range]) -> np.ndarray:
    windows = plan_windows(encoder, title, sentences)
    states = {window.key: state for batch in encode_windows(encoder, windows, 8) for window, state in batch}
    sentence_vectors, chunk_vectors = pool(windows, states, chunks, len(sentences))
    return np.vstack([sentence_vectors, chunk_vectors])


def test_each_token_of_the_text_goes_through_the_encoder_once(encoder: TokenEncoder) -> None:
    text = (BUNDLED_CORPUS / "news" / "2025-07-01-un-appeal.md").read_text(encoding="utf-8")
    sentences = [line.strip() for line in text.split(". ") if line.strip()]
    windows = plan_windows(encoder, TITLE, sentences)
    prefix, suffix = special_ids(encoder.tokenizer)
    title_tokens = len(encoder.tokenizer.encode(TITLE, add_special_tokens=False).ids)
    sentence_tokens = sum(len(e.ids) for e in encoder.tokenizer.encode_batch(sentences, add_special_tokens=False))
    assert len(windows) > 1 and all(len(window.ids) <= encoder.max_length for window in windows)
    assert [i for window in windows for i in window.sentences] == list(range(len(sentences)))
    overhead = len(windows) * (len(prefix) + len(suffix) + title_tokens)
    assert sum(len(window.ids) for window in windows) == sentence_tokens + overhead
    assert overhead < 0.15 * sentence_tokens  # the title repeated a window is the only extra


def test_a_sentence_longer_than_a_window_keeps_what_fits(encoder: TokenEncoder) -> None:
    table = " ".join(f"row {n} value {n * 7}" for n in range(400))
    windows = plan_windows(encoder, TITLE, [SENTENCES[0], table, SENTENCES[1]])
    assert [list(window.sentences) for window in windows] == [[0], [1], [2]]
    assert len(windows[1].ids) == encoder.max_length


def test_a_chunk_vector_is_the_model_vector_of_the_chunk_with_its_title(
    encoder: TokenEncoder, model: SentenceEmbeddings
) -> None:
    alone = _vectors(encoder, TITLE, SENTENCES[:3], [range(0, 3)])[-1]
    expected = model.encode([f"{TITLE}\n{' '.join(SENTENCES[:3])}"])[0]
    assert float(alone @ expected) > _agreement(encoder)  # the chunk is the window: the same tokens and mean
    within = _vectors(encoder, TITLE, SENTENCES, [range(0, 3)])[-1]
    assert float(within @ expected) > 0.9  # its tokens saw the two sentences after it too


def test_a_sentence_vector_stays_nearest_to_its_own_sentence(encoder: TokenEncoder, model: SentenceEmbeddings) -> None:
    pooled = _vectors(encoder, TITLE, SENTENCES, [])[: len(SENTENCES)]
    alone = model.encode(SENTENCES)
    similarity = pooled @ alone.T
    assert list(similarity.argmax(axis=1)) == list(range(len(SENTENCES)))
    assert np.allclose(np.linalg.norm(pooled, axis=1), 1.0, atol=1e-5)
