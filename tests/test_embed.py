from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from assistant.errors import UsageError
from assistant.index.embed import SentenceEmbeddings
from assistant.index.embed_onnx import OnnxEncoder, export, exportable, files_for

from .conftest import BUNDLED_CORPUS

QUESTIONS = ["What are Russia's preconditions?", "Who is the Kremlin spokesperson?", "Odesa port drone attack"]


def test_packaged_model_loads_offline_and_gives_unit_vectors() -> None:
    vectors = SentenceEmbeddings().encode(["Kyiv rejects Russia's territorial demands.", "A cup final in Madrid."])
    assert vectors.shape == (2, 384) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_unknown_model_is_a_clear_usage_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(UsageError, match="ASSISTANT_EMBEDDING_MODEL"):
        SentenceEmbeddings(str(tmp_path / "no-such-model")).encode(["text"])


def test_onnx_export_embeds_as_the_model_does_and_its_int8_copy_nearly_so(tmp_path: Path) -> None:
    embeddings = SentenceEmbeddings()
    assert exportable(embeddings.model)
    assert export(embeddings.model, tmp_path, embeddings.model_name)
    assert all(path.exists() for path in files_for(tmp_path, embeddings.model_name))
    original = embeddings.encode(QUESTIONS)
    exported = OnnxEncoder(tmp_path, embeddings.model_name).encode(QUESTIONS)
    assert np.allclose(np.sum(exported * original, axis=1), 1.0, atol=1e-4)
    quantised = OnnxEncoder(tmp_path, embeddings.model_name, "int8").encode(QUESTIONS)
    agreement = np.sum(quantised * original, axis=1)
    assert agreement.min() > 0.98 and agreement.max() < 0.9999  # close, and really the int8 graph


def test_without_an_export_questions_fall_back_to_the_model(tmp_path: Path) -> None:
    embeddings = SentenceEmbeddings(cache_dir=tmp_path / "empty")
    assert float(embeddings.encode_query(QUESTIONS[0]) @ SentenceEmbeddings().encode([QUESTIONS[0]])[0]) > 0.9999


def test_a_fresh_process_answers_without_loading_torch(tmp_path: Path) -> None:
    index = tmp_path / "index"
    env = {"ASSISTANT_INDEX_DIR": str(index), "ASSISTANT_CORPUS_DIR": str(BUNDLED_CORPUS), "PATH": "/usr/bin:/bin"}
    script = Path(sys.executable).parent / "assistant"
    subprocess.run([str(script), "ingest"], env=env, check=True, capture_output=True)
    assert list((index / "models").glob("*.onnx")), "ingest exports the model for questions"
    code = (
        "import json, sys\nfrom assistant.pipeline import Assistant\n"
        'answer = Assistant().ask("What are Russia\'s preconditions?")\n'
        "print(json.dumps({'torch': 'torch' in sys.modules, 'text': answer.text}))"
    )
    result = json.loads(
        subprocess.run([sys.executable, "-c", code], env=env, check=True, capture_output=True, text=True).stdout
    )
    assert result["torch"] is False
    assert "cede territory and end Western military support" in result["text"]


def test_fp32_ingest_reads_the_fp32_export_which_gives_the_model_token_states(tmp_path: Path) -> None:
    on_cpu = SentenceEmbeddings(cache_dir=tmp_path, precision="fp32").token_encoder()
    assert isinstance(on_cpu, OnnxEncoder)
    ids = on_cpu.tokenizer.encode(QUESTIONS[0]).ids
    from_torch = SentenceEmbeddings().token_encoder()
    assert from_torch is not None and not isinstance(from_torch, OnnxEncoder)
    assert np.allclose(on_cpu.hidden([ids])[0], from_torch.hidden([ids])[0], atol=1e-4)
