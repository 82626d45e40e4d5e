"""The economy package's public surface: sorted as ruff sorts it, every name importable."""

from __future__ import annotations

import llmos.economy


def _isort_key(name: str) -> tuple[int, str]:
    """Constants first, then classes, then functions (ruff's RUF022 order)."""
    return (0 if name.isupper() else 1 if name[0].isupper() else 2, name)


def test_the_public_names_are_sorted_and_exist() -> None:
    names = llmos.economy.__all__
    assert names == sorted(names, key=_isort_key)
    assert all(hasattr(llmos.economy, name) for name in names)
