"""Re-export of :mod:`qmdr.testing.openai_server` (moved into the package for ``qmdr bench``)."""

from qmdr.testing.openai_server import (  # noqa: F401
    DEFAULT_DIM,
    FAULT_KINDS,
    STARTUP_TIMEOUT_SECONDS,
    ChatFn,
    EmbedFn,
    FakeOpenAIServer,
    Fault,
    RecordedRequest,
    echo_chat,
    hash_vector,
)
