"""The public surface is exactly what ``__all__`` lists, sorted, and loads lazily."""

import inspect
import subprocess
import sys

import llmos


def test_all_is_sorted_and_complete() -> None:
    assert llmos.__all__ == sorted(llmos.__all__)
    for name in llmos.__all__:  # each public name resolves (the lazy ones on first use)
        assert getattr(llmos, name) is not None
    public = {
        name
        for name, value in vars(llmos).items()
        if not name.startswith("_") and not inspect.ismodule(value)
    }
    assert public | {"__version__"} == set(llmos.__all__)
    assert set(llmos.__all__) <= set(dir(llmos))


def test_the_facade_imports_the_engine_only_when_a_name_is_used() -> None:
    code = (
        "import sys, llmos\n"
        "print('llmos.api' in sys.modules)\n"
        "from llmos import LLMOS, TokenEconomy\n"
        "print('llmos.api' in sys.modules, LLMOS.__module__, TokenEconomy.__name__)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert done.stdout.split() == ["False", "True", "llmos.api", "TokenEconomy"]


def test_an_unknown_name_is_an_attribute_error() -> None:
    try:
        _ = llmos.NoSuchThing  # type: ignore[attr-defined]
    except AttributeError as exc:
        assert "NoSuchThing" in str(exc)
    else:
        raise AssertionError("llmos.NoSuchThing resolved")
