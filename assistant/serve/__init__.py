"""The edges people use: the REST API, the MCP server and the web chat; nothing else imports them."""
