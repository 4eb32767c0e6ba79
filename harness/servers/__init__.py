"""Model servers: an OpenAI-compatible server for a model folder, the gateway that speaks the
Anthropic and OpenAI wire formats, and local stand-ins for those vendors' APIs. The
providers in `harness.llm` are their clients, never the other way round."""
