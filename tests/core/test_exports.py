"""The public surface is exactly what ``__all__`` lists, sorted."""

import inspect

import llmos


def test_all_is_sorted_and_complete() -> None:
    assert llmos.__all__ == sorted(llmos.__all__)
    public = {
        name
        for name, value in vars(llmos).items()
        if not name.startswith("_") and not inspect.ismodule(value)
    }
    assert public | {"__version__"} == set(llmos.__all__)
