"""The web chat (Gradio): `assistant serve` mounts it at / beside the REST API.

`build_ui` makes the Blocks without launching them; `ChatHandlers` holds the event handlers, callable
directly from tests. Library errors become a short message in the page (a gr.Error, or a warning from
the chat event); a traceback never does.
"""

from __future__ import annotations

import html
import logging
import sys
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr

from assistant.errors import AssistantError, IndexMissingError
from assistant.ingest.load import UPLOAD_SUFFIXES, file_type_names
from assistant.limits import MAX_HISTORY_TURNS, MAX_QUESTION_CHARS, parse_history, parse_k
from assistant.pipeline import AnswerMode, Assistant
from assistant.retrieval.timeframe import parse_date
from assistant.serve import render
from assistant.serve.feedback import Verdict, record_feedback
from assistant.serve.sources_ui import sources_tab
from assistant.settings import Settings
from assistant.sources.schedule import Schedule
from assistant.types import Answer, make_filters

# Questions the bundled corpus answers; shown while the chat is empty.
EXAMPLE_QUESTIONS = (
    "What are Russia's preconditions?",
    "Where were the two rounds of peace talks held earlier in 2025?",
    "What did UN Secretary-General Guterres call for?",
)
EMPTY_QUESTION = "Type a question about the corpus first."
UNEXPECTED_ERROR = "Something went wrong on the server; the server log has the details. Please try again."
FEEDBACK_SAVED = "Thanks, your feedback was saved."
NOT_ANSWERED = "Could not answer"
NOT_UPLOADED = "That file was not uploaded from this page; choose the file with the upload box."

_log = logging.getLogger(__name__)

Message = dict[str, str]


@dataclass(frozen=True)
class Turn:
    """One question and its answer, with the sources panel section rendered for it."""

    answer: Answer
    sources: str


def history_of(turns: list[Turn]) -> list[tuple[str, str]]:
    """The conversation as the pipeline takes it: (question, answer) pairs, oldest first."""
    return [(turn.answer.question, turn.answer.text) for turn in turns]


def messages_of(turns: list[Turn]) -> list[Message]:
    """The chat's messages for the finished turns."""
    messages: list[Message] = []
    for number, turn in enumerate(turns):
        messages.append({"role": "user", "content": render.question_html(turn.answer.question)})
        messages.append({"role": "assistant", "content": render.final_answer_html(turn.answer, number)})
    return messages


def sources_of(turns: list[Turn]) -> str:
    return render.sources_panel([(turn.answer.question, turn.sources) for turn in turns])


class ChatHandlers:
    """The event handlers of the chat, over one assistant."""

    def __init__(self, assistant: Assistant, feedback_path: Path | None = None, uploaded: Collection[str] = ()) -> None:
        """uploaded: the paths of the files Gradio received from browsers (build_ui passes its live set)."""
        self.assistant = assistant
        self.feedback_path = feedback_path or assistant.settings.feedback_path
        self.uploaded = uploaded

    def check(
        self, question: str, date_from: str | None = None, date_to: str | None = None, as_of: str | None = None
    ) -> None:
        """Refuse an empty question or a bad date before the chat changes: raises gr.Error with the reason."""
        if not (question or "").strip():
            raise gr.Error(EMPTY_QUESTION, print_exception=False)
        try:
            make_filters(None, (date_from or "").strip(), (date_to or "").strip())
            parse_date(as_of)
        except AssistantError as exc:
            raise gr.Error(_toast(exc), print_exception=False) from None

    def respond(
        self,
        question: str,
        turns: list[Turn] | None,
        k: float | None = None,
        date_from: str | None = None,
        date_to: str | None = None,
        mode: AnswerMode | None = None,
        as_of: str | None = None,
        voices: list[str] | None = None,
    ) -> Iterator[tuple[str, list[Message], list[Turn], str]]:
        """Answer a question as it is composed: yields (question box, messages, turns, sources panel).

        When answering fails, the chat is put back as it was, the question back in its box, and the reason
        shown as a warning. (A gr.Error raised here would cover the chat with an error badge.)
        """
        turns = list(turns or [])
        number = len(turns)
        asked = {"role": "user", "content": render.question_html(question)}
        try:
            filters = make_filters(None, (date_from or "").strip(), (date_to or "").strip(), voices=voices)
            history = history_of(turns)[-MAX_HISTORY_TURNS:]  # only the latest turns matter for a follow-up
            stream = self.assistant.ask_stream(
                question, history, parse_k(k), filters or None, mode or None, as_of or None
            )
            text = ""
            yield "", [*messages_of(turns), asked], turns, render.pending_sources(question)
            for event in stream:
                if isinstance(event, Answer):
                    turns.append(Turn(event, render.sources_html(event, number)))
                    yield "", messages_of(turns), turns, sources_of(turns)
                    return
                text += event
                reply = {"role": "assistant", "content": render.answer_html(text, number)}
                yield "", [*messages_of(turns), asked, reply], turns, render.pending_sources(question)
        except AssistantError as exc:
            gr.Warning(_toast(exc), title=NOT_ANSWERED)
        except Exception:
            _log.exception("answering %r failed", question)
            gr.Warning(UNEXPECTED_ERROR, title=NOT_ANSWERED)
        yield question, messages_of(turns), turns, sources_of(turns)

    def feedback(self, turns: list[Turn] | None, index: int, liked: bool | str | None) -> dict[str, Any] | None:
        """Record a thumbs up/down on the assistant message at index; returns the record written, if any."""
        turns = list(turns or [])
        verdict = _verdict(liked)
        number, is_reply = divmod(index, 2)
        if verdict is None or not is_reply or not 0 <= number < len(turns):
            return None
        try:
            return record_feedback(self.feedback_path, turns[number].answer, history_of(turns[:number]), verdict)
        except OSError as exc:
            _log.exception("writing feedback failed")
            raise gr.Error(f"The feedback could not be saved ({exc.strerror or exc}).", print_exception=False) from None

    def on_like(self, turns: list[Turn] | None, data: gr.LikeData) -> None:
        """The chat's like event: records the verdict and says so."""
        index = data.index if isinstance(data.index, int) else data.index[0]
        if self.feedback(turns, index, data.liked) is not None:
            gr.Info(FEEDBACK_SAVED)

    def upload(self, path: str | None, replace: bool = False) -> tuple[str, None]:
        """Add an uploaded file to the corpus; returns the result to show and clears the file input.

        Only a file that the browser uploaded to this server is read: the event's payload names a path, and
        a path Gradio did not receive as an upload (a server file, a downloaded URL) is refused unread.
        """
        if not path:
            return render.upload_refused("No file was received; choose a file to upload."), None
        if not self._was_uploaded(path):
            _log.warning("refused an upload event naming %r: not a file this server received", path)
            return render.upload_refused(NOT_UPLOADED), None
        name = Path(path).name
        try:
            # Gradio has already refused files over the size limit, so reading this one whole is fine.
            stored = self.assistant.add_document(name, Path(path).read_bytes(), replace=bool(replace))
        except AssistantError as exc:
            return render.upload_refused(str(exc)), None
        except Exception:
            _log.exception("adding %r failed", name)
            return render.upload_refused(UNEXPECTED_ERROR), None
        return render.upload_added(stored), None

    def _was_uploaded(self, path: str) -> bool:
        """Whether path is a file Gradio stored from a browser upload (and still inside its upload folder)."""
        from gradio.utils import get_upload_folder, is_in_or_equal

        return path in self.uploaded and is_in_or_equal(path, get_upload_folder()) and Path(path).is_file()

    def ask_api(
        self,
        question: str,
        history: list[list[str]] | None = None,
        k: int | float | str | None = None,
        as_of: str | None = None,
    ) -> dict[str, Any]:
        """Answer a question (history: earlier [question, answer] pairs; as_of: YYYY-MM-DD, default today);
        returns what `assistant ask --json` prints.

        The same limits as the REST API: at most MAX_HISTORY_TURNS turns of history, each text at most
        MAX_TURN_CHARS.
        """
        try:
            answer = self.assistant.ask(question, parse_history(history), k=parse_k(k), as_of=as_of or None)
        except AssistantError as exc:  # an API client reads the message as text: not escaped
            raise gr.Error(str(exc), print_exception=False) from None
        return answer.to_json()


def _toast(exc: Exception) -> str:
    """An error's message for a Gradio toast, which renders HTML: escaped, so input quoted in it stays text."""
    return html.escape(str(exc), quote=False)


def _verdict(liked: bool | str | None) -> Verdict | None:
    if liked is True or liked == "Like":
        return "up"
    if liked is False or liked == "Dislike":
        return "down"
    return None  # a vote taken back, or a feedback option we do not record


def _example_text(event: gr.SelectData) -> str:
    return str(event.value["text"])


def _date_range(assistant: Assistant) -> tuple[str, str] | None:
    """The first and last date the indexed documents carry, or None when none is dated."""
    try:
        status = assistant.status()
    except IndexMissingError:
        return None
    return (status.first_date, status.last_date) if status.first_date and status.last_date else None


def build_ui(assistant: Assistant, schedule: Schedule | None = None) -> gr.Blocks:
    """The chat as Gradio Blocks, not launched; `serve` mounts it with `page_options`. schedule: the server's
    background syncs, whose state the Sources tab shows."""
    handlers = ChatHandlers(assistant)
    settings = assistant.settings
    dates = _date_range(assistant)
    modes = [("Extractive: quotes the corpus", "extractive")]
    if assistant.chat_model:
        modes.append((f"Chat model: {assistant.chat_model}", "chat"))
    with gr.Blocks(title="Conflict-corpus assistant", analytics_enabled=False) as blocks:
        handlers.uploaded = blocks.upload_file_set  # the files Gradio's upload route received, kept up to date
        turns = gr.State([])
        gr.HTML(
            '<header class="app-header"><h1>Conflict-corpus assistant</h1>'
            "<p>Answers from the news corpus on the Russia–Ukraine war alone, with a source for every claim.</p>"
            "</header>"
        )
        with gr.Tabs(elem_id="tabs"):
            with gr.Tab("Chat", elem_id="chat-tab"), gr.Row(equal_height=False, elem_id="layout"):
                with gr.Column(scale=3, min_width=320, elem_id="chat-column"):
                    chatbot = gr.Chatbot(
                        elem_id="chat",
                        label="Chat",
                        show_label=False,
                        height="62vh",
                        min_height=320,
                        examples=[{"text": question} for question in EXAMPLE_QUESTIONS],
                        placeholder="**Ask about the corpus.** Every answer quotes its sources; "
                        "pick an example to start.",
                        feedback_options=("Like", "Dislike"),
                        latex_delimiters=[],
                        sanitize_html=True,
                        allow_tags=False,
                        buttons=[],
                        group_consecutive_messages=False,
                    )
                    question = gr.Textbox(
                        elem_id="question",
                        show_label=False,
                        placeholder="Ask a question, e.g. What are Russia's preconditions?",
                        submit_btn="Ask",
                        max_length=MAX_QUESTION_CHARS,
                        autofocus=True,
                    )
                    with gr.Accordion("Settings", open=False, elem_id="settings"):
                        voice_choices = assistant.voices()
                        voices = gr.Dropdown(
                            voice_choices,
                            value=[],
                            multiselect=True,
                            label="Voices",
                            info="Answer only from documents of these voices (whose position they state).",
                            visible=bool(voice_choices),
                            elem_id="voices",
                        )
                        k = gr.Slider(1, max(20, settings.k), value=settings.k, step=1, label="Passages retrieved")
                        with gr.Row(visible=dates is not None):
                            info = f"Documents are dated {dates[0]} to {dates[1]}." if dates else None
                            date_from = gr.Textbox(
                                label="From date", placeholder="YYYY-MM-DD", info=info, min_width=140
                            )
                            date_to = gr.Textbox(label="To date", placeholder="YYYY-MM-DD", min_width=140)
                        as_of = gr.Textbox(
                            label="As of",
                            placeholder="YYYY-MM-DD (default: today)",
                            info="Answer as on this date: later documents are not used, and 'this week' means the "
                            "week before it.",
                            elem_id="as-of",
                        )
                        mode = gr.Radio(
                            modes,
                            value=modes[-1][1],
                            label="Answer mode",
                            info=None if assistant.chat_model else "Set ASSISTANT_LLM to answer with a chat model.",
                            interactive=len(modes) > 1,
                        )
                    with gr.Accordion("Add a document", open=False, elem_id="add-document"):
                        upload = gr.File(
                            label=f"A {file_type_names(uploads=True)} file, up to {settings.max_upload_mb:g} MB",
                            file_types=list(UPLOAD_SUFFIXES),
                            type="filepath",
                            elem_id="upload",
                        )
                        replace = gr.Checkbox(
                            label="Replace an earlier upload of the same name",
                            info="Otherwise a file whose name is taken is saved under a new one (report-2.txt).",
                            elem_id="upload-replace",
                        )
                        upload_result = gr.HTML(elem_id="upload-result")
                with gr.Column(scale=2, min_width=280, elem_id="sources-column"):
                    sources = gr.HTML(render.sources_panel([]), label="Sources", elem_id="sources")
            with gr.Tab("Sources", elem_id="sources-tab"):
                sources_tab(assistant, schedule)

        ask_inputs = [question, turns, k, date_from, date_to, mode, as_of, voices]
        ask_outputs = [question, chatbot, turns, sources]
        check_inputs = [question, date_from, date_to, as_of]
        # A question is checked in an event of its own: its gr.Error then shows as a message only, while
        # an error in the event that updates the chat would also cover the chat with an error badge.
        question.submit(handlers.check, check_inputs, None, api_visibility="private").success(
            handlers.respond, ask_inputs, ask_outputs, api_visibility="private", show_progress="hidden"
        )
        chatbot.example_select(_example_text, None, question, api_visibility="private").success(
            handlers.respond, ask_inputs, ask_outputs, api_visibility="private", show_progress="hidden"
        )
        chatbot.like(handlers.on_like, turns, None, api_visibility="private")
        # The chat's clear (trash) button empties the chat; the conversation and its sources go with it.
        chatbot.clear(lambda: ([], render.sources_panel([])), None, [turns, sources], api_visibility="private")
        upload.upload(handlers.upload, [upload, replace], [upload_result, upload], api_visibility="private")
        gr.api(handlers.ask_api, api_name="ask")
    return blocks


def serve(settings: Settings, host: str = "127.0.0.1", port: int = 7860) -> None:
    """Serve the chat at / with the REST API beside it, until interrupted."""
    import uvicorn

    from assistant.serve.api import check_exposure, create_app, server_options
    from assistant.serve.page import page_options

    check_exposure(settings, host)
    assistant = Assistant(settings)
    try:
        assistant.status()  # raises when the corpus has no index yet
    except IndexMissingError:
        print(f"No index for {settings.corpus_dir} yet; indexing it first.", file=sys.stderr, flush=True)
        assistant.ingest()
    assistant.retrieve("warm up", k=1)  # load the model now, not on the first question
    schedule = Schedule(settings, assistant.ingest)
    blocks = build_ui(assistant, schedule)
    app = gr.mount_gradio_app(create_app(assistant, schedule), blocks, path="/", **page_options(settings))
    # Gradio checks that a file named in an event's payload was uploaded (and copies nothing else into its
    # cache) only once the app counts as launched, which mounting alone does not do.
    blocks.has_launched = True
    shown = f"[{host}]" if ":" in host else host
    print(f"The chat is at http://{shown}:{port}/ (REST API beside it); Ctrl+C stops it.", file=sys.stderr, flush=True)
    uvicorn.run(app, host=host, port=port, log_level="warning", **server_options(settings))
