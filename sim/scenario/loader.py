"""Reading scenario files: TOML, ``base`` inheritance, ``--set`` overrides, clear errors.

A scenario file is data. It is parsed with :mod:`tomllib` and validated; it is
never evaluated, imported or unpickled.

Inheritance
-----------
A file may start with ``base = "other.toml"`` (resolved relative to the file).
The file's tables are merged over the base's: tables merge key by key; arrays of
tables whose items all have a ``name`` merge item by item on that name (an item
with ``remove = true`` drops the base's item of that name; a new name is
appended); any other array replaces the base's whole.

Overrides
---------
``KEY=VALUE`` with a dotted path; list items by position or by name:
``promotions.threshold.tiers[0].off=60``, ``population.segments[new].share=0.3``.
VALUE is read as a TOML value (``60``, ``0.3``, ``true``, ``"text"``, ``[0, 10]``,
``2026-11-11T00:00:00``); anything that is not valid TOML is taken as a string.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import re
import tomllib
import typing
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from sim.scenario.models import CrossFieldErrors, Scenario

Loc = tuple[str | int, ...]
SET_ORIGIN = "--set"


@dataclass(frozen=True)
class ErrorLine:
    """One problem in a scenario: where it is, what is wrong, what was given."""

    source: str
    path: str
    message: str
    given: Any = None

    def __str__(self) -> str:
        given = "" if self.given is None else f" (given: {_show(self.given)})"
        where = f"{self.path}: " if self.path else ""
        return f"{self.source}: {where}{self.message}{given}"


class ScenarioError(Exception):
    """A scenario could not be read or is invalid; ``errors`` lists every problem."""

    def __init__(self, errors: Sequence[ErrorLine]) -> None:
        self.errors = list(errors)
        super().__init__("\n".join(str(e) for e in self.errors))


def _show(value: Any) -> str:
    text = repr(value) if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= 80 else text[:77] + "..."


def format_loc(loc: Iterable[str | int]) -> str:
    """``("a", "b", 0, "c")`` -> ``"a.b[0].c"``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


# ---------------------------------------------------------------------------
# origins: which file set which field
# ---------------------------------------------------------------------------


@dataclass
class _Origin:
    source: str
    children: dict[Any, _Origin] | list[_Origin] | None = None


def _origin_of(value: Any, source: str) -> _Origin:
    if isinstance(value, dict):
        return _Origin(source, {k: _origin_of(v, source) for k, v in value.items()})
    if isinstance(value, list):
        return _Origin(source, [_origin_of(v, source) for v in value])
    return _Origin(source)


def _source_at(origin: _Origin, loc: Loc) -> str:
    node = origin
    for part in loc:
        kids = node.children
        if isinstance(kids, dict) and part in kids:
            node = kids[part]
        elif isinstance(kids, list) and isinstance(part, int) and 0 <= part < len(kids):
            node = kids[part]
        else:
            break
    return node.source


# ---------------------------------------------------------------------------
# merging
# ---------------------------------------------------------------------------


def _named_items(value: Any) -> bool:
    return (
        isinstance(value, list)
        and bool(value)
        and all(isinstance(v, dict) and isinstance(v.get("name"), str) for v in value)
    )


def _merge(
    base: Any, base_o: _Origin, over: Any, source: str, loc: Loc, errors: list[ErrorLine]
) -> tuple[Any, _Origin]:
    if isinstance(base, dict) and isinstance(over, dict):
        out = dict(base)
        kids = dict(base_o.children) if isinstance(base_o.children, dict) else {}
        for key, value in over.items():
            if key in out:
                out[key], kids[key] = _merge(
                    out[key], kids[key], value, source, (*loc, key), errors
                )
            else:
                out[key], kids[key] = value, _origin_of(value, source)
        return out, _Origin(source, kids)
    if _named_items(base) and _named_items(over):
        items = list(base)
        kid_list = list(base_o.children) if isinstance(base_o.children, list) else []
        for item in over:
            names = [b["name"] for b in items]
            name = item["name"]
            if item.get("remove") is True:
                if name not in names:
                    errors.append(
                        ErrorLine(
                            source,
                            format_loc(loc),
                            f"cannot remove '{name}': the base has no item of that name",
                        )
                    )
                    continue
                i = names.index(name)
                del items[i], kid_list[i]
            elif name in names:
                i = names.index(name)
                items[i], kid_list[i] = _merge(
                    items[i], kid_list[i], item, source, (*loc, i), errors
                )
            else:
                items.append(item)
                kid_list.append(_origin_of(item, source))
        return items, _Origin(source, kid_list)
    return over, _origin_of(over, source)


# ---------------------------------------------------------------------------
# reading files
# ---------------------------------------------------------------------------


def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def _read(path: Path, chain: tuple[Path, ...]) -> tuple[dict[str, Any], _Origin]:
    shown = _display(path)
    real = path.resolve()
    if real in chain:
        cycle = " -> ".join(_display(p) for p in (*chain, real))
        raise ScenarioError(
            [ErrorLine(shown, "base", f"files extend each other in a cycle: {cycle}")]
        )
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ScenarioError([ErrorLine(shown, "", "file not found")]) from None
    except IsADirectoryError:
        raise ScenarioError([ErrorLine(shown, "", "is a directory, not a scenario file")]) from None
    except OSError as exc:
        raise ScenarioError([ErrorLine(shown, "", f"cannot read: {exc.strerror}")]) from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ScenarioError([ErrorLine(shown, "", "not UTF-8 text")]) from None
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError([ErrorLine(shown, "", f"not valid TOML: {exc}")]) from None
    except RecursionError:  # tomllib recurses once per level of nested arrays or tables
        raise ScenarioError([ErrorLine(shown, "", "not valid TOML: nested too deeply")]) from None

    base_name = data.pop("base", None)
    if base_name is None:
        return data, _origin_of(data, shown)
    if not isinstance(base_name, str) or not base_name:
        raise ScenarioError([ErrorLine(shown, "base", "must be a file name (a string)", base_name)])
    base_path = path.parent / base_name
    try:
        found = base_path.exists()
    except OSError:  # e.g. a name too long for the file system
        found = False
    if not found:
        raise ScenarioError(
            [
                ErrorLine(
                    shown,
                    "base",
                    f"base file '{base_name}' not found (looked for {_display(base_path)})",
                    base_name,
                )
            ]
        )
    base, base_o = _read(base_path, (*chain, real))
    errors: list[ErrorLine] = []
    merged, origin = _merge(base, base_o, data, shown, (), errors)
    if errors:
        raise ScenarioError(errors)
    return merged, origin


# ---------------------------------------------------------------------------
# overrides
# ---------------------------------------------------------------------------

_PART = re.compile(r"([A-Za-z_][A-Za-z0-9_\-]*)((?:\[[^\[\]]+\])*)$")


def parse_path(key: str) -> Loc:
    """Parse ``a.b[0].c[name]`` into ``("a", "b", 0, "c", "name")``-style parts.

    Named list items are returned as ``("name", NAME)`` pairs wrapped in a tuple.
    """
    parts: list[Any] = []
    for chunk in key.split("."):
        m = _PART.match(chunk)
        if not m:
            raise ValueError(
                f"cannot read the path '{key}' (use dotted keys, with [N] or [name] for list items)"
            )
        parts.append(m.group(1))
        for idx in re.findall(r"\[([^\[\]]+)\]", m.group(2)):
            parts.append(int(idx) if re.fullmatch(r"-?[0-9]+", idx) else ("name", idx))
    return tuple(parts)


def parse_value(text: str) -> Any:
    """Read an override value as TOML; fall back to the raw string."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except (tomllib.TOMLDecodeError, RecursionError):
        return text


def apply_override(data: dict[str, Any], origin: _Origin, key: str, value: Any) -> None:
    """Set ``key`` (a dotted path) to ``value`` in raw scenario data, in place."""
    label = SET_ORIGIN
    try:
        parts = parse_path(key)
    except ValueError as exc:
        raise ScenarioError([ErrorLine(SET_ORIGIN, key, str(exc))]) from None
    node: Any = data
    onode = origin
    done: list[str | int] = []
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        if isinstance(part, str):
            if not isinstance(node, dict):
                raise ScenarioError(
                    [ErrorLine(SET_ORIGIN, key, f"'{format_loc(done)}' is not a table")]
                )
            if last:
                node[part] = value
                if isinstance(onode.children, dict):
                    onode.children[part] = _origin_of(value, label)
                return
            if part not in node:
                nxt = parts[i + 1]
                node[part] = {} if isinstance(nxt, str) else []
                if isinstance(onode.children, dict):
                    onode.children[part] = _Origin(label, {} if isinstance(nxt, str) else [])
            node = node[part]
            if isinstance(onode.children, dict):
                onode = onode.children[part]
                # like a variant's merge: a table an override writes into is the override's,
                # so its own rules (end after start, ...) name --set, not the file
                onode.source = label
            done.append(part)
            continue
        if not isinstance(node, list):
            raise ScenarioError([ErrorLine(SET_ORIGIN, key, f"'{format_loc(done)}' is not a list")])
        if isinstance(part, tuple):
            names = [x.get("name") if isinstance(x, dict) else None for x in node]
            if part[1] not in names:
                close = difflib.get_close_matches(part[1], [n for n in names if n], n=1)
                hint = f"did you mean '{close[0]}'? " if close else ""
                raise ScenarioError(
                    [
                        ErrorLine(
                            SET_ORIGIN,
                            key,
                            f"no item named '{part[1]}' in {format_loc(done)}; {hint}"
                            f"names: {', '.join(str(n) for n in names if n) or 'none'}",
                        )
                    ]
                )
            idx = names.index(part[1])
        else:
            idx = part
            if not -len(node) <= idx < len(node):
                raise ScenarioError(
                    [
                        ErrorLine(
                            SET_ORIGIN,
                            key,
                            f"index {idx} is out of range: {format_loc(done)} has "
                            f"{len(node)} item(s)",
                        )
                    ]
                )
            idx %= len(node)
        done.append(idx)
        if last:
            node[idx] = value
            if isinstance(onode.children, list) and idx < len(onode.children):
                onode.children[idx] = _origin_of(value, label)
            return
        node = node[idx]
        if isinstance(onode.children, list) and idx < len(onode.children):
            onode = onode.children[idx]
            onode.source = label


def split_override(text: str) -> tuple[str, Any]:
    """``"a.b=1"`` -> ``("a.b", 1)``."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise ScenarioError(
            [ErrorLine(SET_ORIGIN, text, "an override is KEY=VALUE, e.g. campaign.seed=7")]
        )
    return key.strip(), parse_value(value.strip())


# ---------------------------------------------------------------------------
# validation errors -> lines
# ---------------------------------------------------------------------------


def _unwrap(annotation: Any) -> list[type[BaseModel]]:
    """Model classes reachable from a field annotation (through Optional, tuple, Annotated)."""
    out: list[type[BaseModel]] = []
    stack = [annotation]
    while stack:
        a = stack.pop()
        if isinstance(a, type) and issubclass(a, BaseModel):
            out.append(a)
            continue
        stack.extend(typing.get_args(a))
    return out


def _model_at(loc: Loc) -> type[BaseModel] | None:
    model: type[BaseModel] = Scenario
    for part in loc:
        if isinstance(part, int):
            continue
        field = model.model_fields.get(str(part))
        if field is None:
            return None
        models = _unwrap(field.annotation)
        if not models:
            return None
        model = models[0]
    return model


def _data_loc(loc: Iterable[str | int], origin: _Origin) -> Loc:
    """A pydantic error location without its union-branch labels (``function-after[...]``).

    A part that is a key of the data is kept even when it has a ``[`` in it (a quoted TOML
    key such as ``"a[0]"``): only parts that name no key there can be labels.
    """
    out: list[str | int] = []
    node: _Origin | None = origin
    for part in loc:
        kids = node.children if node is not None else None
        if isinstance(kids, dict) and part in kids:
            node = kids[part]
        elif isinstance(kids, list) and isinstance(part, int) and 0 <= part < len(kids):
            node = kids[part]
        elif isinstance(part, str) and "[" in part:
            continue
        else:
            node = None
        out.append(part)
    return tuple(out)


def _line(err: dict[str, Any], origin: _Origin, top: str) -> ErrorLine:
    loc = _data_loc(err["loc"], origin)
    kind = err["type"]
    source = _source_at(origin, loc) if loc else top
    path = format_loc(loc)
    if kind == "extra_forbidden" and loc:
        parent = _model_at(loc[:-1])
        allowed = list(parent.model_fields) if parent else []
        close = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
        hint = f"did you mean '{close[0]}'? " if close else ""
        return ErrorLine(source, path, f"unknown key; {hint}allowed: {', '.join(allowed)}", None)
    if kind == "missing":
        parent = _model_at(loc[:-1])
        where = format_loc(loc[:-1]) or "the top level"
        what = ""
        if parent is not None:
            field = parent.model_fields.get(str(loc[-1]))
            if field is not None and field.description:
                what = f" ({field.description.splitlines()[0]})"
        return ErrorLine(source, path, f"required key missing in {where}{what}")
    if kind == "too_long" and isinstance(err.get("input"), list | tuple):
        field = None
        parent = _model_at(loc[:-1]) if loc else None
        if parent is not None:
            field = parent.model_fields.get(str(loc[-1]))
        why = f": {' '.join(field.description.split())}" if field and field.description else ""
        n, most = len(err["input"]), err.get("ctx", {}).get("max_length")
        return ErrorLine(source, path, f"{n} items given, at most {most} allowed{why}")
    msg = err["msg"]
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, ") :]
    given = err.get("input")
    if isinstance(given, dict | tuple | list):
        given = None if isinstance(given, dict) else list(given)
    return ErrorLine(source, path, msg, given)


def _echo(err: Any) -> bool:
    """A "too short" error that only echoes its items' own errors.

    pydantic counts the items that validated, so a one-item list whose item is
    invalid is also reported as having "0 items"; the item's error says it all.
    """
    if err["type"] != "too_short" or not isinstance(err.get("input"), list | tuple):
        return False
    return len(err["input"]) >= err.get("ctx", {}).get("min_length", 0)


def validate(data: dict[str, Any], origin: _Origin, top: str) -> Scenario:
    """Validate raw data into a Scenario, or raise ScenarioError with every problem."""
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        lines = [_line(dict(e), origin, top) for e in exc.errors(include_url=False) if not _echo(e)]
        raise ScenarioError(lines) from None
    except CrossFieldErrors as exc:
        raise ScenarioError(
            [
                ErrorLine(_source_at(origin, loc), format_loc(loc), msg, given)
                for loc, msg, given in exc.problems
            ]
        ) from None


# ---------------------------------------------------------------------------
# public API
# ---------------------------------------------------------------------------


def load_raw(
    path: str | Path, overrides: Sequence[str] | dict[str, Any] = ()
) -> tuple[dict[str, Any], _Origin]:
    """Read a scenario file (with its bases) and apply overrides, without validating."""
    data, origin = _read(Path(path), ())
    pairs = (
        list(overrides.items())
        if isinstance(overrides, dict)
        else [split_override(o) for o in overrides]
    )
    for key, value in pairs:
        apply_override(data, origin, key, value)
    return data, origin


def load_scenario(path: str | Path, overrides: Sequence[str] | dict[str, Any] = ()) -> Scenario:
    """Load and validate a scenario file.

    Parameters
    ----------
    path
        A TOML scenario file; ``base = "..."`` inside it is resolved relative to it.
    overrides
        ``["KEY=VALUE", ...]`` strings (as ``--set`` takes them) or a ``{KEY: value}``
        mapping, applied after inheritance and validated like the file.

    Raises
    ------
    ScenarioError
        With one :class:`ErrorLine` per problem: file, field path, message, given value.

    Examples
    --------
    >>> s = load_scenario("scenarios/smoke.toml", ["campaign.seed=7"])
    >>> s.campaign.seed
    7
    """
    data, origin = load_raw(path, overrides)
    return validate(data, origin, _display(Path(path)))


def to_toml_dict(scenario: Scenario) -> dict[str, Any]:
    """The resolved scenario as plain TOML-ready data (no None values)."""

    def clean(v: Any) -> Any:
        if isinstance(v, dict):
            return {k: clean(x) for k, x in v.items() if x is not None}
        if isinstance(v, list | tuple):
            return [clean(x) for x in v]
        return v

    return typing.cast(dict[str, Any], clean(scenario.model_dump(mode="python")))


def content_hash(scenario: Scenario) -> str:
    """A stable SHA-256 of the resolved scenario: equal for equal plans, whatever the files."""
    canonical = json.dumps(scenario.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def to_toml(scenario: Scenario) -> str:
    """The resolved scenario as TOML text; ``loads`` of it validates to an equal Scenario."""
    import tomli_w

    return tomli_w.dumps(to_toml_dict(scenario))
