"""Openly licensed sources a user adds by name: `assistant sources add kremlin-en`.

Only publishers whose terms allow reuse with attribution (or who publish into the public domain) are
here; README.md ("Following sources") says why others are not. Each entry names whose position its
documents state (voice), its licence and the attribution a quote from it is shown with.
"""

from __future__ import annotations

from assistant.sources.records import Source

CATALOGUE: dict[str, Source] = {
    source.name: source
    for source in (
        Source(
            name="kremlin-en",
            url="http://en.kremlin.ru/events/president/news/feed",
            kind="feed",
            voice="Russia: government",
            license="CC BY 4.0",
            publisher="President of Russia (kremlin.ru)",
            attribution="President of Russia, en.kremlin.ru, CC BY 4.0",
        ),
        Source(
            name="us-state-dept",
            url="https://www.state.gov/rss-feed/press-releases/feed/",
            kind="feed",
            voice="United States: government",
            license="Public domain (U.S. government work)",
            publisher="U.S. Department of State",
            attribution="U.S. Department of State, state.gov (public domain)",
        ),
        Source(
            name="us-dod",
            url="https://www.defense.gov/DesktopModules/ArticleCS/RSS.ashx?ContentType=9&Site=945&max=10",
            kind="feed",
            voice="United States: military",
            license="Public domain (U.S. government work)",
            publisher="U.S. Department of Defense",
            attribution="U.S. Department of Defense, defense.gov (public domain)",
        ),
        Source(
            name="govuk-ukraine",
            url="https://www.gov.uk/search/news-and-communications.atom?world_locations%5B%5D=ukraine",
            kind="feed",
            voice="United Kingdom: government",
            license="Open Government Licence v3.0",
            publisher="GOV.UK",
            attribution="Contains public sector information licensed under the Open Government Licence v3.0.",
        ),
        Source(
            name="ec-press",
            url="https://ec.europa.eu/commission/presscorner/api/rss?language=en",
            kind="feed",
            voice="European Union: European Commission",
            license="CC BY 4.0",
            publisher="European Commission press corner",
            attribution="European Union, ec.europa.eu, CC BY 4.0",
        ),
        Source(
            name="wikipedia-en",
            url="https://en.wikipedia.org/w/api.php?action=query&list=search&srsearch=Russian+invasion+of+Ukraine",
            kind="mediawiki",
            voice="Wikipedia (encyclopedia)",
            license="CC BY-SA 4.0",
            publisher="Wikipedia",
            attribution="Wikipedia contributors, en.wikipedia.org, CC BY-SA 4.0 (the page's history lists its authors)",
            every="1w",
        ),
    )
}
