"""Corpus files -> documents -> chunks, and the incremental sync of a corpus folder with its index."""
