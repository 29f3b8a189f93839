"""Questions -> ranked chunks: the query, the hybrid ranking, and the LangChain retriever."""
