"""A reference of every scenario key, generated from the models so it cannot drift.

``promosim keys`` prints it; ``docs/scenario-reference.md`` is its committed copy
(a test checks the two agree).
"""

from __future__ import annotations

import datetime as dt
import types
import typing
from typing import Any

import annotated_types
from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from sim.scenario.models import DIURNAL_NAMES, Scenario

_TYPE_NAMES = {
    float: "number",
    int: "integer",
    bool: "boolean",
    str: "string",
    dt.datetime: "local date-time",
    dt.date: "date",
}


def _strip(annotation: Any) -> tuple[Any, list[Any]]:
    """Remove Annotated layers, collecting their metadata."""
    meta: list[Any] = []
    while typing.get_origin(annotation) is typing.Annotated:
        args = typing.get_args(annotation)
        annotation, meta = args[0], [*meta, *args[1:]]
    return annotation, meta


def _describe_type(annotation: Any) -> tuple[str, list[Any], type[BaseModel] | None, bool]:
    """(type text, constraint metadata, nested model or None, is_array_of_tables)."""
    annotation, meta = _strip(annotation)
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        parts = [_describe_type(a) for a in args]
        text = " or ".join(p[0] for p in parts)
        model = next((p[2] for p in parts if p[2] is not None), None)
        return text, meta + [m for p in parts for m in p[1]], model, False
    if origin is typing.Literal:
        return (
            "one of " + ", ".join(f'"{a}"' for a in typing.get_args(annotation)),
            meta,
            None,
            False,
        )
    if origin is tuple:
        inner, inner_meta, model, _ = _describe_type(typing.get_args(annotation)[0])
        if model is not None:
            return f"array of [[{model.__name__}]] tables", meta, model, True
        return f"array of {inner}", meta + inner_meta, None, False
    if origin is dict:
        v = typing.get_args(annotation)[1]
        return f"table of {_describe_type(v)[0]} by name", meta + _describe_type(v)[1], None, False
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return f"table ({annotation.__name__})", meta, annotation, False
    return (
        _TYPE_NAMES.get(annotation, getattr(annotation, "__name__", str(annotation))),
        meta,
        None,
        False,
    )


def _constraints(meta: list[Any]) -> str:
    return ", ".join(dict.fromkeys(_constraint_list(meta)))


def _constraint_list(meta: list[Any]) -> list[str]:
    out: list[str] = []
    for m in meta:
        for attr, sym in (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<")):
            v = getattr(m, attr, None)
            if v is not None and isinstance(m, annotated_types.BaseMetadata | FieldInfo):
                out.append(f"{sym} {v:g}" if isinstance(v, float) else f"{sym} {v}")
        if isinstance(m, FieldInfo):
            out.extend(_constraint_list(list(m.metadata)))
        if getattr(m, "min_length", None):
            out.append(f"length >= {m.min_length}")
        if getattr(m, "max_length", None):
            out.append(f"length <= {m.max_length}")
        if getattr(m, "pattern", None):
            out.append(f"matches `{m.pattern}`")
    return out


def _default(info: FieldInfo) -> str:
    if info.is_required():
        return "**required**"
    value = info.default
    if value is PydanticUndefined and info.default_factory is not None:
        value = info.default_factory()  # type: ignore[call-arg]
    if isinstance(value, BaseModel):
        return "see table"
    if value is None:
        return "none"
    if value == () or value == {}:
        return "empty"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, str):
        return f'"{value}"'
    return str(value)


def _section(
    model: type[BaseModel], path: str, array: bool, out: list[str], seen: set[str]
) -> None:
    key = f"{path}:{model.__name__}"
    if key in seen:
        return
    seen.add(key)
    heading = f"[[{path}]]" if array else (f"[{path}]" if path else "top level")
    out.append(f"\n## `{heading}`\n")
    doc = (model.__doc__ or "").strip().split("\n\n")[0].replace("\n", " ")
    if doc:
        out.append(doc + "\n")
    out.append("| key | type | default | allowed | meaning |")
    out.append("|---|---|---|---|---|")
    nested: list[tuple[type[BaseModel], str, bool]] = []
    for name, info in model.model_fields.items():
        text, meta, sub, is_array = _describe_type(info.annotation)
        allowed = _constraints([*meta, *info.metadata])
        if name == "diurnal":
            text = "string or array of 24 numbers"
            allowed = (
                "one of " + ", ".join(f'"{n}"' for n in DIURNAL_NAMES) + "; or 24 weights >= 0"
            )
        meaning = (info.description or "").replace("\n", " ").replace("|", "\\|")
        out.append(f"| `{name}` | {text} | {_default(info)} | {allowed} | {meaning} |")
        if sub is not None:
            nested.append((sub, f"{path}.{name}" if path else name, is_array))
    for sub, sub_path, is_array in nested:
        _section(sub, sub_path, is_array, out, seen)


def reference_markdown() -> str:
    """The full key reference as Markdown."""
    out = [
        "# Scenario key reference",
        "",
        "Generated from the models in `sim/scenario/models.py` by `promosim keys`; do not edit.",
        "Times are local date-times in the campaign's time zone (`2026-11-11T00:00:00`) or",
        "dates; money is in the campaign currency. A file may start with",
        '`base = "other.toml"` to extend another file (see the README). Window fields',
        "(`start`, `end`, `phases`) appear on every mechanism that runs in a window: with",
        "neither times nor phases it runs for the whole campaign.",
    ]
    _section(Scenario, "", False, out, set())
    return "\n".join(out) + "\n"
