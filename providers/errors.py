"""Errors raised by the provider layer. Nothing above ``providers`` sees httpx.

    ProviderError
    ├── UnknownProvider          the model string names no provider we know
    ├── MissingCredentials       the provider needs a key/config that is not set (names the env var)
    ├── SecretStoreError         SECRET_ENCRYPTION_KEY missing or wrong for the stored keys
    ├── ProviderConnectionError  could not reach the provider
    │   └── ProviderTimeout
    │       └── DeadlineExceeded  the call's total deadline (retries, backoff, fallbacks) ran out
    ├── ProviderStatusError(status, body)   the provider answered with an error status
    │   ├── AuthError            401/403
    │   ├── RateLimited(retry_after)  429
    │   └── ProviderUnavailable  5xx
    ├── MalformedResponse        the provider answered 2xx with a body we cannot read
    │   ├── CorruptResponse      ... labelled JSON but not parseable (cut short or garbled on the way)
    │   ├── SchemaViolation      a structured answer is not JSON matching the schema, even after one repair
    │   └── ToolCallError(tool)  the model's tool call cannot be used
    │       ├── UnknownTool          it names a tool that was not offered
    │       ├── InvalidToolArguments its arguments are not a JSON object
    │       └── IncompleteToolCall   the stream ended in the middle of it
    ├── InvalidToolDefinition    a tool definition or tool_choice the caller gave is unusable (also ValueError)
    ├── StructuredOutputUnsupported  the model or API cannot be held to a JSON schema
    ├── ConfigError(path, line)  a pipeline/agent config file cannot be read (names file and line)
    └── AllModelsFailed(attempts) every model in a fallback chain failed

Messages say what to do next and never contain a secret.
"""

from __future__ import annotations


class ProviderError(Exception):
    """Base of every provider-layer error."""

    def __init__(self, message: str, *, provider: str | None = None, model: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.provider = provider
        self.model = model


class UnknownProvider(ProviderError):
    """The model string names a provider that is not in the registry."""


class MissingCredentials(ProviderError):
    """A provider needs a key or setting that is not configured."""

    def __init__(self, message: str, *, env_var: str | None = None, provider: str | None = None) -> None:
        super().__init__(message, provider=provider)
        self.env_var = env_var


class SecretStoreError(ProviderError):
    """Stored keys cannot be read or written (encryption key missing or wrong)."""


class ProviderConnectionError(ProviderError):
    """The provider could not be reached."""


class ProviderTimeout(ProviderConnectionError):
    """The provider did not answer in time."""


class DeadlineExceeded(ProviderTimeout):
    """A call's total deadline ran out: it covers every request, retry, backoff wait and fallback.

    Not retried and never moved on to the next model: the time it would need is what ran out.
    """


class ProviderStatusError(ProviderError):
    """The provider answered with an error HTTP status."""

    def __init__(
        self, message: str, *, status: int, body: str = "", provider: str | None = None, model: str | None = None
    ) -> None:
        super().__init__(message, provider=provider, model=model)
        self.status = status
        self.body = body


class AuthError(ProviderStatusError):
    """401/403: the key is wrong, expired or lacks access."""


class RateLimited(ProviderStatusError):
    """429: slow down; ``retry_after`` seconds when the provider said."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs) -> None:
        super().__init__(message, status=kwargs.pop("status", 429), **kwargs)
        self.retry_after = retry_after


class ProviderUnavailable(ProviderStatusError):
    """5xx: the provider is down or overloaded."""


class MalformedResponse(ProviderError):
    """A success status with a body that does not have the documented shape."""


class CorruptResponse(MalformedResponse):
    """A 2xx body labelled as JSON that does not parse: cut short or garbled on the way, so worth one retry.

    A body that is not labelled JSON at all (an HTML page from a wrong base
    URL or a captive proxy) stays a plain MalformedResponse: asking again
    would get the same page.
    """


class SchemaViolation(MalformedResponse):
    """The answer to a structured-output request is not JSON matching the schema, even after one repair.

    ``answer`` keeps the model's last answer: a server that ignores ``response_format`` may still have
    answered usefully in prose, and a caller with a lenient parser can read it instead of giving up.
    """

    def __init__(
        self, message: str, *, provider: str | None = None, model: str | None = None, answer: str | None = None
    ) -> None:
        super().__init__(message, provider=provider, model=model)
        self.answer = answer


class StructuredOutputUnsupported(ProviderError):
    """The model (or its API) cannot be held to a JSON schema; the message says which and what to use."""


class ToolCallError(MalformedResponse):
    """A tool call in the model's answer that cannot be handed to the caller; ``tool`` names it when known."""

    def __init__(
        self, message: str, *, tool: str | None = None, provider: str | None = None, model: str | None = None
    ) -> None:
        super().__init__(message, provider=provider, model=model)
        self.tool = tool


class UnknownTool(ToolCallError):
    """The model called a tool that was not among the definitions sent."""


class InvalidToolArguments(ToolCallError):
    """The model's tool-call arguments are not valid JSON, or not a JSON object."""


class IncompleteToolCall(ToolCallError):
    """The stream ended (without its finish marker) while a tool call's arguments were still arriving."""


class InvalidToolDefinition(ProviderError, ValueError):
    """A tool definition or ``tool_choice`` given by the caller is unusable; the message says which and why."""


class AllModelsFailed(ProviderError):
    """Every model of a fallback chain failed; ``attempts`` records (model, reason)."""

    def __init__(self, message: str, *, attempts: list[tuple[str, str]]) -> None:
        super().__init__(message)
        self.attempts = attempts


class ConfigError(ProviderError):
    """A pipeline or agent config file is unreadable or invalid; names the file and, when known, the line."""

    def __init__(self, message: str, *, path: str | None = None, line: int | None = None) -> None:
        super().__init__(message)
        self.path = path
        self.line = line
