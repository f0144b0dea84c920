"""``qmdr providers``, ``qmdr models`` and ``qmdr chat``: the provider layer from the command line."""

# No ``from __future__ import annotations``: typer reads every command's signature on each call, and
# string annotations would be compiled and evaluated each time (about 4% of a `qmdr search`'s CPU).

import getpass
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer

from qmdr.cli import render
from qmdr.cli.common import JsonOpt, console, domain_errors_fail, err_console, fail, load_settings, run_async

providers_app = typer.Typer(
    help="Provider keys and custom endpoints (Settings -> Providers).",
    no_args_is_help=False,
    invoke_without_command=True,
)
models_app = typer.Typer(help="Model strings: list the catalog, resolve a string.", no_args_is_help=True)


def _access() -> Any:
    from qmdr.wiring import build_provider_access

    with domain_errors_fail():
        return build_provider_access(load_settings())


@contextmanager
def provider_access() -> Iterator[Any]:
    """(secrets, keys, client) for one command, closed afterwards; domain errors become CLI errors."""
    secrets, keys, client, _ = _access()
    try:
        with domain_errors_fail():
            yield secrets, keys, client
    finally:
        _run(client.aclose())
        secrets.close()


def _run(coro: Any) -> Any:
    return run_async(coro)


@providers_app.callback()
def providers_list(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """List every provider with where its key comes from (stored / env / none), never the key."""
    if ctx.invoked_subcommand is not None:
        return
    with provider_access() as (_, keys, _client):
        infos = [keys.key_info(pid) for pid in keys.provider_ids()]
    if as_json:
        print(
            json.dumps(
                [
                    {
                        "id": i.provider,
                        "source": i.source,
                        "masked": i.masked,
                        "env_var": i.env_var,
                        "ready": i.ready,
                        "missing_settings": list(i.missing_settings),
                        "error": i.error,
                    }
                    for i in infos
                ],
                indent=2,
            )
        )
        return
    console.print(
        render.table(
            "Providers",
            ("id", "key source", "key", "env var", "notes"),
            [
                (
                    i.provider,
                    i.source,
                    i.masked or "",
                    i.env_var or "",
                    i.error or (f"needs {', '.join(i.missing_settings)}" if i.missing_settings else ""),
                )
                for i in infos
            ],
        )
    )


@providers_app.command("set-key")
def set_key(provider: Annotated[str, typer.Argument(help="provider id, e.g. openrouter")]) -> None:
    """Store a provider key encrypted with SECRET_ENCRYPTION_KEY (read from stdin or a hidden prompt)."""
    key = sys.stdin.readline().strip() if not sys.stdin.isatty() else getpass.getpass(f"{provider} API key: ")
    if not key:
        raise fail("no key given", 2)
    with provider_access() as (secrets, keys, _client):
        keys.spec(provider)
        secrets.set_key(provider, key)
        info = keys.key_info(provider)
    render.say(console, f"stored {provider} key {info.masked} (it now wins over {info.env_var or 'the env var'})")


@providers_app.command("remove-key")
def remove_key(provider: Annotated[str, typer.Argument(help="provider id")]) -> None:
    """Remove a stored key; the env var, if set, applies again."""
    with provider_access() as (secrets, _keys, _client):
        removed = secrets.delete_key(provider)
    render.say(console, f"removed the stored {provider} key" if removed else f"no stored key for {provider}")


@providers_app.command("add-custom")
def add_custom(
    slug: Annotated[str, typer.Argument(help="lowercase letters, digits, dashes; used as custom-<slug>/<model>")],
    base_url: Annotated[str, typer.Argument(help="e.g. http://localhost:11434/v1 for Ollama")],
    with_key: Annotated[bool, typer.Option("--with-key", help="read an API key from stdin or a prompt")] = False,
) -> None:
    """Add an OpenAI-compatible endpoint (Ollama, LM Studio, vLLM, ...) as custom-<slug>."""
    key = None
    if with_key:
        key = sys.stdin.readline().strip() if not sys.stdin.isatty() else getpass.getpass("API key: ")
    with provider_access() as (secrets, _keys, _client):
        custom = secrets.add_custom_provider(slug, base_url, key or None)
    render.say(console, f"added {custom.provider_id}: use models as {custom.provider_id}/<model>")


@providers_app.command("test")
def test(provider: Annotated[str, typer.Argument(help="provider id")]) -> None:
    """Make a cheap real call (list models) and show success or the provider's error."""
    secrets, _, client, _ = _access()

    async def go() -> tuple[bool, str]:
        try:
            return await client.test_provider(provider)
        finally:
            await client.aclose()

    try:
        ok, message = _run(go())
    finally:
        secrets.close()
    render.say(console if ok else err_console, ("ok: " if ok else "failed: ") + message)
    if not ok:
        raise typer.Exit(1)


@providers_app.command("rotate-key")
def rotate_key() -> None:
    """Re-encrypt every stored key from SECRET_ENCRYPTION_KEY to the key in QMDR_NEW_SECRET_ENCRYPTION_KEY."""
    import os

    from providers.secret_store import SecretStore

    settings = load_settings()
    new = os.environ.get("QMDR_NEW_SECRET_ENCRYPTION_KEY")
    if settings.secret_encryption_key is None or not new:
        raise fail("set SECRET_ENCRYPTION_KEY (the current key) and QMDR_NEW_SECRET_ENCRYPTION_KEY (the new one)", 2)
    old = settings.secret_encryption_key.get_secret_value()
    with domain_errors_fail(), SecretStore(settings.settings_db_path, encryption_key=old) as store:
        count = store.rotate_encryption_key(old, new)
    console.print(f"re-encrypted {count} stored secret(s); now set SECRET_ENCRYPTION_KEY to the new key")


@models_app.command("resolve")
def resolve(
    model: Annotated[str | None, typer.Argument(help="e.g. anthropic/claude-sonnet-4")] = None,
    pipeline: Annotated[
        Path | None, typer.Option("--pipeline", help="pipeline YAML (steps: [{id, agent, model}]): resolve every step")
    ] = None,
    step: Annotated[str | None, typer.Option("--step", help="only this step of --pipeline")] = None,
    agents_dir: Annotated[
        Path | None,
        typer.Option("--agents-dir", help="agent configs (<dir>/<agent>/config.yml); default QMDR_AGENTS_DIR"),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Show which provider a model string goes to and the model id sent to its API; with --pipeline, which
    model, thinking model and level each step runs with and where each came from (step, agent, default)."""
    from providers.resolver import parse_model_string

    if pipeline is not None:
        if model is not None:
            raise fail("give a MODEL or --pipeline FILE, not both", 2)
        _resolve_pipeline(pipeline, step, agents_dir, as_json)
        return
    if model is None:
        raise fail("give a MODEL (provider/model) or --pipeline FILE", 2)
    if step is not None or agents_dir is not None:
        raise fail("--step and --agents-dir go with --pipeline", 2)
    with provider_access() as (_secrets, keys, client):
        ref = parse_model_string(model)
        keys.spec(ref.provider)
        info = keys.key_info(ref.provider)
        data = {
            "input": model,
            "provider": ref.provider,
            "model_sent": client.catalog.resolve(ref.provider, ref.model),
            "supports_thinking": client.catalog.supports_thinking(ref.provider, ref.model),
            "key_source": info.source,
            "key_env_var": info.env_var,
        }
    if as_json:
        print(json.dumps(data, indent=2))
    else:
        for key, value in data.items():
            render.say(console, f"{key}: {value}")


def _resolve_pipeline(path: Path, step_id: str | None, agents_dir: Path | None, as_json: bool) -> None:
    """The table (or JSON) of ``qmdr models resolve --pipeline``."""
    from providers.resolver import load_pipeline, pipeline_step, resolve_agent

    settings = load_settings()
    with provider_access() as (secrets, _keys, _client):
        loaded = load_pipeline(path)
        steps = [pipeline_step(loaded, step_id, path=path)] if step_id is not None else loaded.steps
        defaults = secrets.get_defaults()
        rows = []
        for s in steps:
            r = resolve_agent(
                s.agent, step_model=s.model, defaults=defaults, agents_dir=agents_dir or settings.qmdr_agents_dir
            )
            rows.append(
                {
                    "step": s.id,
                    "agent": s.agent,
                    "model": str(r.model),
                    "thinking_model": str(r.thinking_model) if r.thinking_model else None,
                    "thinking_level": r.thinking_level,
                    "sources": dict(r.sources),
                }
            )
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    columns = ("step", "agent", "model", "thinking model", "level", "from (model / thinking model / level)")
    console.print(
        render.table(
            f"Pipeline {path.name}",
            columns,
            [
                (
                    row["step"],
                    row["agent"],
                    row["model"],
                    row["thinking_model"] or "",
                    row["thinking_level"] or "",
                    " / ".join(row["sources"].get(k, "-") for k in ("model", "thinking_model", "thinking_level")),
                )
                for row in rows
            ],
        )
    )


@models_app.command("refresh")
def refresh(
    provider: Annotated[
        list[str] | None,
        typer.Option("--provider", help="only this provider (repeatable); default: every provider that is set up"),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Read each provider's model list and keep what it reports (ids, context windows, thinking, prices where
    given) in the stored catalog, with the date; chat then knows those models' capabilities and prices."""
    import time

    from providers.catalog import info_to_dict
    from providers.errors import ProviderError

    results: list[dict[str, Any]] = []
    with provider_access() as (secrets, keys, client):
        targets = list(provider or [i.provider for i in map(keys.key_info, keys.provider_ids()) if i.ready])
        if not targets:
            raise fail("no provider is set up: store a key (qmdr providers set-key ID) or set its env var", 1)

        async def read_all() -> None:
            try:
                for pid in targets:
                    keys.spec(pid)  # an unknown id fails at once
                    try:
                        infos = await client.refresh_catalog(pid)
                    except ProviderError as exc:
                        results.append({"provider": pid, "ok": False, "models": 0, "message": exc.message})
                        continue
                    count = secrets.save_catalog(pid, [info_to_dict(i) for i in infos])
                    results.append(
                        {
                            "provider": pid,
                            "ok": True,
                            "models": count,
                            "refreshed_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                        }
                    )
            finally:
                await client.aclose()  # on this loop, where its connections live

        run_async(read_all())
    if as_json:
        print(json.dumps(results, indent=2))
    else:
        console.print(
            render.table(
                "Model catalog refresh",
                ("provider", "models", "result"),
                [(r["provider"], r["models"], r.get("refreshed_at") or r["message"]) for r in results],
            )
        )
    if not any(r["ok"] for r in results):
        raise typer.Exit(1)


@models_app.command("list")
def list_models(provider: Annotated[str | None, typer.Option(help="only this provider")] = None) -> None:
    """The model catalog: context window, embedding dimension, thinking support."""
    from providers.catalog import KNOWN_MODELS

    console.print(
        render.table(
            "Models",
            ("model string", "kind", "context", "dim", "thinking"),
            [
                (
                    f"{m.provider}/{m.id}",
                    m.kind,
                    m.context_window or "",
                    m.embedding_dim or "",
                    "yes" if m.supports_thinking else "",
                )
                for m in KNOWN_MODELS
                if provider is None or m.provider == provider
            ],
        )
    )


def _load_tools(path: Path | None, tool_choice: str | None) -> tuple[Any, ...]:
    """Checked tools from a JSON or YAML file: a list of tools, or ``{"tools": [...]}``."""
    from providers.errors import InvalidToolDefinition
    from providers.tools import as_tools

    if path is None:
        raise fail("--tool-choice needs --tools FILE", 2)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise fail(f"cannot read the tools file {path}: {exc.strerror}", 2) from None
    try:
        import yaml

        data = yaml.safe_load(text)  # YAML is a superset of JSON: one parser reads both
    except yaml.YAMLError as exc:
        raise fail(f"the tools file {path} is neither JSON nor YAML: {exc}", 2) from None
    if isinstance(data, dict):
        data = data.get("tools")
    if not isinstance(data, list):
        raise fail(f"the tools file {path} must hold a list of tools (or an object with a 'tools' list)", 2)
    try:
        return as_tools(data, tool_choice)
    except InvalidToolDefinition as exc:
        raise fail(f"{path}: {exc.message}", 2) from None


def chat(
    prompt: Annotated[str, typer.Argument(help="the user message")],
    model: Annotated[str, typer.Option("-m", "--model", help="provider/model, e.g. openrouter/moonshotai/kimi-k2.5")],
    thinking: Annotated[str | None, typer.Option(help="off, low, medium or high")] = None,
    system: Annotated[str | None, typer.Option(help="a system prompt")] = None,
    fallback: Annotated[list[str] | None, typer.Option(help="fallback model (repeatable)")] = None,
    stream: Annotated[bool, typer.Option("--stream/--no-stream", help="print the answer as it arrives")] = True,
    tools_file: Annotated[
        Path | None,
        typer.Option(
            "--tools", help="JSON or YAML file with a list of tools: name, description, parameters (JSON Schema)"
        ),
    ] = None,
    tool_choice: Annotated[str | None, typer.Option(help="auto, none, required or a tool's name")] = None,
) -> None:
    """Chat with any provider's model through the same registry agents use.

    With --tools the model may call the tools; each call is printed as one line
    ``tool_call <json>`` ({"id", "name", "arguments"}) for the caller to run."""
    if thinking not in (None, "off", "low", "medium", "high"):
        raise fail("--thinking must be off, low, medium or high", 2)
    from providers.types import Message

    tools = _load_tools(tools_file, tool_choice) if tools_file or tool_choice else ()
    messages = ([Message("system", system)] if system else []) + [Message("user", prompt)]
    options = {
        "thinking_level": thinking,
        "fallbacks": tuple(fallback or ()),
        "tools": tools,
        "tool_choice": tool_choice,
    }
    secrets, _, client, _ = _access()

    def print_calls(calls: Any) -> None:
        for call in calls:
            # one machine-readable line each, never wrapped to the terminal's width (JSON escapes control chars)
            line = json.dumps({"id": call.id, "name": call.name, "arguments": call.arguments})
            console.file.write(f"tool_call {line}\n")
            console.file.flush()

    async def go() -> None:
        try:
            if stream:
                async for delta in client.stream_chat(model, messages, **options):
                    if delta.thinking:
                        err_console.print(render.literal(delta.thinking, "dim"), end="")
                    if delta.text:
                        console.print(render.literal(delta.text), end="")
                    if delta.tool_calls:
                        console.print()
                        print_calls(delta.tool_calls)
                console.print()
            else:
                result = await client.chat(model, messages, **options)
                if result.thinking:
                    err_console.print(render.literal(result.thinking, "dim"))
                console.print(render.literal(result.text))
                print_calls(result.tool_calls)
                note = result.metadata.get("thinking_note")
                if note:
                    render.say(err_console, note, "dim")
        finally:
            await client.aclose()

    try:
        _run(go())
    finally:
        secrets.close()
