"""The language models translation runs on: in process, or an OpenAI-compatible server."""
