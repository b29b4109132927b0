"""The knowledge base: articles, the suggestion index that ranks them for a message, and the
answer bot that replies with an article when it is confident enough."""
