"""/metrics in Prometheus format, and logs that carry the request id (text and JSON lines)."""

from __future__ import annotations

import io
import json
import logging
import time

import numpy as np
import pytest
from prometheus_client.parser import text_string_to_metric_families

from qmdr.observability import JsonFormatter, configure_logging, log_handler, request_id_var
from qmdr.store.base import IndexChange
from tests.qmdr.conftest import VAULT_NOTES, write_vault
from vault import chunk_note, read_note


def samples(text: str) -> dict[tuple[str, tuple], float]:
    """Every sample of a Prometheus text page as {(name, sorted labels): value}; parsing fails on bad format."""
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def value(page: dict, name: str, **labels: str) -> float:
    return sum(v for (n, ls), v in page.items() if n == name and set(labels.items()) <= set(ls))


@pytest.fixture
def indexed_client(make_client, tmp_path):
    vault = write_vault(tmp_path / "vault", VAULT_NOTES)
    client = make_client(qmdr_vault=vault)
    assert client.post("/reindex", json={}).status_code == 202
    for _ in range(600):
        if client.get("/reindex/status").json()["state"] != "running":
            break
        time.sleep(0.05)
    assert client.get("/reindex/status").json()["state"] == "done"
    return client


def test_metrics_count_requests_stages_errors_reindex_and_index_size(indexed_client) -> None:
    client = indexed_client
    for query in ("sourdough", "retries backoff"):
        assert client.post("/search", json={"query": query}).status_code == 200
    assert client.post("/search", json={"query": ""}).status_code == 422
    assert client.get("/notes/missing.md").status_code == 404
    answer = client.get("/metrics")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/plain")
    page = samples(answer.text)
    assert value(page, "qmdr_http_request_duration_seconds_count", route="/search", status="200") == 2
    assert value(page, "qmdr_http_request_duration_seconds_count", route="/reindex", status="202") == 1
    assert value(page, "qmdr_http_errors_total", route="/search", status="422") == 1
    assert value(page, "qmdr_http_errors_total", route="/notes/{path:path}", status="404") == 1
    for stage in ("keyword", "vector", "fuse", "total"):
        assert value(page, "qmdr_search_stage_seconds_count", stage=stage) == 2
    assert value(page, "qmdr_reindex_duration_seconds_count", outcome="done") == 1
    assert value(page, "qmdr_index_size", what="notes") == len(VAULT_NOTES)
    assert value(page, "qmdr_index_size", what="chunks") >= len(VAULT_NOTES)
    assert value(page, "qmdr_reindex_running") == 0


def test_request_id_is_returned_and_stamped_on_log_records(make_client, tmp_path) -> None:
    """A reindex refused for a model mismatch logs a warning from its background task: with our request id."""
    vault = write_vault(tmp_path / "vault", VAULT_NOTES)
    client = make_client(qmdr_vault=vault)
    note = read_note(vault, "recipes/bread.md")
    chunks = chunk_note(note)
    vectors = {c.hash: np.full(3, 3**-0.5, dtype=np.float32) for c in chunks}
    client.app.state.service.store.apply(
        IndexChange(upserts=[(note, chunks)], vectors=vectors, model=("other/model", 3))
    )  # an index of another model
    stream = io.StringIO()
    handler = log_handler("json", stream)
    logging.getLogger().addHandler(handler)
    try:
        answer = client.post("/reindex", json={}, headers={"X-Request-ID": "req-42.abc"})
        for _ in range(600):
            if client.get("/reindex/status").json()["state"] != "running":
                break
            time.sleep(0.05)
    finally:
        logging.getLogger().removeHandler(handler)
    assert answer.status_code == 202 and answer.headers["x-request-id"] == "req-42.abc"
    assert client.get("/reindex/status").json()["state"] == "failed"
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    mine = [line for line in lines if line["request_id"] == "req-42.abc"]
    assert mine and any("reindex failed" in line["message"] for line in mine)
    assert {"time", "level", "logger", "message", "request_id"} <= set(mine[0])


def test_unsafe_request_ids_are_replaced(indexed_client) -> None:
    for bad in ("a\nb", "x" * 200, "spaces are bad", "<script>"):
        answer = indexed_client.get("/health", headers={"X-Request-ID": bad})
        assert answer.headers["x-request-id"] != bad and len(answer.headers["x-request-id"]) == 32


def test_json_formatter_lines_are_json_with_request_id_and_traceback() -> None:
    stream = io.StringIO()
    logger = logging.getLogger("qmdr.test.json")
    handler = log_handler("json", stream)
    logger.addHandler(handler)
    token = request_id_var.set("rid-1")
    try:
        logger.warning("hello %s", "world")
        try:
            raise ValueError("boom")
        except ValueError:
            logger.exception("failed")
    finally:
        request_id_var.reset(token)
        logger.removeHandler(handler)
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert first["message"] == "hello world" and first["request_id"] == "rid-1" and first["level"] == "WARNING"
    assert second["request_id"] == "rid-1" and "ValueError: boom" in second["exception"]
    assert isinstance(JsonFormatter().format(logging.makeLogRecord({"msg": "x"})), str)


def test_configure_logging_text_format_has_request_id_and_rejects_unknown_formats() -> None:
    stream = io.StringIO()
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    try:
        configure_logging("INFO", "text", stream)
        logging.getLogger("qmdr.test.text").info("plain line")
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
    assert "[-]: plain line" in stream.getvalue()
    with pytest.raises(ValueError, match="log format"):
        log_handler("xml")
