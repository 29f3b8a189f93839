"""Syncing sources against a real HTTP server on 127.0.0.1: documents stored, requests made, politeness."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from assistant.errors import NotConfiguredError, UsageError
from assistant.settings import Settings
from assistant.sources.fetch import NO_CONTACT
from assistant.sources.registry import load_state
from assistant.sources.service import new_source, source_statuses, sync
from tests.site import LocalSite, Reply, Seen

ALLOW = "127.0.0.1/32"


@pytest.fixture
def site() -> Iterator[LocalSite]:
    with LocalSite() as served:
        served.routes["/robots.txt"] = Reply("User-agent: *\nDisallow: /private/\n")
        served.routes["/feed.xml"] = Reply(served.page("feed.xml"), headers={"Content-Type": "application/atom+xml"})
        served.routes["/news/grain"] = Reply(served.page("grain.html"))
        served.routes["/news/talks?utm_source=feed"] = Reply(served.page("talks.html"))
        served.routes["/news/talks/"] = Reply(served.page("talks.html"))
        served.routes["/republished/exchange"] = Reply(served.page("copy.html"))
        yield served


def settings_for(corpus: Path, **more: object) -> Settings:
    fields: dict[str, object] = {
        "corpus_dir": corpus,
        "sources_contact": "ops@example.org",
        "sources_delay": 0.0,
        "sources_allow_networks": ALLOW,
    }
    return Settings(**{**fields, **more})  # type: ignore[arg-type]


def front_matter(path: Path) -> dict[str, object]:
    text = path.read_text(encoding="utf-8")
    return dict(yaml.safe_load(text.split("---\n")[1]))


def test_a_feed_sync_stores_each_article_once_with_its_metadata(site: LocalSite, tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    new_source(corpus, "ministry", f"{site.base}/feed.xml", voice="Examplia: government", license="CC BY 4.0")
    [report] = sync(settings_for(corpus))

    assert report.error is None and report.skipped == []
    assert len(report.added) == 2  # grain and talks; the slash variant and the republished copy are the same article
    assert report.duplicates == 1 and report.unchanged == 1
    assert "/news/talks/" not in site.paths()  # a URL variant of a stored article is not fetched again
    files = sorted((corpus / "sources" / "ministry").glob("*.md"))
    talks = front_matter(next(path for path in files if "prisoner" in path.name))
    assert talks["title"] == "Negotiators agree on a second prisoner exchange"
    assert talks["date"] == "2025-03-04"  # the page's own date wins over the feed's 2025-03-05
    assert talks["source"] == f"{site.base}/news/talks?utm_source=feed"
    assert (talks["voice"], talks["license"], talks["publisher"]) == ("Examplia: government", "CC BY 4.0", "127.0.0.1")
    assert "fetched" in talks
    grain = front_matter(next(path for path in files if "grain" in path.name))
    assert grain["date"] == "2025-03-06"  # the page states no date: the feed's
    body = next(path for path in files if "grain" in path.name).read_text()
    assert "forty lorries" in body and "<p>" not in body
    [status] = source_statuses(corpus)
    assert status.documents == 2 and status.last_error is None and status.last_sync


def test_robots_txt_is_read_first_and_a_disallowed_page_is_not_fetched(site: LocalSite, tmp_path: Path) -> None:
    site.routes["/feed.xml"] = Reply(
        site.page("feed.xml").replace(f"{site.base}/news/grain", f"{site.base}/private/grain")
    )
    site.routes["/private/grain"] = Reply(site.page("grain.html"))
    corpus = tmp_path / "corpus"
    new_source(corpus, "ministry", f"{site.base}/feed.xml")
    [report] = sync(settings_for(corpus))

    assert site.paths()[0] == "/robots.txt" and site.paths().count("/robots.txt") == 1
    assert "/private/grain" not in site.paths()
    assert [url for url, _ in report.skipped] == [f"{site.base}/private/grain"]
    assert "robots.txt" in report.skipped[0][1]


def test_an_unchanged_feed_costs_one_conditional_request(site: LocalSite, tmp_path: Path) -> None:
    def feed(request: Seen) -> Reply:
        if request.headers.get("if-none-match") == '"v1"':
            return Reply(b"", 304)
        return Reply(site.page("feed.xml"), headers={"ETag": '"v1"', "Last-Modified": "Thu, 06 Mar 2025 12:00:00 GMT"})

    site.routes["/feed.xml"] = feed
    corpus = tmp_path / "corpus"
    new_source(corpus, "ministry", f"{site.base}/feed.xml")
    sync(settings_for(corpus))
    site.seen.clear()

    [again] = sync(settings_for(corpus))

    # robots.txt was read a moment ago (it is kept a day); the feed answers 304 to the stored validators
    assert site.paths() == ["/feed.xml"]
    assert site.seen[0].headers["if-none-match"] == '"v1"'
    assert site.seen[0].headers["if-modified-since"] == "Thu, 06 Mar 2025 12:00:00 GMT"
    assert again.added == [] and again.unchanged == 1 and again.requests == 1


def test_robots_txt_is_kept_for_a_day_then_read_again(site: LocalSite, tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    new_source(corpus, "ministry", f"{site.base}/feed.xml")
    sync(settings_for(corpus))
    kept = corpus / "sources" / ".robots.json"
    record = json.loads(kept.read_text())
    assert record[site.base]["text"].startswith("User-agent: *")
    site.routes["/robots.txt"] = Reply("User-agent: *\nDisallow: /\n")  # the site now forbids everything
    site.seen.clear()
    sync(settings_for(corpus))
    assert "/robots.txt" not in site.paths()  # within the day: the kept file

    record[site.base]["at"] -= 24 * 3600 + 1
    kept.write_text(json.dumps(record))
    site.seen.clear()
    [report] = sync(settings_for(corpus))
    assert site.paths() == ["/robots.txt"]  # read again, and now nothing may be fetched
    assert report.error is not None and "robots.txt" in report.error


def test_requests_to_one_host_are_spaced_by_the_delay(site: LocalSite, tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    new_source(corpus, "ministry", f"{site.base}/feed.xml")
    sync(settings_for(corpus, sources_delay=0.3))

    times = [request.at for request in site.seen]
    assert len(times) >= 4
    assert min(later - earlier for earlier, later in zip(times, times[1:], strict=False)) >= 0.29


def test_user_agent_names_the_project_and_the_contact(site: LocalSite, tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    new_source(corpus, "ministry", f"{site.base}/feed.xml")
    sync(settings_for(corpus))

    agents = {request.headers["user-agent"] for request in site.seen}
    assert agents == {"conflict-corpus-assistant/0.1 (+ops@example.org)"}


def test_sync_refuses_to_fetch_without_a_contact(site: LocalSite, tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    new_source(corpus, "ministry", f"{site.base}/feed.xml")
    with pytest.raises(NotConfiguredError, match="ASSISTANT_SOURCES_CONTACT"):
        sync(settings_for(corpus, sources_contact=None))
    assert site.seen == [] and NO_CONTACT


def test_429_with_retry_after_is_waited_out(site: LocalSite, tmp_path: Path) -> None:
    answers = iter([Reply("slow down", 429, {"Retry-After": "1"})])
    site.routes["/news/grain"] = lambda request: next(answers, Reply(site.page("grain.html")))
    corpus = tmp_path / "corpus"
    new_source(corpus, "ministry", f"{site.base}/feed.xml")
    [report] = sync(settings_for(corpus))

    grain = [request.at for request in site.seen if request.path == "/news/grain"]
    assert len(grain) == 2 and grain[1] - grain[0] >= 0.99
    assert any("grain" in stored for stored in report.added)


def test_a_longer_retry_after_ends_the_sync_and_keeps_what_is_stored(site: LocalSite, tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    new_source(corpus, "ministry", f"{site.base}/feed.xml")
    sync(settings_for(corpus))
    stored = {path: path.read_bytes() for path in (corpus / "sources" / "ministry").glob("*.md")}
    site.routes["/feed.xml"] = Reply("busy", 503, {"Retry-After": "3600"})

    [report] = sync(settings_for(corpus))

    assert report.error and "3600" in report.error and "next sync" in report.error
    assert site.paths().count("/feed.xml") == 2  # one each sync: no retry when the wait is too long
    assert {path: path.read_bytes() for path in (corpus / "sources" / "ministry").glob("*.md")} == stored
    assert source_statuses(corpus)[0].last_error == report.error


def test_an_oversize_page_and_an_unparsable_one_are_skipped(site: LocalSite, tmp_path: Path) -> None:
    site.routes["/news/grain"] = Reply(b"<p>" + b"x" * 300_000 + b"</p>")
    site.routes["/republished/exchange"] = Reply(site.page("stub.html"))
    corpus = tmp_path / "corpus"
    new_source(corpus, "ministry", f"{site.base}/feed.xml")
    [report] = sync(settings_for(corpus, sources_max_mb=0.1))

    reasons = dict(report.skipped)
    assert "cap" in reasons[f"{site.base}/news/grain"]
    assert "no article text" in reasons[f"{site.base}/republished/exchange"]
    assert [Path(stored).name.split("-")[3] for stored in report.added] == ["negotiators"]


def test_a_malformed_feed_is_an_error_and_stores_nothing(site: LocalSite, tmp_path: Path) -> None:
    site.routes["/feed.xml"] = Reply("<html><body>This is not a feed <b>at all</body>")
    corpus = tmp_path / "corpus"
    new_source(corpus, "ministry", f"{site.base}/feed.xml")
    [report] = sync(settings_for(corpus))
    assert report.error and "not a readable RSS or Atom feed" in report.error
    assert not list((corpus / "sources" / "ministry").glob("*.md"))
    assert load_state(corpus, "ministry").validators == {}  # read again in full next time


def test_a_redirect_to_a_private_address_is_refused_before_connecting(site: LocalSite, tmp_path: Path) -> None:
    site.routes["/news/grain"] = Reply("", 302, {"Location": "http://10.255.255.1/internal"})
    site.routes["/republished/exchange"] = Reply("", 301, {"Location": "http://169.254.169.254/latest/meta-data"})
    corpus = tmp_path / "corpus"
    new_source(corpus, "ministry", f"{site.base}/feed.xml")
    started = time.monotonic()
    [report] = sync(settings_for(corpus))

    reasons = dict(report.skipped)
    assert "10.255.255.1, a private address" in reasons[f"{site.base}/news/grain"]
    assert "169.254.169.254, a link-local address" in reasons[f"{site.base}/republished/exchange"]
    assert time.monotonic() - started < 5  # refused, not tried until a timeout


def test_loopback_is_refused_unless_the_operator_allows_it(site: LocalSite, tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    strict = settings_for(corpus, sources_allow_networks="")
    with pytest.raises(UsageError, match="127.0.0.1, a loopback address"):
        new_source(corpus, "ministry", f"{site.base}/feed.xml", remote=True, settings=strict)
    with pytest.raises(UsageError, match="10.1.2.3, a private address"):  # every address the name resolves to
        new_source(corpus, "intranet", "https://news.internal/feed", remote=True, settings=strict,
                   resolve=lambda host, port: ["93.184.216.34", "10.1.2.3"])  # fmt: skip
    new_source(corpus, "ministry", f"{site.base}/feed.xml", remote=True, settings=settings_for(corpus))
    [report] = sync(settings_for(corpus, sources_allow_networks=""))
    assert report.error and "loopback" in report.error and site.seen == []


def test_a_page_source_is_one_document_updated_in_place(site: LocalSite, tmp_path: Path) -> None:
    versions = iter([site.page("talks.html"), site.page("talks.html").replace("businesslike", "constructive")])
    site.routes["/statement"] = lambda request: Reply(next(versions))
    corpus = tmp_path / "corpus"
    new_source(corpus, "statement", f"{site.base}/statement", kind="page")
    [first] = sync(settings_for(corpus))
    [second] = sync(settings_for(corpus))

    assert len(first.added) == 1 and second.updated == first.added
    [stored] = (corpus / "sources" / "statement").glob("*.md")
    assert "constructive" in stored.read_text()


TEMPLATE = (
    "<!doctype html><html lang='en'><head><title>Law ratifying the treaty with the {0} republic</title></head>"
    "<body><article><h1>Law ratifying the treaty with the {0} republic</h1>"
    "<p>The President signed the federal law ratifying the Treaty of Friendship, Cooperation and Mutual "
    "Assistance between the Republic of Examplia and the {0} republic, signed in the capital on {1}.</p>"
    "<p>The federal law was adopted by the State Assembly on {1} and approved by the Council of Regions on the "
    "same day, the press service said, and it enters into force on the day of its official publication.</p>"
    "<p>Under the treaty the two parties undertake to cooperate in defence, trade, transport and education, "
    "and to consult each other on matters of common security, the press service added.</p>"
    "</article></body></html>"
)


def test_two_releases_written_from_one_template_are_both_stored(tmp_path: Path) -> None:
    """Alike enough to pass for copies by their shingles, but each names a place and a day the other does not."""
    with LocalSite() as served:
        entries = "".join(
            f"<entry><title>Treaty with {name}</title><link href='{served.base}/news/{name}'/>"
            f"<id>{served.base}/news/{name}</id><updated>2025-02-2{day}T10:00:00Z</updated></entry>"
            for name, day in (("Nordland", 1), ("Sudland", 2))
        )
        feed = f"<?xml version='1.0'?><feed xmlns='http://www.w3.org/2005/Atom'><title>News</title>{entries}</feed>"
        served.routes["/robots.txt"] = Reply("User-agent: *\nAllow: /\n")
        served.routes["/feed.xml"] = Reply(feed, headers={"Content-Type": "application/atom+xml"})
        served.routes["/news/Nordland"] = Reply(TEMPLATE.format("Nordland", "21 February"))
        served.routes["/news/Sudland"] = Reply(TEMPLATE.format("Sudland", "22 February"))
        corpus = tmp_path / "corpus"
        new_source(corpus, "treaties", f"{served.base}/feed.xml")
        [report] = sync(settings_for(corpus))
    assert report.error is None and report.skipped == []
    assert (len(report.added), report.duplicates) == (2, 0)
    texts = [path.read_text(encoding="utf-8") for path in (corpus / "sources" / "treaties").glob("*.md")]
    assert sorted("Nordland" in text for text in texts) == [False, True]
