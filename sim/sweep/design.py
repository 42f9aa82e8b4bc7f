"""Sweep designs: which scenario overrides each sweep point gets.

A parameter is a dotted scenario path (as ``--set`` takes it) with either a list
of values (``KEY=V1,V2,...``, each read as a TOML scalar) or a range
(``KEY=LOW:HIGH``). Designs:

``grid``
    The full factorial grid of the lists (a range needs ``n`` levels, spaced evenly).
``lhs``
    Latin hypercube of ``n`` points (:class:`scipy.stats.qmc.LatinHypercube`).
``sobol-seq``
    ``n`` points of a scrambled Sobol' sequence (:class:`scipy.stats.qmc.Sobol`).
``sobol``
    Saltelli's design for Sobol' indices (:func:`SALib.sample.sobol.sample`,
    ``n`` base samples, ``n (D + 2)`` points; ``n (2 D + 2)`` with second order).
``morris``
    Morris trajectories (:func:`SALib.sample.morris.sample`, ``n`` trajectories,
    ``n (D + 1)`` points).

In ``lhs`` and ``sobol-seq`` a list is a categorical parameter, its values equally
likely. Integer-typed scenario fields get integer values (uniform over the integers
of the range). Random designs are seeded from the sweep seed through
``SeedSequence(seed, spawn_key=(DESIGN_KEY,))``: never from global state.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import math
import typing
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from sim.scenario.loader import parse_path, parse_value
from sim.scenario.models import Scenario

DesignKind = Literal["grid", "lhs", "sobol-seq", "sobol", "morris"]
DESIGNS: tuple[str, ...] = typing.get_args(DesignKind)
SENSITIVITY_DESIGNS = ("sobol", "morris")
DESIGN_KEY = 0x5EE9
"""Spawn key of the design's random stream (distinct from the replicates' ``(r, stream)``)."""


class SweepError(Exception):
    """A sweep cannot start (bad parameter, design, store); ``errors`` lists every problem."""

    def __init__(self, errors: Sequence[str]) -> None:
        self.errors = [str(e) for e in errors]
        super().__init__("\n".join(self.errors))


@dataclass(frozen=True)
class Param:
    """One swept scenario field: a list of values or a numeric range."""

    key: str
    values: tuple[Any, ...] | None = None
    low: float | None = None
    high: float | None = None
    integer: bool = False

    @property
    def is_range(self) -> bool:
        """True for ``LOW:HIGH``, False for a list."""
        return self.values is None

    def text(self) -> str:
        """The parameter as ``--param`` takes it."""
        if self.values is None:
            return f"{self.key}={_fmt(self.low)}:{_fmt(self.high)}"
        return f"{self.key}={','.join(toml_scalar(v) for v in self.values)}"


def _fmt(x: float | None) -> str:
    return repr(x) if x is None or not float(x).is_integer() else str(int(x))


def toml_scalar(value: Any) -> str:
    """A scalar as TOML writes it (``0.3``, ``true``, ``"text"``, ``2026-11-11T00:00:00``)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    return json.dumps(str(value))


def parse_param(text: str) -> Param:
    """Read ``KEY=V1,V2,...`` or ``KEY=LOW:HIGH``.

    Examples
    --------
    >>> parse_param("promotions.member.rate=0.03:0.08")
    Param(key='promotions.member.rate', values=None, low=0.03, high=0.08, integer=False)
    >>> parse_param("population.shoppers=2000,3000").values
    (2000, 3000)
    """
    key, sep, rhs = text.partition("=")
    key, rhs = key.strip(), rhs.strip()
    if not sep or not key or not rhs:
        raise SweepError(
            [
                f"--param {text}: write KEY=V1,V2,... or KEY=LOW:HIGH, "
                "e.g. promotions.member.rate=0.03:0.08"
            ]
        )
    try:
        parse_path(key)
    except ValueError as exc:
        raise SweepError([f"--param {text}: {exc}"]) from None
    lo, colon, hi = rhs.partition(":")
    if colon and ":" not in hi:
        a, b = parse_value(lo.strip()), parse_value(hi.strip())
        if _number(a) and _number(b):
            if not float(a) < float(b):
                raise SweepError([f"--param {text}: the range needs LOW < HIGH"])
            return Param(key, low=float(a), high=float(b))
    values = tuple(parse_value(v.strip()) for v in rhs.split(","))
    bad = [v for v in values if isinstance(v, dict | list)]
    if bad or any(v == "" for v in values) or rhs[0] in "[{":
        raise SweepError([f"--param {text}: values must be TOML scalars separated by commas"])
    if len(set(map(toml_scalar, values))) != len(values):
        raise SweepError([f"--param {text}: a value is listed twice"])
    return Param(key, values=values)


def _number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


# ---------------------------------------------------------------------------
# field types
# ---------------------------------------------------------------------------


def field_kind(base: dict[str, Any], key: str) -> str | None:
    """``"int"``, ``"float"``, ``"bool"``, ``"str"`` or None (unknown) for a scenario path.

    Read from the validated base scenario's value (pydantic keeps ints for integer
    fields); for an unset optional field, from the model's annotation.
    """
    parts = parse_path(key)
    node: Any = base
    for part in parts:
        if isinstance(part, tuple):
            names = [x.get("name") if isinstance(x, dict) else None for x in node or []]
            if part[1] not in names:
                node = None
                break
            node = node[names.index(part[1])]
        elif isinstance(part, int):
            node = node[part] if isinstance(node, list) and -len(node) <= part < len(node) else None
        else:
            node = node.get(part) if isinstance(node, dict) else None
        if node is None:
            break
    if isinstance(node, bool):
        return "bool"
    if isinstance(node, int):
        return "int"
    if isinstance(node, float):
        return "float"
    if isinstance(node, str):
        return "str"
    return _annotation_kind(parts)


def _annotation_kind(parts: tuple[Any, ...]) -> str | None:
    from pydantic import BaseModel

    model: Any = Scenario
    ann: Any = None
    for part in parts:
        if isinstance(part, int | tuple):
            continue
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            return None
        f = model.model_fields.get(str(part))
        if f is None:
            return None
        ann = f.annotation
        model = next(
            (m for m in _leaves(ann) if isinstance(m, type) and issubclass(m, BaseModel)), None
        )
    leaves = set(_leaves(ann))
    if float in leaves:
        return "float"
    if int in leaves:
        return "int"
    return None


def _leaves(ann: Any) -> list[Any]:
    args = typing.get_args(ann)
    if not args:
        return [ann]
    return [leaf for a in args for leaf in _leaves(a)]


def resolve(params: Sequence[Param], base: dict[str, Any]) -> list[Param]:
    """Params with ``integer`` set from the scenario's field types; ranges must be numeric."""
    out: list[Param] = []
    problems: list[str] = []
    keys = [p.key for p in params]
    for k in {k for k in keys if keys.count(k) > 1}:
        problems.append(f"--param {k}: given twice")
    for p in params:
        kind = field_kind(base, p.key)
        if p.is_range and kind in ("bool", "str"):
            problems.append(f"--param {p.text()}: {p.key} is a {kind} field; list its values")
            continue
        integer = kind == "int"
        if integer and p.is_range:
            assert p.low is not None and p.high is not None
            if math.ceil(p.low) > math.floor(p.high):
                problems.append(f"--param {p.text()}: {p.key} is an integer; no integer in range")
                continue
            p = Param(
                p.key, low=float(math.ceil(p.low)), high=float(math.floor(p.high)), integer=True
            )
        elif integer:
            p = Param(p.key, values=p.values, integer=True)
        out.append(p)
    if problems:
        raise SweepError(problems)
    return out


# ---------------------------------------------------------------------------
# designs
# ---------------------------------------------------------------------------


@dataclass
class Design:
    """Sweep points: one override mapping per point, and the sample behind them.

    ``sample`` (points x parameters) is what the design drew, before integer
    rounding and before list indices became values: the sensitivity analysis reads it.
    """

    kind: str
    params: list[Param]
    points: list[dict[str, Any]]
    sample: np.ndarray
    options: dict[str, Any] = field(default_factory=dict)

    def problem(self) -> dict[str, Any]:
        """The SALib problem (names and bounds in the sample's space)."""
        return salib_problem(self.params)


def salib_problem(params: Sequence[Param]) -> dict[str, Any]:
    """SALib's problem dict; an integer range samples ``[low - 0.5, high + 0.5]``."""
    bounds = []
    for p in params:
        assert p.low is not None and p.high is not None
        pad = 0.5 if p.integer else 0.0
        bounds.append([p.low - pad, p.high + pad])
    return {"num_vars": len(params), "names": [p.key for p in params], "bounds": bounds}


def design_rng(seed: int) -> np.random.Generator:
    """The design's generator: ``SeedSequence(seed, spawn_key=(DESIGN_KEY,))``."""
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(DESIGN_KEY,)))


def make_design(
    params: Sequence[Param],
    kind: str = "grid",
    n: int | None = None,
    seed: int = 0,
    *,
    levels: int = 4,
    second_order: bool = False,
) -> Design:
    """The points of a design (see the module docstring).

    Parameters
    ----------
    params
        Resolved parameters (:func:`resolve`).
    kind
        One of :data:`DESIGNS`.
    n
        Grid levels of each range; points of ``lhs``/``sobol-seq``; base samples of
        ``sobol`` (a power of 2); trajectories of ``morris``.
    seed
        Seeds the random designs.
    levels
        Morris grid levels (even).
    second_order
        Sobol' design with second-order indices too.

    Examples
    --------
    >>> d = make_design([Param("a", values=(1, 2)), Param("b", low=0.0, high=1.0)], "grid", n=3)
    >>> [tuple(p.values()) for p in d.points][:4]
    [(1, 0.0), (1, 0.5), (1, 1.0), (2, 0.0)]
    """
    params = list(params)
    if kind not in DESIGNS:
        raise SweepError([f"--design: unknown design '{kind}'; allowed: {', '.join(DESIGNS)}"])
    if not params:
        raise SweepError(["a sweep needs at least one --param"])
    ranges = [p for p in params if p.is_range]
    if kind == "grid":
        if ranges and n is None:
            raise SweepError(
                [
                    f"--param {ranges[0].text()}: a range in a grid needs --n levels "
                    "(or use --design lhs|sobol-seq|sobol|morris)"
                ]
            )
        if n is not None and n < 2 and ranges:
            raise SweepError(["--n: a grid of a range needs at least 2 levels"])
        return _grid(params, n or 2)
    if n is None or n < 1:
        raise SweepError([f"--n: the {kind} design needs --n (a positive number of points)"])
    if kind in SENSITIVITY_DESIGNS:
        lists = [p for p in params if not p.is_range]
        if lists:
            raise SweepError(
                [f"--param {p.text()}: a {kind} design needs ranges (KEY=LOW:HIGH)" for p in lists]
            )
        return _salib(params, kind, n, seed, levels, second_order)
    from scipy.stats import qmc

    rng = design_rng(seed)
    if kind == "lhs":
        u = qmc.LatinHypercube(d=len(params), rng=rng).random(n)
    else:
        u = qmc.Sobol(d=len(params), scramble=True, rng=rng).random(n)
    sample = np.empty_like(u)
    points: list[dict[str, Any]] = [{} for _ in range(n)]
    for j, p in enumerate(params):
        if p.values is not None:
            idx = np.minimum((u[:, j] * len(p.values)).astype(np.int64), len(p.values) - 1)
            sample[:, j] = idx
            for i in range(n):
                points[i][p.key] = p.values[idx[i]]
        else:
            assert p.low is not None and p.high is not None
            pad = 0.5 if p.integer else 0.0
            sample[:, j] = (p.low - pad) + u[:, j] * (p.high - p.low + 2 * pad)
            for i in range(n):
                points[i][p.key] = _value(p, sample[i, j])
    return Design(kind, params, points, sample, {"n": n})


def _value(p: Param, x: float) -> int | float:
    """A sampled number as the scenario field takes it (integers rounded into the range)."""
    if p.integer:
        assert p.low is not None and p.high is not None
        return int(min(max(round(x), p.low), p.high))
    return float(x)


def _grid(params: list[Param], n: int) -> Design:
    axes: list[list[Any]] = []
    for p in params:
        if p.values is not None:
            axes.append(list(p.values))
        else:
            assert p.low is not None and p.high is not None
            vals = [_value(p, x) for x in np.linspace(p.low, p.high, n)]
            axes.append(list(dict.fromkeys(vals)))  # integer levels may coincide
    points = [
        dict(zip([p.key for p in params], combo, strict=True)) for combo in itertools.product(*axes)
    ]
    sample = np.array(
        [[_numeric(pt[p.key]) for p in params] for pt in points], dtype=float
    ).reshape(len(points), len(params))
    return Design("grid", params, points, sample, {"n": n})


def _numeric(v: Any) -> float:
    return float(v) if _number(v) or isinstance(v, bool) else math.nan


def _salib(
    params: list[Param], kind: str, n: int, seed: int, levels: int, second_order: bool
) -> Design:
    problem = salib_problem(params)
    rng = design_rng(seed)
    if kind == "sobol":
        from SALib.sample import sobol

        if n & (n - 1):
            raise SweepError([f"--n: the sobol design needs a power of 2 base samples (got {n})"])
        x = sobol.sample(problem, n, calc_second_order=second_order, scramble=True, seed=rng)
        options: dict[str, Any] = {"n": n, "second_order": second_order}
    else:
        from SALib.sample import morris

        if levels < 2 or levels % 2:
            raise SweepError(
                [f"--levels: Morris needs an even number of levels >= 2 (got {levels})"]
            )
        x = morris.sample(problem, n, num_levels=levels, seed=rng)
        options = {"n": n, "levels": levels}
    x = np.asarray(x, dtype=float)
    points = [{p.key: _value(p, x[i, j]) for j, p in enumerate(params)} for i in range(len(x))]
    return Design(kind, params, points, x, options)


def point_label(point: dict[str, Any]) -> str:
    """``a.b=1, c=0.25``: a point's overrides as ``--set`` would take them."""
    return ", ".join(f"{k}={toml_scalar(v)}" for k, v in point.items())


__all__ = [
    "DESIGNS",
    "Design",
    "Param",
    "SweepError",
    "make_design",
    "parse_param",
    "resolve",
]
