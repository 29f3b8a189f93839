"""`assistant sources add|list|remove|sync` through the command line's entry point."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from assistant.cli import cli
from assistant.sources.dedup import NEAR_DUPLICATE, canonical_url, copies_of, signature, similarity, tells_apart
from tests.site import DATA, LocalSite, Reply


@pytest.fixture
def corpus(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "corpus"
    folder.mkdir()
    monkeypatch.setenv("ASSISTANT_CORPUS_DIR", str(folder))
    monkeypatch.setenv("ASSISTANT_SOURCES_CONTACT", "ops@example.org")
    monkeypatch.setenv("ASSISTANT_SOURCES_DELAY", "0")
    monkeypatch.setenv("ASSISTANT_SOURCES_ALLOW_NETWORKS", "127.0.0.1/32")
    return folder


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_a_catalogue_source_is_added_by_name_listed_and_removed(
    corpus: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "sources", "add", "kremlin-en")
    assert code == 0 and "Added kremlin-en (feed, http://en.kremlin.ru/" in out
    written = (corpus / "sources.toml").read_text()
    assert (
        "[kremlin-en]" in written and 'license = "CC BY 4.0"' in written and 'voice = "Russia: government"' in written
    )

    code, out, _ = run(capsys, "sources", "list", "--json")
    [listed] = json.loads(out)
    assert (listed["name"], listed["license"], listed["documents"], listed["last_sync"]) == (
        "kremlin-en",
        "CC BY 4.0",
        0,
        None,
    )

    code, out, _ = run(capsys, "sources", "remove", "kremlin-en")
    assert code == 0 and "Removed kremlin-en" in out
    code, out, _ = run(capsys, "sources", "list")
    assert "No sources yet" in out


def test_a_hand_written_comment_survives_an_add(corpus: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (corpus / "sources.toml").write_text('# my sources\n[un]\nurl = "https://news.example.org/feed"  # the UN desk\n')
    assert run(capsys, "sources", "add", "notes", "https://notes.example.org/sitemap.xml", "--kind", "sitemap")[0] == 0
    written = (corpus / "sources.toml").read_text()
    assert "# my sources" in written and "# the UN desk" in written and "[notes]" in written
    assert run(capsys, "sources", "list")[1].count("https://") == 2


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["sources", "add", "nowhere"], "'nowhere' is not in the catalogue"),
        (["sources", "add", "Bad Name", "https://example.org/feed"], "Source name 'Bad Name' is not valid"),
        (["sources", "add", "x", "ftp://example.org/feed"], "is not an http:// or https:// address"),
        (["sources", "add", "x", "https://example.org/feed", "--every", "5m"], "too often"),
        (["sources", "add", "x", "https://example.org/feed", "--every", "daily"], "Duration 'daily' is not valid"),
        (["sources", "remove", "nothing"], "No source named 'nothing'"),
        (["sources", "sync"], "There are no sources to sync"),
        (["sources", "sync", "nothing"], "No source named 'nothing'"),
        (["sources", "sync", "--since", "2025-13-01"], "is not a date; write it as YYYY-MM-DD"),
    ],
)
def test_bad_input_is_one_line(corpus: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str) -> None:
    code, out, err = run(capsys, *argv)
    assert code == 1 and out == "" and message in err and len(err.strip().splitlines()) == 1


def test_a_duplicate_name_and_a_broken_sources_file_are_refused(
    corpus: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run(capsys, "sources", "add", "kremlin-en")
    code, _, err = run(capsys, "sources", "add", "kremlin-en")
    assert code == 1 and "exists already" in err
    (corpus / "sources.toml").write_text("[broken\n")
    code, _, err = run(capsys, "sources", "list")
    assert code == 1 and "is not valid TOML" in err and len(err.strip().splitlines()) == 1


def test_sync_fetches_then_ingests_so_the_article_can_be_retrieved(
    corpus: Path, capsys: pytest.CaptureFixture[str], fake_embeddings: str
) -> None:
    (corpus / "note.md").write_text("# Note\n\nA note that was in the corpus before any source.\n")
    with LocalSite() as site:
        site.routes["/feed.xml"] = Reply(site.page("feed.xml"))
        site.routes["/news/grain"] = Reply(site.page("grain.html"))
        site.routes["/news/talks?utm_source=feed"] = Reply(site.page("talks.html"))
        site.routes["/republished/exchange"] = Reply(site.page("copy.html"))
        assert (
            run(capsys, "sources", "add", "ministry", f"{site.base}/feed.xml", "--voice", "Examplia: government")[0]
            == 0
        )
        code, out, err = run(capsys, "sources", "sync", "--max", "1")
    assert code == 0, err
    assert "ministry: 1 added, 0 updated" in out and "Ingested:" in out
    code, out, err = run(capsys, "retrieve", "grain convoy Kelmar", "--json")
    assert code == 0, err
    top = json.loads(out)[0]
    assert (
        top["doc_id"].startswith("sources/ministry/2025-03-06-grain-convoy") and top["url"] == f"{site.base}/news/grain"
    )
    code, out, _ = run(capsys, "ingest", "--json")
    assert json.loads(out)["skipped"] == []  # sources.toml and the state files are not documents


def test_url_variants_share_a_key_and_different_pages_do_not() -> None:
    key = canonical_url("https://www.example.org/news/talks/?b=2&a=1")
    for variant in (
        "http://example.org/news/talks?a=1&b=2",
        "https://example.org:443/news/talks?a=1&b=2&utm_source=rss&utm_medium=feed#top",
        "HTTPS://WWW.EXAMPLE.ORG/news/talks?fbclid=x&a=1&b=2",
    ):
        assert canonical_url(variant) == key
    assert canonical_url("https://example.org/news/talks?a=1&b=3") != key
    assert canonical_url("https://example.org/news/Talks?a=1&b=2") != key


def test_a_republished_copy_is_near_a_duplicate_and_another_article_is_not() -> None:
    from assistant.sources.extract import extract_page

    talks = extract_page((DATA / "talks.html").read_bytes(), "http://a.test/talks").text
    copy = extract_page((DATA / "copy.html").read_bytes(), "http://b.test/copy").text
    grain = extract_page((DATA / "grain.html").read_bytes(), "http://a.test/grain").text
    assert similarity(signature(talks), signature(copy)) >= NEAR_DUPLICATE
    assert similarity(signature(talks), signature(grain)) < 0.2
    assert copies_of(signature(copy), {"talks.md": signature(talks), "grain.md": signature(grain)}) == ["talks.md"]
    assert copies_of(signature(grain), {"talks.md": signature(talks)}) == []
    assert not tells_apart(copy, talks)


def test_two_releases_from_one_template_are_two_articles_and_a_copy_with_a_credit_line_is_one() -> None:
    """Alike enough for copies by their shingles, told apart by what each names that the other does not."""
    template = (
        "The President signed the federal law ratifying the Treaty of Friendship, Cooperation and Mutual "
        "Assistance between the Russian Federation and the {0} People's Republic. The federal law was adopted "
        "by the State Duma and approved by the Federation Council. The treaty was signed in Moscow on {1}."
    )
    donetsk, lugansk = template.format("Donetsk", "February 21"), template.format("Lugansk", "February 22")
    assert similarity(signature(donetsk), signature(lugansk)) >= NEAR_DUPLICATE
    assert tells_apart(donetsk, lugansk)
    credited = "Republished with permission from the Kremlin's website.\n\n" + donetsk
    assert not tells_apart(credited, donetsk) and not tells_apart(donetsk, donetsk[: len(donetsk) // 2])
