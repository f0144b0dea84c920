"""The ``providers`` package exports its public names lazily (PEP 562)."""

import subprocess
import sys

import pytest

import providers


def test_every_public_name_resolves_to_the_object_its_module_defines():
    import importlib

    assert set(providers.__all__) == set(providers._EXPORTS)
    for name in providers.__all__:
        module = importlib.import_module(providers._EXPORTS[name])
        assert getattr(providers, name) is getattr(module, name), name
    assert set(providers.__all__) <= set(dir(providers))


def test_an_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'NoSuchThing'"):
        providers.NoSuchThing  # noqa: B018


def test_importing_the_errors_does_not_load_the_client_stack():
    """Why it is lazy: the CLI imports ``providers.errors`` before it knows which command runs."""
    probe = (
        "import sys, providers.errors; "
        "print(sorted(m for m in ('providers.client', 'httpx', 'cryptography') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-P", "-c", probe], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
