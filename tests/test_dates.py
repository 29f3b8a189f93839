"""Document dates: the forms metadata writes them in, where pages state them, and a date that cannot be read
reported in the ingest report instead of dropped."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from assistant.cli import cli
from assistant.ingest.dates import DateUnreadable, read_date
from assistant.ingest.load import load_corpus
from assistant.pipeline import Assistant
from assistant.settings import Settings

BODY = "Strike on the dam\n\nThe Kakhovka dam was struck on the night of the flood.\n"


@pytest.mark.parametrize(
    ("written", "day"),
    [
        ("2027-03-01", "2027-03-01"),
        ("2027/03/01", "2027-03-01"),
        ("2027-03-01T23:30:00-05:00", "2027-03-01"),  # the day as written, not converted
        ("2027-03-01 10:00", "2027-03-01"),
        ("20270301", "2027-03-01"),
        (20270301, "2027-03-01"),  # YAML reads eight digits as a number
        ("March 3, 2027", "2027-03-03"),
        ("Mar. 3 2027", "2027-03-03"),
        ("3 March 2027", "2027-03-03"),
        ("Tuesday, March 3rd, 2027", "2027-03-03"),
        ("Wed, 03 Mar 2027 10:00:00 +0000", "2027-03-03"),
        ("01.04.2027", "2027-04-01"),  # dots: day first
        ("13/04/2027", "2027-04-13"),  # only one reading
        ("04/13/2027", "2027-04-13"),
        ("04/04/2027", "2027-04-04"),
        (dt.date(2027, 3, 1), "2027-03-01"),
        ("  ", None),
        (None, None),
    ],
)
def test_common_date_forms_are_read_to_the_day(written: object, day: str | None) -> None:
    assert read_date(written) == day


def test_a_slash_date_with_two_readings_is_refused_with_both() -> None:
    with pytest.raises(DateUnreadable) as refused:
        read_date("01/04/2027")
    assert str(refused.value) == (
        "'01/04/2027' could be 1 April 2027 (day first) or 4 January 2027 (month first); "
        "write it as YYYY-MM-DD (2027-03-01)"
    )


@pytest.mark.parametrize("written", ["March 2027", "3/1/27", "2027-02-30", "June 31, 2027", "soon", "x" * 10_000])
def test_what_is_not_one_day_is_refused(written: str) -> None:
    with pytest.raises(DateUnreadable, match=r"write it as YYYY-MM-DD"):
        read_date(written)


@pytest.mark.parametrize(
    "markup",
    [
        '<meta property="article:published_time" content="2027-03-01T08:00:00+02:00">',
        '<meta property="og:article:published_time" content="2027-03-01">',
        '<meta itemprop="datePublished" content="2027-03-01">',
        '<meta name="DC.date.issued" content="2027-03-01">',
        '<meta name="dcterms.date" content="March 1, 2027">',
        '<meta name="citation_publication_date" content="2027/03/01">',
        '<meta name="parsely-pub-date" content="2027-03-01T06:00:00Z">',
        '<script type="application/ld+json">{"@graph": [{"@type": "NewsArticle", "datePublished": "2027-03-01"}]}'
        "</script>",
        '<meta name="date" content="20270301">',
    ],
)
def test_a_page_s_publication_date_is_read_from_its_markup(tmp_path: Path, markup: str) -> None:
    (tmp_path / "dam.html").write_text(
        f"<html><head><title>Strike on the dam</title>{markup}</head><body><p>{BODY}</p></body></html>",
        encoding="utf-8",
    )
    [document], failures = load_corpus(tmp_path)
    assert failures == [] and document.date == "2027-03-01" and document.warnings == ()


def test_a_time_element_dates_a_page_and_a_modified_date_does_not(tmp_path: Path) -> None:
    (tmp_path / "dam.html").write_text(
        '<html><head><meta property="article:modified_time" content="2027-05-09"></head><body><article>'
        f'<p>Published <time datetime="2027-03-01T08:00">1 March</time></p><p>{BODY}</p></article></body></html>',
        encoding="utf-8",
    )
    [document], _ = load_corpus(tmp_path)
    assert document.date == "2027-03-01"


@pytest.mark.parametrize(("written", "day"), [("March 3, 2027", "2027-03-03"), ("20270301", "2027-03-01")])
def test_front_matter_dates_in_common_forms_are_read(tmp_path: Path, written: str, day: str) -> None:
    (tmp_path / "dam.md").write_text(f"---\ntitle: Dam\ndate: {written}\n---\n{BODY}", encoding="utf-8")
    [document], _ = load_corpus(tmp_path)
    assert document.date == day and document.warnings == ()


def test_an_unreadable_date_is_a_warning_in_the_ingest_report_and_on_the_command_line(
    tmp_path: Path, fake_embeddings: str, capsys: pytest.CaptureFixture[str]
) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "dam.md").write_text(f"---\ntitle: Dam\ndate: 01/04/2027\n---\n{BODY}", encoding="utf-8")
    (corpus / "2027-02-01-bridge.html").write_text(
        '<html><head><meta name="date" content="next Tuesday"></head><body><p>The bridge reopened.</p></body></html>',
        encoding="utf-8",
    )
    assert cli(["ingest", "--corpus", str(corpus), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["documents"]["added"] == 2 and report["skipped"] == []
    assert report["warnings"] == [
        {
            "source": "2027-02-01-bridge.html",
            "reason": "is dated 2027-02-01 from its file name: its <meta name=\"date\"> date 'next Tuesday' is not a "
            "day this loader reads; write it as YYYY-MM-DD (2027-03-01)",
        },
        {
            "source": "dam.md",
            "reason": "is indexed without a date: its front matter date '01/04/2027' could be 1 April 2027 (day "
            "first) or 4 January 2027 (month first); write it as YYYY-MM-DD (2027-03-01)",
        },
    ]
    (corpus / "dam.md").write_text(f"---\ntitle: Dam\ndate: 01/04/2027 \n---\n{BODY}", encoding="utf-8")
    assert cli(["ingest", "--corpus", str(corpus)]) == 0
    out = capsys.readouterr().out
    assert "  warning: dam.md is indexed without a date: its front matter date" in out


def test_a_page_dated_in_its_markup_is_not_used_before_its_date(tmp_path: Path, fake_embeddings: str) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "dam.html").write_text(
        '<html><head><meta property="og:article:published_time" content="March 3, 2027"></head>'
        f"<body><p>{BODY}</p></body></html>",
        encoding="utf-8",
    )
    (corpus / "old.txt").write_text("Old\n\nA dam upstream was inspected in spring.\n", encoding="utf-8")
    assistant = Assistant(Settings(corpus_dir=corpus))
    assistant.ingest()
    before = {result.chunk.doc_id for result in assistant.retrieve("dam struck", k=5, as_of="2027-03-02")}
    after = {result.chunk.doc_id for result in assistant.retrieve("dam struck", k=5, as_of="2027-03-03")}
    assert before == {"old"} and after == {"old", "dam"}
