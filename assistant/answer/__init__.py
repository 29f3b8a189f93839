"""Ranked chunks -> an Answer with citations: the extractive and the chat-model answerer."""
