"""The web chat without a browser: the app builds without launching, and its handlers answer, stream,
remember the conversation, cite, abstain, take uploads and feedback, and turn errors into short messages."""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import gradio as gr
import pytest

from assistant.answer.base import ABSTENTION_REPLY
from assistant.errors import UsageError
from assistant.limits import MAX_HISTORY_TURNS
from assistant.pipeline import Assistant
from assistant.serve.page import page_options
from assistant.serve.render import (
    ABSTENTION_LABEL,
    CONTEXT_CHARS,
    NEAREST_LABEL,
    answer_html,
    passage_html,
    question_html,
    sources_html,
    sources_panel,
)
from assistant.serve.ui import EMPTY_QUESTION, EXAMPLE_QUESTIONS, ChatHandlers, Turn, build_ui, serve
from assistant.settings import Settings
from assistant.types import Answer, ChunkInfo, Citation, ScoredChunk, TimeFrame

from .conftest import BUNDLED_CORPUS

PRECONDITIONS = "What are Russia's preconditions?"
FOLLOW_UP = "And what does Ukraine want?"
UNANSWERABLE = "Who won the football world cup in 1966?"
MARKUP = '<script>window.pwned=1</script><img src=x onerror="window.pwned=2">'

Frame = tuple[str, list[dict[str, str]], list[Turn], str]


def ask(handlers: ChatHandlers, question: str, turns: list[Turn] | None = None, **options: object) -> list[Frame]:
    return list(handlers.respond(question, turns or [], **options))  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def chat(bundled: Assistant, tmp_path_factory: pytest.TempPathFactory) -> ChatHandlers:
    return ChatHandlers(bundled, feedback_path=tmp_path_factory.mktemp("feedback") / "feedback.jsonl")


@pytest.fixture(scope="module")
def first_turn(chat: ChatHandlers) -> list[Frame]:
    return ask(chat, PRECONDITIONS)


@pytest.fixture(scope="module")
def uploads(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChatHandlers]:
    """Handlers over a writable copy of the bundled corpus, with a 20 KB upload limit."""
    root = tmp_path_factory.mktemp("upload-corpus")
    shutil.copytree(BUNDLED_CORPUS, root / "corpus")
    settings = Settings(corpus_dir=root / "corpus", index_dir=root / "index", max_upload_mb=0.02)
    assistant = Assistant(settings)
    assistant.ingest()
    yield ChatHandlers(assistant, feedback_path=root / "feedback.jsonl", uploaded=set())


@pytest.fixture
def upload_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Gradio's upload folder for this test (GRADIO_TEMP_DIR), where its upload route stores what browsers send."""
    folder = tmp_path / "gradio"
    folder.mkdir()
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(folder))
    return folder


def received(handlers: ChatHandlers, folder: Path, name: str, data: bytes) -> str:
    """A file as Gradio's upload route leaves it: in its upload folder, and in the set of files it received."""
    path = folder / f"upload-{len(handlers.uploaded)}" / name
    path.parent.mkdir()
    path.write_bytes(data)
    handlers.uploaded.add(str(path))  # type: ignore[attr-defined]
    return str(path)


def test_the_app_builds_without_launching(bundled: Assistant) -> None:
    blocks = build_ui(bundled)
    assert isinstance(blocks, gr.Blocks)
    config = blocks.get_config_file()
    chatbots = [c["props"] for c in config["components"] if c["type"] == "chatbot"]
    assert [e["text"] for e in chatbots[0]["examples"]] == list(EXAMPLE_QUESTIONS)
    assert chatbots[0]["sanitize_html"] is True and chatbots[0]["latex_delimiters"] == []
    assert "ask" in {fn.api_name for fn in blocks.fns.values()}
    assert not blocks.is_running


def test_the_answer_streams_with_markers_then_settles_with_sources(first_turn: list[Frame]) -> None:
    streamed = [frame[1][-1]["content"] for frame in first_turn[1:-1]]
    assert len(streamed) >= 3, "the answer arrives in pieces"
    lengths = [len(content) for content in streamed]
    assert lengths == sorted(lengths) and lengths[0] < lengths[-1]
    box, messages, turns, sources = first_turn[-1]
    assert box == "" and [m["role"] for m in messages] == ["user", "assistant"]
    answer = turns[0].answer
    assert not answer.abstained and {1, 2} <= {c.n for c in answer.citations}
    assert "cede territory" in answer.text
    # [n] in the answer links to source n of this turn, which the panel holds with its quote marked
    assert '<a class="cite" href="#source-0-1"' in messages[1]["content"]
    assert 'id="source-0-1"' in sources and 'id="source-0-2"' in sources
    marked = re.findall(r"<mark>(.*?)</mark>", sources)
    assert any("cede territory" in m for m in marked)
    assert answer.citations[0].title in sources.replace("&#x27;", "'") and "2025-07-01" in sources


def test_a_follow_up_uses_the_conversation(chat: ChatHandlers, first_turn: list[Frame]) -> None:
    turns = first_turn[-1][2]
    _, messages, after, sources = ask(chat, FOLLOW_UP, turns)[-1]
    assert len(messages) == 4 and len(after) == 2
    assert "direct meeting between Zelensky and Putin" in after[1].answer.text
    assert 'href="#source-1-1"' in messages[3]["content"]
    # the latest answer's sources come first; the earlier ones are folded away below
    assert sources.index('id="source-1-1"') < sources.index("<details") < sources.index('id="source-0-1"')


def test_an_abstention_is_labelled_and_cites_nothing(chat: ChatHandlers) -> None:
    _, messages, turns, sources = ask(chat, UNANSWERABLE)[-1]
    assert turns[0].answer.abstained and turns[0].answer.text == ABSTENTION_REPLY
    reply = messages[-1]["content"]
    assert 'class="abstention"' in reply and ABSTENTION_LABEL in reply and "cite" not in reply
    assert "nothing is cited" in sources and 'class="source-n"' not in sources and 'id="source-' not in sources
    # The sentences that came closest are shown apart, for the reader to judge, each marked in its passage.
    assert NEAREST_LABEL in sources and 'class="source-list nearest"' in sources
    assert sources.count("<mark>") == len(turns[0].answer.nearest) >= 1


def test_an_empty_question_or_a_bad_date_is_refused_before_the_chat_changes(chat: ChatHandlers) -> None:
    with pytest.raises(gr.Error, match=EMPTY_QUESTION):
        chat.check("   ")
    with pytest.raises(gr.Error, match="YYYY-MM-DD") as raised:
        chat.check(PRECONDITIONS, date_from="July 2025")
    assert "Traceback" not in raised.value.message
    chat.check(PRECONDITIONS, date_from="2025-07-01", date_to="")


def test_a_failed_answer_puts_the_chat_back_and_says_why(chat: ChatHandlers, first_turn: list[Frame]) -> None:
    turns = first_turn[-1][2]
    with pytest.warns(UserWarning, match="YYYY-MM-DD"):
        frames = ask(chat, FOLLOW_UP, turns, date_to="soon")
    box, messages, after, sources = frames[-1]
    assert box == FOLLOW_UP, "the question goes back into its box"
    assert len(messages) == 2 and after == turns, "the conversation is as it was"
    assert 'id="source-0-1"' in sources
    with pytest.warns(UserWarning, match="question is empty"):
        assert ask(chat, "", turns)[-1][1] == messages


def test_chat_mode_without_a_chat_model_says_how_to_configure_one(chat: ChatHandlers) -> None:
    with pytest.warns(UserWarning, match="No chat model is configured; set ASSISTANT_LLM"):
        assert ask(chat, PRECONDITIONS, mode="chat")[-1][2] == []


@pytest.mark.parametrize(
    ("history", "k", "message"),
    [
        (None, "five", "k must be a whole number between 1 and 50, not 'five'"),
        (None, 2.5, "k must be a whole number between 1 and 50, not '2.5'"),
        (None, 51, "k must be between 1 and 50, not 51"),
        ([["q", "a"]] * (MAX_HISTORY_TURNS + 1), None, "send at most the last 20"),
        ([["only the question"]], None, "history must be a list of [question, answer] pairs"),
        ("not a list", None, "history must be a list"),
        ([["q", "a" * 8001]], None, "longer than 8000 characters"),
        (None, 0, "k must be between 1 and 50, not 0"),
    ],
)
def test_the_gradio_ask_endpoint_keeps_the_limits_of_every_entry_point(
    chat: ChatHandlers, history: list[list[str]] | None, k: object, message: str
) -> None:
    with pytest.raises(gr.Error, match=re.escape(message)):
        chat.ask_api(PRECONDITIONS, history, k)  # type: ignore[arg-type]


def test_settings_reach_retrieval(chat: ChatHandlers) -> None:
    _, _, turns, _ = ask(chat, PRECONDITIONS, k=1)[-1]
    assert len(turns[0].answer.retrieved) == 1
    _, _, turns, _ = ask(chat, PRECONDITIONS, date_from="2026-01-01")[-1]
    assert turns[0].answer.abstained and not turns[0].answer.retrieved, "no document is dated 2026"


def test_feedback_appends_question_set_lines(chat: ChatHandlers, first_turn: list[Frame]) -> None:
    turns = first_turn[-1][2]
    _, _, turns, _ = ask(chat, FOLLOW_UP, turns)[-1]
    assert chat.feedback(turns, 3, "Like") is not None
    assert chat.feedback(turns, 1, "Dislike") is not None
    assert chat.feedback(turns, 0, "Like") is None, "a question is not rated"
    assert chat.feedback(turns, 3, "") is None, "a vote taken back writes nothing"
    up, down = (json.loads(line) for line in chat.feedback_path.read_text(encoding="utf-8").splitlines()[-2:])
    assert up["question"] == FOLLOW_UP and up["history"] == [[PRECONDITIONS, turns[0].answer.text]]
    assert up["verdict"] == "up" and up["evidence"] == [c.quote for c in turns[1].answer.citations]
    assert down["verdict"] == "down" and down["history"] == [] and "evidence" not in down


def test_an_upload_is_answerable_at_once(uploads: ChatHandlers, upload_folder: Path) -> None:
    text = "Odesa grain port reopens\n\nThe grain port of Odesa reopened on Monday after repairs, officials said.\n"
    result, cleared = uploads.upload(received(uploads, upload_folder, "odesa-port.txt", text.encode()))
    assert cleared is None
    assert "upload-added" in result and "1 chunk added" in result and "uploads/odesa-port" in result
    _, _, turns, sources = ask(uploads, "When did the Odesa grain port reopen?")[-1]
    assert "Monday" in turns[0].answer.text and "Odesa grain port reopens" in sources


@pytest.mark.parametrize(
    ("name", "data", "reason"),
    [
        ("tool.exe", b"MZ\x90\x00", "not a supported type"),
        ("big.txt", b"word " * 10_000, "the limit is 0.02 MB"),
        ("broken.pdf", b"%PDF-1.4\nnot really a pdf\n", "not a readable PDF"),
        ("../../escape.txt", b"Escape\n\nA file that tries to leave the corpus folder.\n", None),
    ],
)
def test_a_bad_upload_is_refused_with_the_reason(
    uploads: ChatHandlers, upload_folder: Path, name: str, data: bytes, reason: str | None
) -> None:
    corpus = uploads.assistant.settings.corpus_dir
    before = sorted(p.relative_to(corpus.parent) for p in corpus.parent.rglob("*") if "index" not in p.parts)
    if reason is None:  # a name with folders: the folders are dropped, the file lands in the uploads folder
        assert uploads.assistant.add_document(name, data).doc_ids == ["uploads/escape"]
        assert (corpus / "uploads" / "escape.txt").exists() and not (corpus.parent.parent / "escape.txt").exists()
        return
    result, _ = uploads.upload(received(uploads, upload_folder, Path(name).name, data))
    assert "upload-refused" in result and reason in result
    after = sorted(p.relative_to(corpus.parent) for p in corpus.parent.rglob("*") if "index" not in p.parts)
    assert after == before, "nothing was written"


def test_only_files_the_browser_uploaded_are_read(uploads: ChatHandlers, upload_folder: Path, tmp_path: Path) -> None:
    """The upload event names a path; one Gradio did not receive from a browser is refused before it is read."""
    secret = tmp_path / "server-secret.txt"
    secret.write_text("Server secret\n\nThe vault code is 1234, and nobody should read it.\n")
    in_cache = upload_folder / "cached" / "copied.txt"  # in Gradio's folder (as a downloaded URL lands), not received
    in_cache.parent.mkdir()
    in_cache.write_bytes(secret.read_bytes())
    uploads.uploaded.add(str(secret))  # type: ignore[attr-defined]  # even a listed path must lie in the folder
    for path in (secret, in_cache, upload_folder / ".." / "server-secret.txt"):
        result, _ = uploads.upload(str(path))
        assert "upload-refused" in result and "not uploaded from this page" in result
    assert not (uploads.assistant.settings.corpus_dir / "uploads" / "server-secret.txt").exists()
    assert all("vault" not in r.chunk.text for r in uploads.assistant.retrieve("vault code", k=5))


def test_a_name_already_taken_gets_a_number_unless_replace_is_ticked(
    uploads: ChatHandlers, upload_folder: Path
) -> None:
    folder = uploads.assistant.settings.corpus_dir / "uploads"
    first = b"Mykolaiv bridge\n\nThe Mykolaiv bridge reopened to trucks on Tuesday.\n"
    second = b"Mykolaiv water\n\nMykolaiv restored its water supply on Thursday.\n"
    uploads.upload(received(uploads, upload_folder, "mykolaiv.txt", first))
    result, _ = uploads.upload(received(uploads, upload_folder, "mykolaiv.txt", second))
    assert "under the new name uploads/mykolaiv-2.txt" in result and "uploads/mykolaiv-2" in result
    assert (folder / "mykolaiv.txt").read_bytes() == first and (folder / "mykolaiv-2.txt").read_bytes() == second
    third = b"Mykolaiv port\n\nThe Mykolaiv port stayed closed on Friday.\n"
    result, _ = uploads.upload(received(uploads, upload_folder, "mykolaiv.txt", third), replace=True)
    assert "Updated <strong>mykolaiv.txt</strong> as uploads/mykolaiv" in result
    assert "It replaced uploads/mykolaiv.txt." in result
    assert (folder / "mykolaiv.txt").read_bytes() == third


def test_markup_in_a_document_is_shown_as_text(uploads: ChatHandlers, upload_folder: Path) -> None:
    text = f"Kharkiv shelter drill\n\nThe shelter drill in Kharkiv ended at noon {MARKUP} on Friday.\n"
    uploads.upload(received(uploads, upload_folder, "drill.txt", text.encode()))
    _, messages, _, sources = ask(uploads, "When did the shelter drill in Kharkiv end?")[-1]
    for html_text in (messages[-1]["content"], sources):
        assert "&lt;script&gt;" in html_text and "<script" not in html_text and "<img" not in html_text


def test_render_escapes_and_links_only_real_markers() -> None:
    assert question_html("<b>hi</b>\nthere") == '<div class="question">&lt;b&gt;hi&lt;/b&gt;<br>there</div>'
    rendered = answer_html("A [1] and [7] <i>x</i>\n\n![p](http://x/y.png)", 3, cited={1})
    assert '<a class="cite" href="#source-3-1"' in rendered and "#source-3-7" not in rendered and "[7]" in rendered
    assert "<i>" not in rendered and "\n" not in rendered, "one line of escaped HTML: no Markdown, no markup"


def _chunk(text: str, start: int) -> ChunkInfo:
    return ChunkInfo("d#0", "d", text, start, start + len(text), "T", "d.txt", None)


def test_the_quote_is_marked_by_its_document_offsets() -> None:
    text = "First sentence. The quoted one. Last."
    citation = Citation(1, "d", "T", "d.txt", None, "d#0", "The quoted one.", 116, 131)
    assert passage_html(citation, _chunk(text, 100)) == "First sentence. <mark>The quoted one.</mark> Last."
    long = "word " * 200 + "The quoted one." + " word" * 200
    clipped = passage_html(Citation(1, "d", "T", "d.txt", None, "d#0", "The quoted one.", 1000, 1015), _chunk(long, 0))
    assert clipped.startswith("…") and clipped.endswith("…") and len(clipped) < 2 * CONTEXT_CHARS + 60


def test_the_sources_say_how_the_time_in_the_question_was_read() -> None:
    chunk = _chunk("Said so.", 0)
    citation = Citation(1, "d", "T", "d.txt", "2025-07-01", "d#0", "Said so.", 0, 8)
    week = TimeFrame(dt.date(2025, 6, 24), dt.date(2025, 7, 1), "this <week>")
    answered = Answer("q", "Said so. [1]", (citation,), False, (ScoredChunk(chunk, 1.0, 1),), time_frame=week)
    line = '<p class="sources-time">&quot;this &lt;week&gt;&quot; was read as 2025-06-24 to 2025-07-01.</p>'
    assert line in sources_html(answered, 0)
    assert line in sources_html(Answer("q", ABSTENTION_REPLY, (), True, time_frame=week), 0)
    assert "sources-time" not in sources_html(Answer("q", "Said so. [1]", (citation,), False), 0)


def test_a_source_links_only_to_web_addresses() -> None:
    chunk = _chunk("Said so.", 0)
    for url, linked in (("https://example.org/a?b=1&c=2", True), ("javascript:alert(1)", False)):
        citation = Citation(1, "d", "T", "d.txt", "2025-07-01", "d#0", "Said so.", 0, 8, url)
        rendered = sources_html(Answer("q", "Said so. [1]", (citation,), False, (ScoredChunk(chunk, 1.0, 1),)), 0)
        assert ('href="https://example.org/a?b=1&amp;c=2"' in rendered) is linked
        assert "javascript:" not in rendered
    assert "Sources of the latest answer" in sources_panel([])


def test_markup_in_a_date_is_escaped_in_the_message(chat: ChatHandlers) -> None:
    """Gradio shows an error's message as HTML: the date typed in must come back as text."""
    with pytest.raises(gr.Error) as raised:
        chat.check(PRECONDITIONS, date_from=MARKUP)
    assert "&lt;script&gt;" in raised.value.message and "<script" not in raised.value.message
    with pytest.warns(UserWarning) as warned:
        ask(chat, PRECONDITIONS, date_to='<img src=x onerror="alert(1)">')
    assert "&lt;img" in str(warned[0].message) and "<img" not in str(warned[0].message)


def test_the_gradio_api_takes_k_as_a_number_or_text(chat: ChatHandlers) -> None:
    assert len(chat.ask_api(PRECONDITIONS, [], "2")["citations"]) >= 1
    assert chat.ask_api(PRECONDITIONS, [[PRECONDITIONS, "An answer."]] * 20, 3.0)["question"] == PRECONDITIONS


def test_serving_beyond_loopback_needs_an_api_key(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="without an API key.*ASSISTANT_API_KEY"):
        serve(Settings(corpus_dir=tmp_path), host="0.0.0.0", port=7860)


def test_an_api_key_puts_the_chat_behind_a_sign_in() -> None:
    sign_in = page_options(Settings(api_key="s3cret-sixteen-chars"))["auth"]
    assert sign_in("anyone", "s3cret-sixteen-chars") and not sign_in("anyone", "guess")
    assert "auth" not in page_options(Settings())
