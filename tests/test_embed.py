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
from assistant.index.fastpath import MIN_COSINE, cpu_flags, record_path

from .conftest import BUNDLED_CORPUS, ROOT

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
    env.update(ASSISTANT_MODEL_CACHE_DIR=str(tmp_path / "cache"), PYTHONPATH=str(ROOT))  # this tree's code
    subprocess.run([str(script), "ingest"], env=env, check=True, capture_output=True)
    assert list((tmp_path / "cache").glob("*.onnx")), "ingest exports the model for questions, in the user's cache"
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


def test_fp32_onnx_ingest_reads_the_fp32_export_which_gives_the_model_token_states(tmp_path: Path) -> None:
    on_cpu = SentenceEmbeddings(cache_dir=tmp_path, precision="fp32-onnx").token_encoder()
    assert isinstance(on_cpu, OnnxEncoder)
    ids = on_cpu.tokenizer.encode(QUESTIONS[0]).ids
    from_torch = SentenceEmbeddings().token_encoder()
    assert from_torch is not None and not isinstance(from_torch, OnnxEncoder)
    assert np.allclose(on_cpu.hidden([ids])[0], from_torch.hidden([ids])[0], atol=1e-4)


def test_bf16_runs_the_model_under_autocast_within_the_agreement_bar(tmp_path: Path) -> None:
    encoder = SentenceEmbeddings(cache_dir=tmp_path, precision="bf16").token_encoder()
    assert encoder is not None and getattr(encoder, "bf16", False)
    exact = SentenceEmbeddings(cache_dir=tmp_path, precision="fp32").token_encoder()
    assert exact is not None and not getattr(exact, "bf16", True)
    ids = [encoder.tokenizer.encode(text).ids for text in QUESTIONS]
    fast, slow = encoder.hidden(ids)[0].mean(axis=1), exact.hidden(ids)[0].mean(axis=1)
    cosine = np.sum(fast * slow, axis=1) / np.linalg.norm(fast, axis=1) / np.linalg.norm(slow, axis=1)
    assert cosine.min() > 0.999 and not np.array_equal(fast, slow)  # close, and really another computation


def test_auto_measures_once_records_the_choice_and_keeps_only_the_exports_used(tmp_path: Path) -> None:
    embeddings = SentenceEmbeddings(cache_dir=tmp_path)
    choice = embeddings.choice()
    assert set(choice.measured) == {"fp32", "bf16", "int8", "fp32-onnx"}
    assert choice.measured[choice.chosen]["cosine"] >= MIN_COSINE
    assert choice.chosen == max(
        (name for name, row in choice.measured.items() if row.get("eligible")),
        key=lambda name: choice.measured[name]["per_second"],
    )
    record = json.loads(record_path(tmp_path, "embed-all-MiniLM-L6-v2").read_text())
    assert record["chosen"] == choice.chosen and record["machine"]["flags"] == cpu_flags()
    int8 = files_for(tmp_path, embeddings.model_name, "int8")[0]
    assert int8.exists() == (choice.chosen == "int8"), "an export no path uses is not kept"
    assert files_for(tmp_path, embeddings.model_name)[0].exists(), "questions read the fp32 export"

    written = record_path(tmp_path, "embed-all-MiniLM-L6-v2").stat().st_mtime_ns
    assert SentenceEmbeddings(cache_dir=tmp_path).encoder_path() == choice.chosen  # another process reads it
    assert record_path(tmp_path, "embed-all-MiniLM-L6-v2").stat().st_mtime_ns == written, "measured again"


def test_every_index_folder_shares_one_export_in_the_user_cache(tmp_path: Path) -> None:
    from assistant.pipeline import Assistant
    from assistant.settings import Settings

    cache = tmp_path / "cache"
    first = Settings(corpus_dir=BUNDLED_CORPUS, index_dir=tmp_path / "a", model_cache_dir=cache, embed_precision="int8")
    Assistant(first).ingest()
    graph = files_for(cache, first.embedding_model, "int8")[0]
    made = graph.stat().st_mtime_ns
    (tmp_path / "b" / "models").mkdir(parents=True)  # where an index folder kept an export of its own before
    Assistant(first.model_copy(update={"index_dir": tmp_path / "b"})).ingest()
    assert graph.stat().st_mtime_ns == made, "a second index folder reuses the export"
    assert not (tmp_path / "a" / "models").exists() and not (tmp_path / "b" / "models").exists()
    assert not list(cache.glob("*.partial"))
