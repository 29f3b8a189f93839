"""Chunks -> vectors and terms: the embedding model, the catalog, the query-time snapshot, Chroma."""
