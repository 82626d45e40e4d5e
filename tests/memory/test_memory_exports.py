"""The public surface of llmos.memory."""

from __future__ import annotations


def test_the_memory_package_exports_a_sorted_public_surface() -> None:
    import llmos.memory as memory

    assert memory.__all__ == sorted(memory.__all__)
    assert all(hasattr(memory, name) for name in memory.__all__)
