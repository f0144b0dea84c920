"""Test doubles that ship with qmdr, because the benchmark uses them too.

``openai_server`` is a small OpenAI-compatible server on a real socket and
``graders`` a deterministic stand-in for an LLM grader. ``qmdr bench quality
--embedder local-server --rerank local-server`` runs the whole remote path
(HTTP, batching, caching, call and token counts) against them without keys, so
they live in the package rather than under ``tests/``.
"""
