"""Sources: fetching documents from feeds, sitemaps, wikis and pages into the corpus folder."""
