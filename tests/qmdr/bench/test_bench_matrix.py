"""The provider matrix YAML: configs, prices, and refusing inline secrets."""

import pytest

from providers.catalog import KNOWN_MODELS
from qmdr.bench.matrix import Matrix, load_matrix
from qmdr.bench.usage import Usage, catalog_price, estimate_tokens


def test_matrix_reads_settings_overrides_in_any_case(tmp_path):
    path = tmp_path / "m.yaml"
    path.write_text(
        "embedders:\n"
        "  local: {}\n"
        "  small:\n"
        "    QMD_EMBED_PROVIDER: openai\n"
        "    QMD_OPENAI_EMBED_MODEL: openai/text-embedding-3-small\n"
        "rerankers:\n"
        "  mini: {qmd_rerank_provider: openai, qmd_openai_model: openai/gpt-4o-mini}\n"
    )
    matrix = load_matrix(path)
    assert matrix.embedders["small"] == {
        "qmd_embed_provider": "openai",
        "qmd_openai_embed_model": "openai/text-embedding-3-small",
    }
    assert matrix.price_models() == {
        "local": "local",
        "small": "openai/text-embedding-3-small",
        "mini": "openai/gpt-4o-mini",
    }
    factories = matrix.factories()
    assert set(factories["embedder_factories"]) == {"local", "small"}
    assert set(factories["reranker_factories"]) == {"mini"} and factories["expander_factories"] == {}


def test_matrix_refuses_keys_in_the_file_and_unknown_sections(tmp_path):
    path = tmp_path / "m.yaml"
    path.write_text("embedders:\n  x: {QMD_OPENAI_API_KEY: sk-123}\n")
    with pytest.raises(ValueError, match="QMD_OPENAI_API_KEY.*environment"):
        load_matrix(path)
    path.write_text("models: {}\n")
    with pytest.raises(ValueError, match="top-level keys"):
        load_matrix(path)


def test_empty_matrix_means_the_local_model():
    assert Matrix().embedders == {"local": {"qmd_embed_provider": "local"}}


def test_prices_come_from_the_providers_catalog_and_unknown_is_none():
    catalog = {(m.provider, m.id): m.price for m in KNOWN_MODELS}
    assert catalog_price("openai/text-embedding-3-small") is catalog[("openai", "text-embedding-3-small")]
    assert catalog_price("text-embedding-3-large") is catalog[("openai", "text-embedding-3-large")]
    assert catalog_price("openai/gpt-4o-mini") is catalog[("openai", "gpt-4o-mini")]  # an OpenRouter id
    assert catalog_price("claude-3-5-haiku") is catalog[("anthropic", "claude-3-5-haiku-latest")]  # an alias
    assert catalog_price("local").input == 0.0 and catalog_price("bench-hashing").output == 0.0
    assert catalog_price("some-new-model") is None and catalog_price("anthropic/gpt-4o-mini") is None
    usage = Usage(price=catalog_price("text-embedding-3-large"))
    usage.add(["a" * 400, "b" * 4])
    assert (usage.calls, usage.items, usage.tokens) == (1, 2, 101)
    assert usage.cost_usd() == pytest.approx(101 * 0.13 / 1e6)
    unknown = Usage()
    unknown.add(["text"])
    assert unknown.cost_usd() is None
    assert estimate_tokens("") == 0


def test_matrix_shorthands_and_binding_to_the_local_server(tmp_path):
    path = tmp_path / "m.yaml"
    path.write_text("embedders:\n  mine: local\n  served: local-server\nrerankers:\n  grader: local-server\n")
    matrix = load_matrix(path)
    assert matrix.embedders["mine"] == {"qmd_embed_provider": "local"} and matrix.needs_local_server()
    with pytest.raises(RuntimeError, match="bind_local_server"):
        matrix.factories()

    class Server:  # the two methods bind_local_server reads
        def embedder_settings(self):
            return {"qmd_embed_provider": "openai", "qmd_openai_base_url": "http://127.0.0.1:9/v1"}

        def reranker_settings(self):
            return {"qmd_rerank_provider": "openai", "qmd_openai_base_url": "http://127.0.0.1:9/v1"}

    matrix.bind_local_server(Server())
    assert matrix.embedders["served"]["qmd_embed_provider"] == "openai"
    assert matrix.rerankers["grader"]["qmd_rerank_provider"] == "openai"
    assert matrix.price_models() == {"mine": "local", "served": "local", "grader": "local"}
    assert set(matrix.factories()["reranker_factories"]) == {"grader"}


def test_matrix_refuses_an_entry_that_is_neither_settings_nor_a_shorthand(tmp_path):
    path = tmp_path / "m.yaml"
    path.write_text("embedders:\n  x: openai\n")
    with pytest.raises(ValueError, match="embedders.x must be settings or one of local, local-server"):
        load_matrix(path)
