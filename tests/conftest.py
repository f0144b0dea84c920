"""Shared pytest fixtures for the whole test tree."""

import pytest


@pytest.fixture
def anyio_backend() -> str:
    """Run ``@pytest.mark.anyio`` tests on asyncio only: the service runs on asyncio."""
    return "asyncio"
