from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from assistant.answer.base import ABSTENTION_REPLY
from assistant.cli import cli

from .conftest import BUNDLED_CORPUS, DATA


@pytest.fixture
def indexed(capsys: pytest.CaptureFixture[str]) -> None:
    """The bundled corpus indexed through the command line into this test's index folder."""
    assert cli(["ingest", "--corpus", str(BUNDLED_CORPUS)]) == 0
    capsys.readouterr()


def test_help_loads_neither_torch_nor_chromadb() -> None:
    code = (
        "import sys\nfrom assistant.cli import cli\n"
        "try:\n    cli(['--help'])\nexcept SystemExit:\n    pass\n"
        "print(sorted(m for m in ('torch', 'chromadb', 'sentence_transformers', 'gradio') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "ask" in result.stdout and "ASSISTANT_CORPUS_DIR" in result.stdout
    assert result.stdout.strip().splitlines()[-1] == "[]"


@pytest.mark.usefixtures("fake_embeddings")
def test_ingest_prints_a_summary_and_is_incremental(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(["ingest", "--corpus", str(BUNDLED_CORPUS)]) == 0
    assert "1 added" in capsys.readouterr().out
    assert cli(["ingest", "--corpus", str(BUNDLED_CORPUS), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["documents"] == {"added": 0, "updated": 0, "unchanged": 1, "removed": 0, "skipped": 0, "total": 1}
    assert summary["chunks"]["added"] == 0 and summary["chunks"]["total"] > 0


def test_ask_json_has_the_documented_shape(indexed: None, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(["ask", "--corpus", str(BUNDLED_CORPUS), "--json", "What are Russia's preconditions?"]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert set(answer) == {"question", "answer", "abstained", "citations", "nearest", "time_frame", "timings_ms"}
    assert answer["question"] == "What are Russia's preconditions?" and answer["nearest"] == []
    assert answer["time_frame"] is None  # the question names no time
    assert answer["abstained"] is False and "[1]" in answer["answer"]
    assert set(answer["timings_ms"]) == {"retrieve", "answer"}
    citation = answer["citations"][0]
    assert set(citation) == {
        "n",
        "doc_id",
        "title",
        "source",
        "date",
        "chunk_id",
        "quote",
        "start",
        "end",
        "voice",
        "publisher",
        "speaker",
    }
    assert citation["n"] == 1 and citation["doc_id"] == "news/2025-07-01-un-appeal"
    assert citation["source"] == "news/2025-07-01-un-appeal.md" and citation["date"] == "2025-07-01"
    assert isinstance(citation["start"], int) and citation["end"] - citation["start"] == len(citation["quote"])


def test_ask_abstains_in_json_and_text(indexed: None, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(["ask", "--corpus", str(BUNDLED_CORPUS), "--json", "What is China's position on the war?"]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert (answer["abstained"], answer["answer"], answer["citations"]) == (True, ABSTENTION_REPLY, [])
    # The sentences that came closest, for the reader to judge: verbatim, with where they are, not an answer.
    text = (BUNDLED_CORPUS / "news/2025-07-01-un-appeal.md").read_text(encoding="utf-8")
    assert 1 <= len(answer["nearest"]) <= 3
    assert all(n["quote"] in text and n["end"] - n["start"] == len(n["quote"]) for n in answer["nearest"])
    assert cli(["ask", "--corpus", str(BUNDLED_CORPUS), "What is China's position on the war?"]) == 0
    first, _, rest = capsys.readouterr().out.partition("\n\n")
    assert first == ABSTENTION_REPLY
    assert rest.startswith("The closest sentences found (the assistant did not take them for an answer):")
    assert answer["nearest"][0]["quote"].split()[0] in rest


def test_ask_prints_the_answer_and_its_sources(indexed: None, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(["ask", "--corpus", str(BUNDLED_CORPUS), "Where were the peace talks held?"]) == 0
    out = capsys.readouterr().out
    assert "Istanbul" in out and "[1]" in out
    assert "Sources:" in out and "[1] International Appeal" in out


@pytest.mark.usefixtures("fake_embeddings")
def test_retrieve_json_lists_ranked_chunks_with_metadata(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(["ingest", "--corpus", str(DATA / "aliases")]) == 0
    capsys.readouterr()
    assert cli(["retrieve", "--corpus", str(DATA / "aliases"), "--json", "--k", "2", "Russia"]) == 0
    results = json.loads(capsys.readouterr().out)
    assert [r["rank"] for r in results] == [1, 2]
    assert results[0]["doc_id"] == "kremlin-signals-talks"
    assert {"score", "text", "chunk_id", "title", "source", "start", "end", "tags"} <= set(results[0])


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["ask", "What is going on?"], "run `assistant ingest` first"),
        (["ask", "   "], "question is empty"),
        (["ask", "--k", "0", "Anything?"], "k must be between"),
        (["ask", "--since", "yesterday", "Anything?"], "YYYY-MM-DD"),
        (
            ["ask", "--since", "2025-W27-1", "Anything?"],
            "The start date '2025-W27-1' is not a date; write it as YYYY-MM-DD",
        ),
        (["retrieve", "--until", "20250601", "Anything?"], "The end date '20250601' is not a date"),
        (["ask", "--since", "2025-02-30", "Anything?"], "not a day of the calendar"),
        (["ingest", "--corpus", "/nonexistent/corpus"], "does not exist"),
    ],
)
def test_errors_are_one_line_on_stderr_with_a_nonzero_exit(
    argv: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli([*argv[:1], "--corpus", str(tmp_path), *argv[1:]] if "--corpus" not in argv else argv) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1 and captured.err.startswith("error: ") and message in captured.err


def test_console_script_runs_from_the_shell(tmp_path: Path) -> None:
    script = Path(sys.executable).parent / "assistant"
    result = subprocess.run(
        [str(script), "ask", "--corpus", str(tmp_path), "Anything?"], capture_output=True, text=True
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr and "run `assistant ingest` first" in result.stderr


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("ASSISTANT_K", "lots", "ASSISTANT_K='lots' is not valid; set it to a whole number from 1 to 50."),
        ("ASSISTANT_K", "0", "ASSISTANT_K='0' is not valid; set it to a whole number from 1 to 50."),
        ("ASSISTANT_DENSE_WEIGHT", "2", "ASSISTANT_DENSE_WEIGHT='2' is not valid; set it to a number from 0 to 1."),
        ("ASSISTANT_MAX_UPLOAD_MB", "0", "set it to a number above 0 and at most 50."),
        (
            "ASSISTANT_CHUNK_OVERLAP",
            "900",
            "ASSISTANT_CHUNK_OVERLAP (900) must be smaller than ASSISTANT_CHUNK_SIZE (900).",
        ),
    ],
)
def test_a_bad_setting_is_one_line_naming_the_variable_and_its_range(
    variable: str, value: str, message: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(variable, value)
    assert cli(["settings"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ") and message in err


def test_a_damaged_catalog_is_one_line_that_says_how_to_rebuild(
    indexed: None, isolated_index: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    [catalog] = isolated_index.rglob("catalog.sqlite")
    catalog.write_bytes(b"this is not a database" * 100)
    assert cli(["ingest", "--corpus", str(BUNDLED_CORPUS)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"the local index in {isolated_index} is damaged" in err
    assert "delete that folder and run `assistant ingest` again" in err


def test_output_into_a_pipe_that_closes_stops_quietly() -> None:
    """`assistant settings | head -1`: the reader goes away; no error line, no traceback."""
    command = [str(Path(sys.executable).with_name("assistant")), "settings"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert process.stdout is not None and process.stderr is not None
    process.stdout.close()  # before anything is written: every write finds the pipe closed
    stderr = process.stderr.read().decode()
    assert process.wait(timeout=60) == 141 and stderr == ""
