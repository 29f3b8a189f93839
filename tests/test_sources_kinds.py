"""The sitemap and MediaWiki kinds, against a real server on 127.0.0.1 that speaks the few calls they use."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml

from assistant.sources.service import new_source, sync
from tests.site import LocalSite, Reply, Seen
from tests.test_sources_sync import settings_for

WIKI_TEXT = (
    "The Varna Sound talks were a series of negotiations held in 2025 about prisoner exchanges. "
    "The first round ended with an exchange of one hundred detainees, and the second with one hundred and forty. "
    "Observers from the Red Cross attended every exchange at the crossing point near the northern border."
)


class Wiki:
    """api.php: list=search finds one page; prop=extracts|info|revisions gives its text and revision."""

    def __init__(self, site: LocalSite) -> None:
        self.site = site
        self.revision = 101
        self.text = WIKI_TEXT

    def __call__(self, request: Seen) -> Reply:
        query = {key: values[0] for key, values in parse_qs(urlsplit(request.path).query).items()}
        if query.get("format") != "json" or query.get("maxlag") != "5":
            return Reply(json.dumps({"error": {"code": "badparams", "info": "format=json and maxlag expected"}}))
        if query.get("list") == "search":
            hits = [{"title": "Varna Sound talks"}, {"title": "Missing page"}]
            return Reply(json.dumps({"query": {"search": hits}}))
        if query.get("titles") == "Missing page":
            return Reply(json.dumps({"query": {"pages": [{"title": "Missing page", "missing": True}]}}))
        page = {
            "title": "Varna Sound talks",
            "fullurl": f"{self.site.base}/wiki/Varna_Sound_talks",
            "extract": self.text,
            "revisions": [{"revid": self.revision, "timestamp": "2025-04-02T10:11:12Z"}],
        }
        return Reply(json.dumps({"query": {"pages": [page]}}), headers={"Content-Type": "application/json"})


@pytest.fixture
def site() -> Iterator[LocalSite]:
    with LocalSite() as served:
        yield served


def test_wiki_pages_found_by_title_search_are_stored_and_fetched_again_only_when_revised(
    site: LocalSite, tmp_path: Path
) -> None:
    wiki = Wiki(site)
    site.prefixes["/w/api.php?"] = wiki
    corpus = tmp_path / "corpus"
    search = f"{site.base}/w/api.php?action=query&list=search&srsearch=Varna+Sound"
    new_source(corpus, "wiki", search, kind="mediawiki", license="CC BY-SA 4.0")

    [first] = sync(settings_for(corpus))
    assert first.error is None and len(first.added) == 1
    assert first.skipped == [("Missing page", "the wiki has no text for this page")]
    stored = corpus / first.added[0]
    meta = yaml.safe_load(stored.read_text().split("---\n")[1])
    assert (meta["title"], meta["date"], meta["license"]) == ("Varna Sound talks", "2025-04-02", "CC BY-SA 4.0")
    assert meta["source"] == f"{site.base}/wiki/Varna_Sound_talks"
    assert "/robots.txt" not in site.paths()  # the API follows the wiki's API etiquette, not crawling rules

    [same] = sync(settings_for(corpus))
    assert same.added == [] and same.updated == [] and same.unchanged == 1

    wiki.revision, wiki.text = 102, WIKI_TEXT + " A third round was planned for the summer."
    [revised] = sync(settings_for(corpus))
    assert revised.updated == first.added and "third round" in stored.read_text()


def test_a_sitemap_index_leads_to_its_pages_newest_first(site: LocalSite, tmp_path: Path) -> None:
    ns = 'xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"'
    site.routes["/sitemap.xml"] = Reply(
        f'<?xml version="1.0"?><sitemapindex {ns}><sitemap><loc>{site.base}/news.xml</loc></sitemap></sitemapindex>'
    )
    site.routes["/news.xml"] = Reply(
        f'<?xml version="1.0"?><urlset {ns}>'
        f"<url><loc>{site.base}/news/talks</loc><lastmod>2025-03-04</lastmod></url>"
        f"<url><loc>{site.base}/news/grain</loc><lastmod>2025-03-06</lastmod></url></urlset>"
    )
    site.routes["/news/talks"] = Reply(site.page("talks.html"))
    site.routes["/news/grain"] = Reply(site.page("grain.html"))
    corpus = tmp_path / "corpus"
    new_source(corpus, "ministry-map", f"{site.base}/sitemap.xml", kind="sitemap")

    [report] = sync(settings_for(corpus), max_new=1)

    assert report.error is None
    assert [Path(stored).name[:16] for stored in report.added] == ["2025-03-06-grain"]
    assert "/news/talks" not in site.paths()


def test_a_sitemap_with_entities_is_not_read(site: LocalSite, tmp_path: Path) -> None:
    site.routes["/sitemap.xml"] = Reply('<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><urlset>&a;</urlset>')
    corpus = tmp_path / "corpus"
    new_source(corpus, "map", f"{site.base}/sitemap.xml", kind="sitemap")
    [report] = sync(settings_for(corpus))
    assert report.error and "DOCTYPE" in report.error
