"""The web chat in a real headless Chromium against `assistant serve`, and its Gradio API through gradio_client.

One server process serves the whole module. Screenshots go to test-artifacts/ (git-ignored). Without
Chromium the browser tests are skipped, unless ASSISTANT_REQUIRE_BROWSER=1 (as in CI), when they fail.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from assistant.serve.render import ABSTENTION_LABEL
from assistant.serve.ui import EMPTY_QUESTION, EXAMPLE_QUESTIONS, FEEDBACK_SAVED

from .conftest import BUNDLED_CORPUS, ROOT

pytestmark = pytest.mark.browser

PRECONDITIONS = "What are Russia's preconditions?"
FOLLOW_UP = "And what does Ukraine want?"
UNANSWERABLE = "Who won the football world cup in 1966?"
ODESA = "Odesa grain port reopens\n\nThe grain port of Odesa reopened on Monday after repairs, port officials said.\n"
MARKUP = (
    "Kharkiv shelter drill\n\nThe shelter drill in Kharkiv ended at noon. "
    "<script>window.__pwned = 1; alert('script ran')</script> Officials said "
    "<img src=x onerror=\"window.__pwned = 2; alert('onerror ran')\"> the drill went well.\n"
)
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]  # fmt: skip
ARTIFACTS = ROOT / "test-artifacts"
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
ANSWER_TIMEOUT_MS = 60_000
# Records the length of the first answer's text each time the chat changes, to see it stream.
WATCH_ANSWER_GROW = """() => {
  window.answerLengths = [];
  new MutationObserver(() => {
    const answer = document.querySelector('#chat .answer');
    if (answer) window.answerLengths.push(answer.textContent.length);
  }).observe(document.querySelector('#chat'), {subtree: true, childList: true, characterData: true});
}"""


def _require_browser() -> None:
    """Skip (or, with ASSISTANT_REQUIRE_BROWSER=1, fail) when Chromium or Playwright is missing."""
    reason = None
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        reason = "the playwright package is not installed (pip install -e '.[dev]')"
    if not Path(CHROMIUM).exists():
        reason = "Chromium is not installed (apt-get install chromium, or `make browser`)"
    if reason and os.environ.get("ASSISTANT_REQUIRE_BROWSER") == "1":
        pytest.fail(f"browser tests required but {reason}")
    if reason:
        pytest.skip(reason)


@dataclass
class Server:
    url: str
    root: Path

    @property
    def feedback(self) -> Path:
        return self.root / "feedback.jsonl"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _command(*args: str) -> list[str]:
    script = Path(sys.executable).with_name("assistant")
    if script.exists():
        return [str(script), *args]
    return [sys.executable, "-c", "from assistant.cli import main; main()", *args]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """`assistant serve` on a free loopback port over a copy of the bundled corpus, indexed first."""
    root = tmp_path_factory.mktemp("served")
    shutil.copytree(BUNDLED_CORPUS, root / "corpus")
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASSISTANT_") or k == "ASSISTANT_REQUIRE_BROWSER"}
    env.update(
        ASSISTANT_CORPUS_DIR=str(root / "corpus"),
        ASSISTANT_INDEX_DIR=str(root / "index"),
        ASSISTANT_FEEDBACK_PATH=str(root / "feedback.jsonl"),
        GRADIO_TEMP_DIR=str(root / "gradio"),  # Gradio's upload folder, to see what lands there
        HF_HUB_OFFLINE="1",
        GRADIO_ANALYTICS_ENABLED="False",
    )
    ingest = subprocess.run(_command("ingest"), env=env, cwd=root, capture_output=True, text=True, timeout=600)
    if ingest.returncode:
        pytest.fail(f"`assistant ingest` failed ({ingest.returncode}):\n{ingest.stderr[-2000:]}")
    port = _free_port()
    log = root / "serve.log"
    with log.open("wb") as out:
        process = subprocess.Popen(_command("serve", "--port", str(port)), env=env, cwd=root, stdout=out, stderr=out)
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 300
        while True:
            if process.poll() is not None:
                pytest.fail(f"`assistant serve` exited with {process.returncode}:\n{log.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(url, timeout=5) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"`assistant serve` did not answer within 300 s:\n{log.read_text()[-2000:]}")
            time.sleep(0.5)
        yield Server(url, root)
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    _require_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@dataclass
class Session:
    """A page on the chat that records every request it makes and every dialog it opens."""

    page: Any
    origin: str
    requests: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)

    def open(self, viewport: dict[str, int]) -> None:
        self.page.set_viewport_size(viewport)
        self.page.goto(self.origin)
        self.page.wait_for_selector("#chat")

    def ask(self, question: str) -> Any:
        """Type a question, send it, wait until the answer and its sources are complete; returns the reply."""
        self.page.fill("#question textarea", question)
        self.page.press("#question textarea", "Enter")
        return self.wait_for_answer(question)

    def wait_for_answer(self, question: str) -> Any:
        # The panel names the question only once the answer is complete.
        self.page.locator("#sources .sources-for", has_text=question).first.wait_for(timeout=ANSWER_TIMEOUT_MS)
        return self.page.locator("#chat .answer, #chat .abstention").last

    def upload(self, path: Path) -> str:
        accordion = self.page.locator("#add-document")
        if not self.page.locator("#upload input[type=file]").count():
            accordion.get_by_text("Add a document").click()
        result = self.page.locator("#upload-result .upload-result")
        before = result.inner_text() if result.count() else ""
        self.page.set_input_files("#upload input[type=file]", str(path))
        self.page.wait_for_function(  # a new result, not the one of an earlier upload
            "before => { const e = document.querySelector('#upload-result .upload-result');"
            " return e !== null && e.innerText !== before; }",
            arg=before,
            timeout=ANSWER_TIMEOUT_MS,
        )
        return str(result.inner_text())

    def uncovered(self, element: Any) -> bool:
        """Whether the element is what a user sees at its own top-left corner (nothing lies over it)."""
        element.scroll_into_view_if_needed()
        return bool(
            element.evaluate(
                "e => { const r = e.getBoundingClientRect();"
                " return e.contains(document.elementFromPoint(r.left + 8, r.top + 8)); }"
            )
        )

    def screenshot(self, name: str, full_page: bool = True) -> None:
        ARTIFACTS.mkdir(exist_ok=True)
        self.page.screenshot(path=str(ARTIFACTS / name), full_page=full_page)

    def assert_offline(self) -> None:
        """No request left the server: no web fonts, scripts or images from elsewhere."""
        elsewhere = [url for url in self.requests if not url.startswith((self.origin, "data:", "blob:"))]
        assert not elsewhere, f"requests left 127.0.0.1: {elsewhere}"


@pytest.fixture
def chat(browser: Any, server: Server) -> Iterator[Session]:
    context = browser.new_context()
    page = context.new_page()
    session = Session(page, server.url)
    page.on("request", lambda request: session.requests.append(request.url))

    def dismiss(dialog: Any) -> None:
        session.dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", dismiss)
    yield session
    context.close()


def test_ask_an_example_jump_to_its_source_and_follow_up(chat: Session, server: Server) -> None:
    from playwright.sync_api import expect

    chat.open(DESKTOP)
    page = chat.page
    chat.screenshot("desktop-empty.png")
    page.evaluate(WATCH_ANSWER_GROW)
    page.locator("#chat").get_by_text(EXAMPLE_QUESTIONS[0]).click()
    page.locator("#chat a.cite", has_text="[1]").first.wait_for(timeout=ANSWER_TIMEOUT_MS)
    answer = chat.wait_for_answer(PRECONDITIONS)
    assert "[1]" in answer.inner_text() and "[2]" in answer.inner_text()
    assert len(set(page.evaluate("window.answerLengths"))) >= 3, "the answer appeared piece by piece"

    answer.locator("a.cite", has_text="[2]").click()
    source = page.locator("#source-0-2")
    expect(source).to_be_in_viewport(ratio=0.9)
    expect(source).to_have_class(re.compile(r"\bflash\b"))
    expect(source.locator("mark")).to_contain_text("cede territory and end Western military support")
    assert "#" not in page.url, "the click scrolled the panel, it did not navigate"
    chat.screenshot("desktop-answer.png", full_page=False)

    follow_up = chat.ask(FOLLOW_UP)
    expect(follow_up).to_contain_text("direct meeting between Zelensky and Putin")
    expect(page.locator("#sources details.earlier")).to_contain_text(PRECONDITIONS)
    page.locator("#chat .answer").first.locator("a.cite", has_text="[1]").click()  # an earlier answer's [1]
    expect(page.locator("#source-0-1")).to_be_in_viewport(ratio=0.9)  # its folded sources open to show it

    chat.screenshot("desktop-follow-up.png", full_page=False)

    page.locator("#chat button[aria-label='Like']").last.click()
    expect(page.get_by_text(FEEDBACK_SAVED)).to_be_visible()
    assert '"verdict": "up"' in server.feedback.read_text(encoding="utf-8")

    # Bad input: a short message, the chat stays in view and the question in its box.
    page.press("#question textarea", "Enter")
    expect(page.get_by_text(EMPTY_QUESTION)).to_be_visible()
    page.locator("#settings").get_by_text("Settings").click()
    page.locator("#settings textarea").first.fill("July 2025")
    page.fill("#question textarea", UNANSWERABLE)
    page.press("#question textarea", "Enter")
    expect(page.get_by_text("is not a date; write it as YYYY-MM-DD")).to_be_visible()
    expect(page.locator("#question textarea")).to_have_value(UNANSWERABLE)
    expect(page.locator("#chat .answer")).to_have_count(2)
    assert chat.uncovered(page.locator("#chat .answer").last), "no error badge hides the chat"
    chat.screenshot("desktop-error.png", full_page=False)
    chat.assert_offline()


def test_phone_width_stacks_chat_and_sources(chat: Session) -> None:
    from playwright.sync_api import expect

    chat.open(PHONE)
    page = chat.page
    chat.ask(PRECONDITIONS)
    chat_box = page.locator("#chat-column").bounding_box()
    sources_box = page.locator("#sources-column").bounding_box()
    assert sources_box["y"] >= chat_box["y"] + chat_box["height"] - 1, "the sources sit below the chat"
    assert sources_box["width"] > PHONE["width"] * 0.8, "each takes the full width"
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"], "nothing overflows sideways"

    source = page.locator("#source-0-1")
    expect(source).not_to_be_in_viewport()
    page.locator("#chat a.cite", has_text="[1]").first.click()
    expect(source).to_be_in_viewport(ratio=0.9)
    page.wait_for_function(  # the source comes to the top of the screen once the smooth scroll ends
        "id => { const top = document.getElementById(id).getBoundingClientRect().top;"
        " return top >= 0 && top < innerHeight / 4; }",
        arg="source-0-1",
        timeout=5000,
    )
    chat.screenshot("phone-source.png", full_page=False)

    reply = chat.ask(UNANSWERABLE)
    expect(reply).to_have_class(re.compile(r"\babstention\b"))
    expect(reply).to_contain_text(ABSTENTION_LABEL, ignore_case=True)
    assert reply.evaluate("e => getComputedStyle(e).borderLeftStyle") == "solid", "styled apart from answers"
    page.locator("#chat").evaluate("e => e.scrollIntoView()")
    chat.screenshot("phone.png")
    chat.assert_offline()


def test_an_uploaded_document_is_answerable_at_once(chat: Session, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    chat.open(DESKTOP)
    path = tmp_path / "odesa-port.txt"
    path.write_text(ODESA, encoding="utf-8")
    result = chat.upload(path)
    assert "Added odesa-port.txt" in result and "1 chunk added" in result
    reply = chat.ask("When did the Odesa grain port reopen?")
    expect(reply).to_contain_text("Monday")
    expect(chat.page.locator("#sources .source").first).to_contain_text("Odesa grain port reopens")
    chat.screenshot("desktop-upload.png", full_page=False)
    again = chat.upload(path)  # the same name again: kept apart, and the page says so
    assert "under the new name uploads/odesa-port-2.txt" in again and "Replace" in again
    chat.page.locator("#upload-result").scroll_into_view_if_needed()
    chat.screenshot("desktop-upload-again.png", full_page=False)


def test_markup_in_a_document_runs_nothing(chat: Session, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    chat.open(DESKTOP)
    page = chat.page
    path = tmp_path / "drill.txt"
    path.write_text(MARKUP, encoding="utf-8")
    assert "1 chunk added" in chat.upload(path)
    reply = chat.ask("When did the shelter drill in Kharkiv end?")
    expect(reply).to_contain_text("<script>window.__pwned = 1;")  # shown as text
    expect(page.locator("#sources .source").first).to_contain_text("<img src=x onerror=")
    page.wait_for_timeout(500)  # time for an onerror to fire, were there an <img>
    assert page.evaluate("window.__pwned") is None and chat.dialogs == []
    assert page.locator("#chat img[src=x], #sources img, #chat script, #sources script").count() == 0
    chat.screenshot("desktop-markup.png", full_page=False)
    chat.assert_offline()


def test_the_gradio_api_answers_the_same_question(server: Server) -> None:
    from gradio_client import Client

    client = Client(server.url, verbose=False)
    answer = client.predict(PRECONDITIONS, api_name="/ask")
    assert not answer["abstained"] and "[1]" in answer["answer"] and "[2]" in answer["answer"]
    assert [c["n"] for c in answer["citations"]][:2] == [1, 2]
    assert "cede territory" in answer["answer"]
    follow_up = client.predict(FOLLOW_UP, [[PRECONDITIONS, answer["answer"]]], api_name="/ask")
    assert "direct meeting between Zelensky and Putin" in follow_up["answer"]


def _queue_event(url: str, trigger: int, first: Any) -> dict[str, Any]:
    """Run the event that a component's upload starts, as the page does (join the queue, read its stream), with
    first as the component's value and the event's other inputs left empty."""
    import httpx

    config = httpx.get(f"{url}config", timeout=30).json()
    [event] = [dep for dep in config["dependencies"] if [trigger, "upload"] in dep["targets"]]
    data = [first] + [None] * (len(event["inputs"]) - 1)
    session = "attack-session"
    body = {"data": data, "fn_index": event["id"], "trigger_id": trigger, "session_hash": session, "event_data": None}
    joined = httpx.post(f"{url}gradio_api/queue/join", json=body, timeout=30)
    assert joined.status_code == 200, joined.text
    with httpx.stream("GET", f"{url}gradio_api/queue/data", params={"session_hash": session}, timeout=120) as stream:
        for line in stream.iter_lines():
            message = json.loads(line[len("data:") :]) if line.startswith("data:") else {}
            if message.get("msg") == "process_completed":
                return dict(message)
    raise AssertionError("the event never completed")


def test_the_upload_event_never_reads_a_server_file(server: Server, tmp_path: Path) -> None:
    """The upload event's payload names a path; one the browser did not upload is refused and nothing of it is read."""
    import httpx

    secret = tmp_path / "server-notes.txt"
    secret.write_text("Server notes\n\nThe vault combination is 4417 and must stay on this machine.\n")
    config = httpx.get(f"{server.url}config", timeout=30).json()
    [upload] = [c["id"] for c in config["components"] if c.get("props", {}).get("elem_id") == "upload"]
    payload = {"path": str(secret), "orig_name": secret.name, "meta": {"_type": "gradio.FileData"}}
    completed = _queue_event(server.url, upload, payload)
    shown = json.dumps(completed.get("output", {}))
    assert not completed.get("success") or "not uploaded from this page" in shown, shown
    assert "Added" not in shown and "4417" not in shown
    assert not (server.root / "corpus" / "uploads" / secret.name).exists()
    copied = [p for p in (server.root / "gradio").rglob("*") if p.is_file() and "4417" in p.read_text(errors="ignore")]
    assert copied == [], "nothing of the file was copied into Gradio's cache"
    found = httpx.post(f"{server.url}v1/retrieve", json={"query": "vault combination", "k": 5}, timeout=60).json()
    assert all("4417" not in result["text"] for result in found["results"])


def test_markup_typed_in_a_date_is_shown_as_text(chat: Session) -> None:
    """The date field's error message quotes what was typed: as text, never as markup that runs."""
    from playwright.sync_api import expect

    chat.open(DESKTOP)
    page = chat.page
    page.locator("#settings").get_by_text("Settings").click()
    payload = '<img src=x onerror="window.__pwned = 3">'
    page.locator("#settings textarea").first.fill(payload)
    page.fill("#question textarea", PRECONDITIONS)
    page.press("#question textarea", "Enter")
    expect(page.get_by_text(f"The start date '{payload}' is not a date")).to_be_visible()
    page.wait_for_timeout(500)  # time for an onerror to fire, were there an <img>
    assert page.evaluate("window.__pwned") is None and page.locator("img[src=x]").count() == 0
    chat.screenshot("desktop-date-markup.png", full_page=False)
    page.locator("#add-document").get_by_text("Add a document").click()
    expect(page.locator("#upload-replace")).to_contain_text("Replace an earlier upload of the same name")
    page.locator("#upload-replace").scroll_into_view_if_needed()
    chat.screenshot("desktop-add-document.png", full_page=False)
