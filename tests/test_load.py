from __future__ import annotations

import datetime as dt
import json
import logging
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from assistant.errors import CorpusError, UsageError
from assistant.ingest.load import FILE_TYPES, SUPPORTED_SUFFIXES, UPLOAD_SUFFIXES, doc_id_for, load_corpus
from assistant.ingest.sync import ingest
from assistant.ingest.upload import upload_name
from assistant.settings import Settings

from .conftest import BUNDLED_CORPUS, DATA, ROOT


def minimal_pdf(text: str, title: str = "") -> bytes:
    """A one-page PDF with a line of text, written by hand (byte offsets in the xref must be exact)."""
    stream = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode()
    info = f"<< /Title ({title}) >>" if title else "<< >>"
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        info.encode(),
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root 1 0 R /Info 6 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def test_doc_id_is_the_relative_path_without_extension() -> None:
    assert doc_id_for("news/2025-07-01-talks.md") == "news/2025-07-01-talks"
    assert doc_id_for("README") == "README"


def test_bundled_seed_document_keeps_text_and_front_matter() -> None:
    documents, failures = load_corpus(BUNDLED_CORPUS)
    assert failures == []
    [seed] = documents
    assert seed.doc_id == "news/2025-07-01-un-appeal"
    assert seed.title.startswith("International Appeal: United Nations Secretary-General Urges")
    assert seed.date == "2025-07-01"
    assert seed.tags == ("war-and-conflicts", "politics", "general-news")
    assert "Putin continues to reject an immediate ceasefire" in seed.text
    assert not seed.text.startswith("---")


def test_txt_title_is_a_short_first_line_followed_by_a_blank_line(tmp_path: Path) -> None:
    (tmp_path / "titled.txt").write_text("Short headline\n\nBody text here.", encoding="utf-8")
    (tmp_path / "untitled.txt").write_text("Body straight away.\nSecond line.", encoding="utf-8")
    documents, _ = load_corpus(tmp_path)
    titles = {d.doc_id: d.title for d in documents}
    assert titles["titled"] == "Short headline"
    assert titles["untitled"] == "Untitled"  # from the file name


def test_html_loader_keeps_main_text_without_markup() -> None:
    documents, _ = load_corpus(DATA / "aliases")
    [storm] = [d for d in documents if d.doc_id == "florida-storm"]
    assert storm.title == "Storm floods streets in Miami"
    assert "heavy rain to southern Florida" in storm.text
    for unwanted in ("<", "alert", "color:red", "Home | World", "Copyright"):
        assert unwanted not in storm.text


def test_pdf_loader_reads_text_and_title(tmp_path: Path) -> None:
    (tmp_path / "report.pdf").write_bytes(minimal_pdf("Shelling damaged the power plant.", title="Plant report"))
    [document], failures = load_corpus(tmp_path)
    assert failures == []
    assert document.title == "Plant report"
    assert "Shelling damaged the power plant." in document.text


def test_jsonl_loader_makes_one_document_a_line_and_reports_bad_lines(tmp_path: Path) -> None:
    lines = [
        json.dumps(
            {
                "id": "a1",
                "title": "First",
                "text": "Kyiv said talks would resume.",
                "date": "2025-05-02",
                "tags": ["talks"],
            }
        ),
        "{not json",
        json.dumps({"id": "a2", "text": "Moscow denied the report."}),
        json.dumps({"id": "a3", "title": "No text"}),
    ]
    (tmp_path / "feed.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    documents, failures = load_corpus(tmp_path)
    assert [d.doc_id for d in documents] == ["feed/a1", "feed/a2"]
    assert documents[0].date == "2025-05-02" and documents[0].tags == ("talks",)
    assert {f.source for f in failures} == {"feed.jsonl:2", "feed.jsonl:4"}
    assert "not valid JSON" in failures[0].reason


def test_broken_files_are_skipped_with_a_reason_and_the_rest_loads(tmp_path: Path) -> None:
    (tmp_path / "good.txt").write_text("Good\n\nA readable document.", encoding="utf-8")
    (tmp_path / "broken.pdf").write_bytes(b"%PDF-1.4 this is not really a pdf")
    (tmp_path / "latin1.txt").write_bytes("caf\xe9 au lait".encode("latin-1"))
    (tmp_path / "empty.md").write_text("", encoding="utf-8")
    (tmp_path / "bad-front-matter.md").write_text("---\ntitle: [unclosed\n---\nBody.", encoding="utf-8")
    (tmp_path / "slides.pptx").write_bytes(b"PK\x03\x04")
    (tmp_path / ".DS_Store").write_bytes(b"\x00\x01")
    documents, failures = load_corpus(tmp_path)
    assert [d.doc_id for d in documents] == ["good"]
    reasons = {f.source: f.reason for f in failures}
    assert set(reasons) == {"broken.pdf", "latin1.txt", "empty.md", "bad-front-matter.md", "slides.pptx"}
    assert "UTF-8" in reasons["latin1.txt"]
    assert "front matter" in reasons["bad-front-matter.md"]
    assert "unsupported file type" in reasons["slides.pptx"]
    assert "no text" in reasons["empty.md"]


def test_date_comes_from_the_file_name_when_metadata_has_none(tmp_path: Path) -> None:
    (tmp_path / "2024-02-24-anniversary.txt").write_text("Anniversary\n\nTwo years on.", encoding="utf-8")
    [document], _ = load_corpus(tmp_path)
    assert document.date == "2024-02-24"


def test_the_file_type_registry_is_the_one_list_messages_and_docs_read(tmp_path: Path) -> None:
    assert SUPPORTED_SUFFIXES == (".txt", ".md", ".markdown", ".html", ".htm", ".pdf", ".jsonl")
    assert ".jsonl" not in UPLOAD_SUFFIXES and set(UPLOAD_SUFFIXES) < set(SUPPORTED_SUFFIXES)
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for file_type in FILE_TYPES:
        assert f"| `{file_type.suffixes[0]}` | {file_type.how} |" in readme
    with pytest.raises(UsageError, match=r"upload a \.txt, \.md, \.html or \.pdf file"):
        upload_name("feed.jsonl")
    (tmp_path / "corpus").mkdir()
    with pytest.raises(CorpusError, match=r"add \.txt, \.md, \.html, \.pdf or \.jsonl files"):
        ingest(Settings(corpus_dir=tmp_path / "corpus", index_dir=tmp_path / "index"))
    (tmp_path / "corpus" / "notes.docx").write_bytes(b"PK")
    _, [failure] = load_corpus(tmp_path / "corpus")
    assert failure.reason.endswith("(supported: .txt, .md, .markdown, .html, .htm, .pdf, .jsonl)")


def test_pypdf_warnings_go_to_the_log_not_to_stderr(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A PDF that pypdf has to repair (here: its trailer names no /Root) still loads; pypdf's complaint is
    logged with the file's name instead of being printed raw in the middle of ingest's output."""
    repaired = minimal_pdf("Shelling damaged the power plant.").replace(b"/Root 1 0 R ", b"")
    (tmp_path / "repaired.pdf").write_bytes(repaired)
    # In a process of its own: pytest's log capture would hide what a plain run prints.
    code = (
        "import sys, pathlib\nfrom assistant.ingest.load import load_corpus\n"
        "print(len(load_corpus(pathlib.Path(sys.argv[1]))[0]))"
    )
    plain = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, check=True)
    assert (plain.stdout, plain.stderr) == ("1\n", "")
    with caplog.at_level(logging.INFO, logger="assistant.ingest.load"):
        [document], failures = load_corpus(tmp_path)
    assert failures == [] and "power plant" in document.text
    messages = [record.getMessage() for record in caplog.records]
    assert any(message.startswith("repaired.pdf: pypdf: ") and "/Root" in message for message in messages)


_TEXT = st.text(st.characters(exclude_characters="\x00", exclude_categories=("Cs",)), max_size=400)


@settings(max_examples=200, deadline=None)
@given(_TEXT, st.sampled_from(["\n", "\r\n", "\r"]))
def test_a_text_file_loads_as_its_text(tmp_path_factory: pytest.TempPathFactory, text: str, newline: str) -> None:
    """Any UTF-8 text file: the document's text is the file's text with line ends made \\n (and a BOM dropped),
    or, when it holds nothing but white space, the file is skipped with that reason."""
    folder = tmp_path_factory.mktemp("txt")
    written = text.replace("\n", newline)  # "0\r\n" written with "\r" line ends is "0\r\r": two line ends
    (folder / "note.txt").write_bytes(written.encode())
    documents, failures = load_corpus(folder)
    expected = written.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    if not expected.strip():
        assert documents == [] and [f.reason for f in failures] == ["holds no text"]
        return
    [document] = documents
    assert failures == [] and document.text == expected and document.doc_id == "note"
    first, _, rest = expected.partition("\n")
    titled = bool(first.strip()) and len(first.strip()) <= 200 and rest.startswith(("\n", " \n"))
    assert document.title == (first.strip() if titled else "Note")


_PLAIN = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc", "Zl", "Zp")), min_size=1, max_size=60)


@settings(max_examples=150, deadline=None)
@given(
    _PLAIN.filter(lambda title: title.strip() != ""),
    st.dates(dt.date(1900, 1, 1), dt.date(2100, 12, 31)),
    st.lists(_PLAIN.filter(lambda tag: "," not in tag and tag.strip() != ""), max_size=4),
    _TEXT.filter(lambda body: body.strip() != ""),
)
def test_markdown_front_matter_comes_back_as_metadata(
    tmp_path_factory: pytest.TempPathFactory, title: str, date: dt.date, tags: list[str], body: str
) -> None:
    """Front matter written by a YAML library is read back: title, date and tags, and the body as the text."""
    folder = tmp_path_factory.mktemp("md")
    meta = yaml.safe_dump({"title": title, "date": date, "tags": tags}, allow_unicode=True)
    (folder / "story.md").write_text(f"---\n{meta}---\n{body}", encoding="utf-8", newline="")
    [document], failures = load_corpus(folder)
    assert failures == []
    assert (document.title, document.date) == (title.strip(), date.isoformat())
    assert document.tags == tuple(tag.strip() for tag in tags)
    assert document.text == body.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n")


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=600), st.sampled_from([".txt", ".md", ".html", ".pdf", ".jsonl", ".docx"]))
def test_any_bytes_load_or_are_skipped_with_a_reason(
    tmp_path_factory: pytest.TempPathFactory, data: bytes, suffix: str
) -> None:
    """Whatever a file holds, loading never fails: it gives documents with text, or a reason it was skipped."""
    folder = tmp_path_factory.mktemp("bytes")
    (folder / f"file{suffix}").write_bytes(data)
    documents, failures = load_corpus(folder)
    assert documents or failures
    assert all(document.text.strip() and document.source == f"file{suffix}" for document in documents)
    assert all(failure.reason and failure.source.startswith(f"file{suffix}") for failure in failures)


def test_deeply_nested_html_is_refused_at_once_and_ordinary_nesting_is_read(tmp_path: Path) -> None:
    """Nested <div>s cost time quadratic in their depth (4,000 levels: seconds; 200,000: over 17 minutes)."""
    deep, shallow = tmp_path / "deep", tmp_path / "shallow"
    for folder, depth in ((deep, 4000), (shallow, 200)):
        folder.mkdir()
        (folder / "page.html").write_text(f"<html><body>{'<div>' * depth}Kyiv text.{'</div>' * depth}</body></html>")
    started = time.perf_counter()
    documents, [failure] = load_corpus(deep)
    assert time.perf_counter() - started < 1.0
    assert documents == [] and failure.reason.startswith("is HTML nested more than 256 elements deep")
    [document], failures = load_corpus(shallow)
    assert failures == [] and document.text == "Kyiv text."
