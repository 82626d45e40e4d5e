"""The base of every built-in tool's input model: schemas shaped like Claude Code's.

Pydantic renders an optional field as ``anyOf: [X, null]`` with
``default: null``; Claude Code's tools declare such a field as plain ``X``
left out of ``required``. The simpler shape is what models were trained on
and what strict function-calling servers accept, so it is used here.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict


def _optional_as_absent(schema: dict[str, Any], model: type[BaseModel]) -> None:
    for prop in schema.get("properties", {}).values():
        variants = prop.get("anyOf")
        if variants is not None and {"type": "null"} in variants and len(variants) == 2:
            del prop["anyOf"]
            prop.update(next(v for v in variants if v != {"type": "null"}))
        if "default" in prop and prop["default"] is None:
            del prop["default"]


class ToolInput(BaseModel):
    """Input model for a built-in tool; optional fields may be omitted or null."""

    model_config = ConfigDict(populate_by_name=True, json_schema_extra=_optional_as_absent)
