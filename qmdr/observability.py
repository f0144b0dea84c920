"""Metrics (Prometheus) and logs (text or JSON lines) that carry the request id.

* ``Metrics`` owns one ``CollectorRegistry`` per app (never the global one, so
  two apps in one test process do not collide): request latency per route,
  search latency per stage, provider calls, retries, fallbacks, cooldowns and
  failed calls (heard through the provider layer's public ``ProviderObserver``
  hook), errors, reindex durations, and index sizes read from the store at
  scrape time.
* ``request_id_var`` holds the id of the request being served; the
  ``RequestIdFilter`` copies it into every log record, so one grep for an
  ``X-Request-ID`` finds every line that request wrote.
* ``configure_logging(level, fmt)`` installs one handler on the root logger,
  plain text or JSON lines (``QMDR_LOG_FORMAT=json``).

Nothing here ever formats a secret: log records are whatever the modules log
(they never log keys) and metric labels are route templates, stage names,
provider ids, call kinds, error class names and status codes.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily

from providers.reliability import OUTCOME_CLOSED, OUTCOME_OK, CallKind, ProviderObserver

#: the id of the request being served ("-" outside a request); set by the API middleware
request_id_var: ContextVar[str] = ContextVar("qmdr_request_id", default="-")
#: the content type Prometheus scrapers expect for the text exposition format
PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
#: request latency buckets (seconds): a keyword search takes milliseconds, a reranked one seconds
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
#: reindex duration buckets (seconds): an unchanged vault takes a second, a first index of 100k notes an hour
REINDEX_BUCKETS = (1, 5, 15, 60, 300, 900, 3600, 4 * 3600)
#: provider call buckets (seconds): an embedding batch takes a fraction of a second, a reasoning answer minutes
PROVIDER_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)
LOG_FORMATS = ("text", "json")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s]: %(message)s"


class Metrics:
    """Every metric of one qmdr app, in its own registry."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Histogram(
            "qmdr_http_request_duration_seconds",
            "HTTP request latency by route",
            ["method", "route", "status"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.errors = Counter(
            "qmdr_http_errors_total",
            "HTTP answers with status >= 400, by route and status",
            ["route", "status"],
            registry=self.registry,
        )
        self.search_stages = Histogram(
            "qmdr_search_stage_seconds",
            "search latency per stage",
            ["stage"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.search_degraded = Counter(
            "qmdr_search_warnings_total", "searches answered with a warning (a degraded stage)", registry=self.registry
        )
        self.provider_calls = Counter(
            "qmdr_provider_requests_total",
            "calls to model providers (each after its retries and fallbacks) by provider, kind and outcome",
            ["provider", "kind", "outcome"],
            registry=self.registry,
        )
        self.provider_seconds = Histogram(
            "qmdr_provider_call_seconds",
            "provider call latency, retries and fallbacks included",
            ["provider", "kind"],
            buckets=PROVIDER_BUCKETS,
            registry=self.registry,
        )
        self.provider_retries = Counter(
            "qmdr_provider_retries_total",
            "provider calls retried after a transient failure or a damaged body",
            ["provider", "reason"],
            registry=self.registry,
        )
        self.provider_failures = Counter(
            "qmdr_provider_failed_calls_total",
            "provider calls that failed after all retries and fallbacks (the caller got an error)",
            ["provider"],
            registry=self.registry,
        )
        self.provider_fallbacks = Counter(
            "qmdr_provider_fallbacks_total",
            "models a fallback chain gave up on (by their provider) before trying the next model",
            ["provider"],
            registry=self.registry,
        )
        self.provider_cooldowns = Counter(
            "qmdr_provider_cooldowns_total",
            "times a provider was skipped for a while after repeated failures",
            ["provider"],
            registry=self.registry,
        )
        self.provider_model_cooldowns = Counter(
            "qmdr_provider_model_cooldowns_total",
            "times one model was skipped for a while after repeated failures",
            ["provider", "model"],
            registry=self.registry,
        )
        self.provider_tokens = Counter(
            "qmdr_provider_tokens_total",
            "tokens of answered chats by provider, model and kind (input includes "
            "cached_input and cache_write; output includes reasoning)",
            ["provider", "model", "kind"],
            registry=self.registry,
        )
        self.provider_cost = Counter(
            "qmdr_provider_cost_usd_total",
            "cost of answered chats at the catalog's prices (models with a price only)",
            ["provider", "model"],
            registry=self.registry,
        )
        self.reindex_seconds = Histogram(
            "qmdr_reindex_duration_seconds",
            "reindex durations by outcome",
            ["outcome"],
            buckets=REINDEX_BUCKETS,
            registry=self.registry,
        )
        self.reindex_started = Gauge("qmdr_reindex_running", "1 while a reindex runs", registry=self.registry)

    def watch_index(self, stats: Callable[[], Any]) -> None:
        """Report index sizes (``store.stats()``) on every scrape: always current, never polled."""
        self.registry.register(_IndexSizeCollector(stats))

    def observe_search(self, timings_ms: dict[str, float], warnings: list[str] | tuple[str, ...]) -> None:
        for stage, ms in timings_ms.items():
            self.search_stages.labels(stage=stage).observe(ms / 1000.0)
        if warnings:
            self.search_degraded.inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)

    def instrument_provider_client(self, client: Any) -> None:
        """Count a ProviderClient's calls, retries, fallbacks, cooldowns and failed calls.

        Uses the client's public ``observer`` hook; the newest Metrics to
        instrument a client is the one that hears it.
        """
        if hasattr(client, "observer"):
            client.observer = ProviderMetrics(self)


class ProviderMetrics(ProviderObserver):
    """The provider layer's observer hooks, turned into this app's Prometheus metrics."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    def on_call(self, provider: str, model: str, kind: CallKind, outcome: str, seconds: float) -> None:
        self.metrics.provider_calls.labels(provider=provider, kind=kind, outcome=outcome).inc()
        self.metrics.provider_seconds.labels(provider=provider, kind=kind).observe(seconds)
        if outcome not in (OUTCOME_OK, OUTCOME_CLOSED):
            self.metrics.provider_failures.labels(provider=provider).inc()

    def on_retry(self, provider: str, attempt: int, delay: float, reason: str) -> None:
        self.metrics.provider_retries.labels(provider=provider, reason=reason).inc()

    def on_fallback(self, from_model: str, to_model: str, reason: str) -> None:
        self.metrics.provider_fallbacks.labels(provider=from_model.partition("/")[0]).inc()

    def on_cooldown(self, provider: str) -> None:
        self.metrics.provider_cooldowns.labels(provider=provider).inc()

    def on_model_cooldown(self, provider: str, model: str) -> None:
        self.metrics.provider_model_cooldowns.labels(provider=provider, model=model).inc()

    def on_usage(self, provider: str, model: str, usage: Any, cost_usd: float | None) -> None:
        tokens = {
            "input": usage.input_tokens,
            "output": usage.output_tokens,
            "reasoning": usage.thinking_tokens,
            "cached_input": usage.cached_input_tokens,
            "cache_write": usage.cache_write_tokens,
        }
        for kind, count in tokens.items():
            if count:
                self.metrics.provider_tokens.labels(provider=provider, model=model, kind=kind).inc(count)
        if cost_usd is not None:
            self.metrics.provider_cost.labels(provider=provider, model=model).inc(cost_usd)


class _IndexSizeCollector:
    """Collects notes, chunks, vectors and bytes of the index when Prometheus scrapes."""

    def __init__(self, stats: Callable[[], Any]) -> None:
        self._stats = stats

    def describe(self) -> list[Any]:
        return []  # sizes are only known when the store is asked; no stats call at registration

    def collect(self) -> Any:
        family = GaugeMetricFamily("qmdr_index_size", "size of the index", labels=["what"])
        try:
            stats = self._stats()
        except Exception:  # noqa: BLE001 - a scrape must not fail because the store is closing
            return
        for what in ("notes", "chunks", "vectors"):
            family.add_metric([what], float(getattr(stats, what, 0) or 0))
        size = (getattr(stats, "extra", None) or {}).get("size_bytes")
        if size is not None:
            family.add_metric(["bytes"], float(size))
        yield family


def timed_reindex(metrics: Metrics, run: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    """Wrap a reindex coroutine function so its duration lands in ``qmdr_reindex_duration_seconds``."""

    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        metrics.reindex_started.set(1)
        outcome = "failed"
        try:
            result = await run(*args, **kwargs)
            outcome = "done"
            return result
        finally:
            metrics.reindex_started.set(0)
            metrics.reindex_seconds.labels(outcome=outcome).observe(time.perf_counter() - started)

    return wrapper


# --- logging ----------------------------------------------------------------------------------------


class RequestIdFilter(logging.Filter):
    """Adds ``record.request_id`` (from ``request_id_var``) to every record passing the handler."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request_id, and the traceback if any."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", request_id_var.get()),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def log_handler(fmt: str = "text", stream: Any = None) -> logging.Handler:
    """A stream handler in ``fmt`` (text or json) that stamps the request id on every record."""
    if fmt not in LOG_FORMATS:
        raise ValueError(f"log format must be one of {LOG_FORMATS}, not {fmt!r}")
    handler = logging.StreamHandler(stream)
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT))
    return handler


def configure_logging(level: str = "INFO", fmt: str = "text", stream: Any = None) -> logging.Handler:
    """Replace the root logger's handlers with one ``log_handler``; uvicorn's loggers propagate to it."""
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    handler = log_handler(fmt, stream)
    root.addHandler(handler)
    root.setLevel(level.upper())
    return handler


def instrument_service(metrics: Metrics, service: Any) -> None:
    """Feed ``metrics`` from one Service: index sizes, search stages, reindex durations, provider calls.

    Idempotent (an app built around a shared service may start twice in tests).
    Every vault's search and reindex go through the service's vault hub
    (``qmdr.memory.hub``), so those two methods are wrapped on that hub
    instance; the CLI's own Service objects are left alone.
    """
    if getattr(service, "_qmdr_metrics", None) is metrics:
        return
    service._qmdr_metrics = metrics
    store = getattr(service, "store", None)
    if store is not None and callable(getattr(store, "stats", None)):
        metrics.watch_index(store.stats)
    hub = service.memory
    search = hub.search_vault

    async def observed_search(*args: Any, **kwargs: Any) -> Any:
        response = await search(*args, **kwargs)
        metrics.observe_search(dict(response.timings_ms), list(response.warnings))
        return response

    hub.search_vault = observed_search
    hub.reindex = timed_reindex(metrics, hub.reindex)
    components = getattr(service, "components", None)
    client = getattr(components, "providers", None)
    if client is not None:
        metrics.instrument_provider_client(client)
