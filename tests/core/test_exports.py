"""The public surface is exactly what ``__all__`` lists, sorted."""

import llmos


def test_all_is_sorted_and_complete() -> None:
    assert llmos.__all__ == sorted(llmos.__all__)
    public = {name for name in vars(llmos) if not name.startswith("_")} - {
        "api",
        "kernel",
        "plugins",
        "cli",
        "backends",
        "config",
        "errors",
        "events",
        "hooks",
        "memory",
        "messages",
        "tools",
        "workspace",
        "economy",
        "security",
        "modes",
        "agents",
        "projects",
        "testing",
    }
    assert public | {"__version__"} == set(llmos.__all__)
