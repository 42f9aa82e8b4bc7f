"""Every validation rule of the scenario language, each with a failing and a passing example.

Bad scenarios are the smoke scenario with overrides applied (``load_scenario(path,
{KEY: value})``) or small TOML files written into ``tmp_path``. Assertions look at the
``ErrorLine`` path, its source and words of its message, never at whole pydantic messages.

The first part is generated from the models themselves (every numeric bound, every
finite-number rule, every Literal, every string pattern and length, every required key,
every key's type), so a new field is covered the day it is added. The rest are tables
written by hand: model validators, cross-field checks, and reading files.
"""

from __future__ import annotations

import datetime as dt
import math
import tomllib
import types
import typing
from pathlib import Path
from typing import Any

import annotated_types as at
import pytest
import tomli_w
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from sim.scenario import ErrorLine, Scenario, ScenarioError, load_scenario
from sim.scenario.loader import _unwrap, format_loc, parse_path, to_toml_dict

ROOT = Path(__file__).resolve().parents[1]
SMOKE = ROOT / "scenarios" / "smoke.toml"
SMOKE_RAW: dict[str, Any] = tomllib.loads(SMOKE.read_text(encoding="utf-8"))
SMOKE_SCENARIO = load_scenario(SMOKE)


def T(day: int, hour: int = 0, minute: int = 0, month: int = 11) -> dt.datetime:
    """A local time in November 2026 (the smoke campaign runs 8-13 Nov)."""
    return dt.datetime(2026, month, day, hour, minute)


def D(day: int, month: int = 11) -> dt.date:
    return dt.date(2026, month, day)


def errors_of(overrides: Any = (), path: Path = SMOKE) -> list[ErrorLine]:
    with pytest.raises(ScenarioError) as info:
        load_scenario(path, overrides)
    errors = info.value.errors
    assert errors, "a ScenarioError must carry at least one ErrorLine"
    for line in errors:
        assert isinstance(line, ErrorLine)
        assert line.message
        assert str(line).startswith(line.source)
    return errors


def only_error(overrides: Any = (), path: Path = SMOKE) -> ErrorLine:
    errors = errors_of(overrides, path)
    assert len(errors) == 1, "\n".join(map(str, errors))
    return errors[0]


def error_at(errors: list[ErrorLine], path: str) -> ErrorLine:
    hits = [e for e in errors if e.path == path]
    assert hits, f"no error at {path!r}; got:\n" + "\n".join(map(str, errors))
    return hits[0]


def assert_words(message: str, *words: str) -> None:
    for word in words:
        assert word.lower() in message.lower(), f"{word!r} not in {message!r}"


def field_ok(key: str, value: Any) -> None:
    """``key = value`` is accepted by its own field (other rules may still object)."""
    try:
        load_scenario(SMOKE, {key: value})
    except ScenarioError as exc:
        own = [e for e in exc.errors if e.path == key or e.path.startswith(key + "[")]
        assert not own, "\n".join(map(str, own))


def write(tmp_path: Path, text: str, name: str = "scenario.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def variant(tmp_path: Path, body: str, name: str = "variant.toml", base: Path = SMOKE) -> Path:
    return write(tmp_path, f'base = "{base.as_posix()}"\n{body}', name)


def named(source: str) -> str:
    return Path(source).name


# ---------------------------------------------------------------------------
# Generated from the models: where every model sits in the smoke scenario
# ---------------------------------------------------------------------------


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    return _unwrap(annotation)  # the loader's walk through Optional, tuple and Annotated


def _walk(model: type[BaseModel], data: dict[str, Any], loc: tuple[str | int, ...]):
    """Yield (model class, location) for every model instance in a dumped scenario."""
    yield model, loc
    for name, field in model.model_fields.items():
        value = data.get(name)
        sub = _models_in(field.annotation)
        if not sub:
            continue
        if isinstance(value, dict):
            yield from _walk(sub[0], value, (*loc, name))
        elif isinstance(value, list):
            for i, item in enumerate(value):
                if isinstance(item, dict):
                    yield from _walk(sub[0], item, (*loc, name, i))


def _model_places() -> dict[type[BaseModel], tuple[str | int, ...]]:
    """First place of every model class in the smoke scenario (with its defaults)."""
    places: dict[type[BaseModel], tuple[str | int, ...]] = {}
    for model, loc in _walk(Scenario, to_toml_dict(SMOKE_SCENARIO), ()):
        places.setdefault(model, loc)
    return places


PLACES = _model_places()


def test_every_model_appears_in_the_smoke_scenario() -> None:
    """The generated tests below reach every model only if the smoke file has them all."""
    reachable = {Scenario}
    stack: list[type[BaseModel]] = [Scenario]
    while stack:
        for field in stack.pop().model_fields.values():
            for sub in _models_in(field.annotation):
                if sub not in reachable:
                    reachable.add(sub)
                    stack.append(sub)
    assert reachable == set(PLACES)


def _scalar_type(annotation: Any) -> tuple[Any, list[Any], bool]:
    """(base type, constraint metadata, is a tuple of items) of a field annotation."""
    origin = typing.get_origin(annotation)
    if origin is tuple:
        inner, meta, _ = _scalar_type(typing.get_args(annotation)[0])
        return inner, meta, True
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return _scalar_type(args[0])
        return annotation, [], False
    if origin is typing.Annotated:
        base, *extras = typing.get_args(annotation)
        meta: list[Any] = []
        for extra in extras:
            meta.extend(extra.metadata if isinstance(extra, FieldInfo) else [extra])
        inner, inner_meta, many = _scalar_type(base)
        return inner, inner_meta + meta, many
    return annotation, [], False


def _fields() -> list[tuple[str, FieldInfo, Any, list[Any], bool]]:
    out = []
    for model, loc in PLACES.items():
        for name, field in model.model_fields.items():
            base, meta, many = _scalar_type(field.annotation)
            key = format_loc((*loc, name))
            out.append((key, field, base, [*field.metadata, *meta], many))
    return out


FIELDS = _fields()
BOUND_WORDS = {
    at.Ge: "greater than or equal to",
    at.Gt: "greater than",
    at.Le: "less than or equal to",
    at.Lt: "less than",
}


def _bound_cases() -> tuple[list[Any], list[Any]]:
    bad, good = [], []
    for key, _field, base, meta, many in FIELDS:
        if base not in (int, float):
            continue
        for m in meta:
            if not isinstance(m, tuple(BOUND_WORDS)):
                continue
            limit = getattr(m, type(m).__name__.lower())  # Ge(ge=0) -> 0
            step = 1 if base is int else 0.5
            tiny = 1 if base is int else 1e-3
            if isinstance(m, at.Ge):
                wrong, right = limit - step, limit
            elif isinstance(m, at.Gt):
                wrong, right = limit, limit + tiny
            elif isinstance(m, at.Le):
                wrong, right = limit + step, limit
            else:
                wrong, right = limit, limit - tiny
            path = f"{key}[0]" if many else key
            value_of = (lambda v: [v]) if many else (lambda v: v)
            ident = f"{key}:{type(m).__name__}"
            bad.append(pytest.param(key, value_of(wrong), path, BOUND_WORDS[type(m)], id=ident))
            good.append(pytest.param(key, value_of(right), id=ident))
    return bad, good


BOUND_BAD, BOUND_GOOD = _bound_cases()


def test_the_generated_tables_are_not_empty() -> None:
    assert len(FIELDS) > 300
    assert len(BOUND_BAD) > 150


@pytest.mark.parametrize(("key", "value", "path", "words"), BOUND_BAD)
def test_numeric_bound_rejects(key: str, value: Any, path: str, words: str) -> None:
    line = only_error({key: value})
    assert (line.source, line.path) == ("--set", path)
    assert_words(line.message, words)
    assert line.given == (value[0] if isinstance(value, list) else value)


@pytest.mark.parametrize(("key", "value"), BOUND_GOOD)
def test_numeric_bound_accepts_its_limit(key: str, value: Any) -> None:
    field_ok(key, value)


FLOAT_KEYS = [
    pytest.param(key, f"{key}[0]" if many else key, id=key)
    for key, _f, base, _m, many in FIELDS
    if base is float
]


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf], ids=["nan", "inf", "-inf"])
@pytest.mark.parametrize(("key", "path"), FLOAT_KEYS)
def test_every_float_must_be_finite(key: str, path: str, bad: float) -> None:
    value = [bad] if path != key else bad
    line = only_error({key: value})
    assert line.path == path
    assert_words(line.message, "finite")


def test_float_fields_accept_integers() -> None:
    s = load_scenario(SMOKE, {"population.scale": 12, "promotions.flash[0].list_price": 3000})
    assert s.population.scale == 12.0
    assert isinstance(s.population.scale, float)
    assert s.promotions.flash[0].list_price == 3000


LITERAL_CASES = [
    pytest.param(key, typing.get_args(base), id=key)
    for key, _f, base, _m, _many in FIELDS
    if typing.get_origin(base) is typing.Literal
]


@pytest.mark.parametrize(("key", "choices"), LITERAL_CASES)
def test_literal_rejects_other_words_and_lists_the_choices(key: str, choices: tuple) -> None:
    line = only_error({key: "no_such_kind"})
    assert line.path == key
    assert line.given == "no_such_kind"
    for choice in choices:
        assert f"'{choice}'" in line.message


@pytest.mark.parametrize(("key", "choices"), LITERAL_CASES)
def test_literal_accepts_every_choice(key: str, choices: tuple) -> None:
    for choice in choices:
        field_ok(key, choice)


def _string_cases() -> tuple[list[Any], list[Any]]:
    bad, good = [], []
    for key, _field, base, meta, many in FIELDS:
        for m in meta:
            if isinstance(m, at.MinLen) and many:
                bad.append(pytest.param(key, [], key, "at least 1 item", id=f"{key}:empty"))
            elif isinstance(m, at.MinLen) and base is str:
                bad.append(pytest.param(key, "", key, "at least 1 character", id=f"{key}:empty"))
            elif isinstance(m, at.MaxLen) and base is str:
                n = m.max_length
                bad.append(pytest.param(key, "x" * (n + 1), key, f"at most {n}", id=f"{key}:long"))
                good.append(pytest.param(key, "x" * n, id=f"{key}:longest"))
            elif getattr(m, "pattern", None):
                wrong = "cny" if key.endswith("currency") else "has space"
                bad.append(pytest.param(key, wrong, key, "pattern", id=f"{key}:pattern"))
                if key.endswith("currency"):
                    good.append(pytest.param(key, "EUR", id=f"{key}:pattern"))
                else:
                    good.append(pytest.param(key, "_Mixed-case_9", id=f"{key}:pattern"))
                    wrong = "9starts_with_digit"
                    bad.append(pytest.param(key, wrong, key, "pattern", id=f"{key}:digit"))
    return bad, good


STRING_BAD, STRING_GOOD = _string_cases()


@pytest.mark.parametrize(("key", "value", "path", "words"), STRING_BAD)
def test_lengths_and_patterns_reject(key: str, value: Any, path: str, words: str) -> None:
    errors = errors_of({key: value})
    assert_words(error_at(errors, path).message, words)


@pytest.mark.parametrize(("key", "value"), STRING_GOOD)
def test_lengths_and_patterns_accept(key: str, value: Any) -> None:
    field_ok(key, value)


# ---------------------------------------------------------------------------
# Generated: every key of the smoke file, with a value of the wrong type
# ---------------------------------------------------------------------------


def _leaves(data: Any, loc: tuple[str | int, ...] = ()):
    if isinstance(data, dict):
        for k, v in data.items():
            yield (*loc, k), v
            yield from _leaves(v, (*loc, k))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            yield (*loc, i), v
            yield from _leaves(v, (*loc, i))


def _wrong_type(value: Any) -> Any:
    if isinstance(value, bool):
        return "yes"
    if isinstance(value, int | float):
        return "many"
    if isinstance(value, str):
        return 5
    if isinstance(value, dt.datetime):
        return value.isoformat()  # a string, not a TOML date-time
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, list):
        return "not a list"
    return 5  # a table


TYPE_CASES = [
    pytest.param(format_loc(loc), _wrong_type(v), id=format_loc(loc))
    for loc, v in _leaves(SMOKE_RAW)
]


@pytest.mark.parametrize(("key", "value"), TYPE_CASES)
def test_every_key_of_the_smoke_file_rejects_a_wrong_type(key: str, value: Any) -> None:
    errors = errors_of({key: value})
    line = error_at(errors, key)
    assert line.source == "--set"
    if key != "calendar.diurnal":  # a custom message: "give a named profile or ..."
        assert_words(line.message, "should be")


@pytest.mark.parametrize(
    ("key", "value", "words"),
    [
        ("population.shoppers", True, "valid integer"),
        ("population.scale", True, "valid number"),
        ("population.segments[0].share", "0.3", "valid number"),
        ("population.segments[0].new_shoppers", 1, "valid boolean"),
        ("population.segments[0].new_shoppers", "true", "valid boolean"),
        ("fulfilment.sites[0].shifts[0].staff", 12.5, "valid integer"),
        ("fulfilment.sites[0].shifts[0].start_hour", 8.0, "valid integer"),
        ("campaign.start", "2026-11-08T00:00:00", "valid datetime"),
        ("campaign.start", dt.time(8), "valid datetime"),
        ("calendar.category_days[0].date", T(10), "valid date"),
        ("calendar.category_days[0].date", "2026-11-10", "valid date"),
        ("calendar.spikes[0].hours", 10, "valid tuple"),
        ("campaign.targets", 5, "valid dictionary"),
        ("campaign.name", ["Smoke"], "valid string"),
        ("promotions.presale", "none", "valid dictionary"),
    ],
)
def test_wrong_types_are_not_coerced(key: str, value: Any, words: str) -> None:
    line = only_error({key: value})
    assert line.path == key
    assert_words(line.message, words)


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("fulfilment.sites[0].shifts[0].staff", 12.0, 12),  # an integral float is a count
        ("promotions.flash[0].stock", 1e3, 1000),
        ("campaign.seed", 7.0, 7),
        ("campaign.replicates", 100_000, 100_000),
        ("campaign.start", D(8), T(8)),  # a date means its midnight
        ("campaign.timezone", "UTC", "UTC"),
        ("campaign.timezone", "America/New_York", "America/New_York"),
    ],
)
def test_lenient_spellings_that_mean_the_same(key: str, value: Any, expected: Any) -> None:
    s = load_scenario(SMOKE, {key: value})
    got = _get(s, key)
    assert got == expected
    assert type(got) is type(expected)


def _get(obj: Any, key: str) -> Any:
    for part in parse_path(key):
        obj = obj[part] if isinstance(part, int) else getattr(obj, part)
    return obj


# ---------------------------------------------------------------------------
# Field rules written by hand (the ones a table of bounds cannot express)
# ---------------------------------------------------------------------------

FIELD_RULES = [
    # key, good value, bad value, words in the message
    ("campaign.timezone", "Europe/Berlin", "Mars/Olympus", ["unknown time zone", "IANA"]),
    ("campaign.timezone", "UTC", "America", ["unknown time zone"]),  # a tzdata directory
    ("campaign.timezone", "Asia/Tokyo", "x" * 300, ["unknown time zone"]),  # too long a path
    ("campaign.timezone", "Asia/Tokyo", "../../etc/passwd", ["unknown time zone"]),
    ("campaign.timezone", "Asia/Tokyo", "", ["unknown time zone"]),
    ("campaign.seed", 2**63 - 1, 2**63, ["less than"]),
    ("campaign.seed", 0, -1, ["greater than or equal to 0"]),
    ("calendar.diurnal", "flat", "weekend", ["unknown diurnal profile", "'ecommerce'"]),
    ("calendar.diurnal", "office", "Flat", ["unknown diurnal profile"]),
    ("calendar.diurnal", [1] * 24, [1] * 23, ["24 hourly weights", "got 23"]),
    ("calendar.diurnal", [0] * 23 + [2.5], [1] * 25, ["24 hourly weights", "got 25"]),
    ("calendar.diurnal", [1] * 24, [1] * 23 + [-1], ["non-negative"]),
    ("calendar.diurnal", [1] * 24, [1] * 23 + [math.nan], ["finite"]),
    ("calendar.diurnal", [1] * 24, [1] * 23 + [math.inf], ["finite"]),
    ("calendar.diurnal", [1] * 24, [0] * 24, ["at least one diurnal weight must be positive"]),
    ("calendar.diurnal", [1] * 24, ["a"] * 24, ["numbers"]),
    ("calendar.diurnal", [1] * 24, [True] * 24, ["numbers"]),
    ("calendar.diurnal", "evening", 3, ["named profile or a list"]),
    ("calendar.spikes[0].hours", [0, 23], [0, 24], ["less than or equal to 23"]),
    ("promotions.flash[0].hours", [0], [], ["at least 1 item"]),
    ("promotions.flash[0].price_cut", 1.0, 0.0, ["greater than 0"]),
    ("promotions.first_n[0].discount", 0.0, 1.0, ["less than 1"]),
    ("categories[0].cost_of_goods", 0.0, 1.0, ["less than 1"]),
    ("promotions.quantity.tiers[0].units", 2, 1, ["greater than or equal to 2"]),
    ("population.shoppers", 2_000_000_000, 2_000_000_001, ["less than or equal to"]),
    ("fulfilment.sites[0].shifts[0].end_hour", 24, 25, ["less than or equal to 24"]),
    ("campaign.name", "S", "", ["at least 1 character"]),
    ("population.segments[0].name", "new", "new shoppers", ["pattern"]),
    ("campaign.currency", "USD", "usd", ["pattern"]),
    ("campaign.currency", "USD", "US", ["pattern"]),
    ("campaign.targets.phase_gmv_shares", {"peak": 1.0}, {"peak": 1.5}, ["less than or equal"]),
    ("calendar.phases[0].kind", "regular", "warmup", ["'preheat'", "'peak'"]),
    ("fulfilment.faults[0].kind", "site_outage", "flood", ["'courier_shortfall'"]),
]


def _error_path(key: str, bad: Any) -> str:
    if key == "campaign.targets.phase_gmv_shares":
        return f"{key}.{next(iter(bad))}"
    if key.endswith("hours") and isinstance(bad, list) and bad:
        return f"{key}[1]"
    return key


@pytest.mark.parametrize(
    ("key", "good", "bad", "words"),
    [pytest.param(*row, id=f"{row[0]}={row[2]!r}"[:60]) for row in FIELD_RULES],
)
def test_field_rule(key: str, good: Any, bad: Any, words: list[str]) -> None:
    line = only_error({key: bad})
    assert (line.source, line.path) == ("--set", _error_path(key, bad))
    assert_words(line.message, *words)
    load_scenario(SMOKE, {key: good})


def test_diurnal_weights_become_floats() -> None:
    s = load_scenario(SMOKE, {"calendar.diurnal": [1] * 12 + [2] * 12})
    assert s.calendar.diurnal == (1.0,) * 12 + (2.0,) * 12
    assert all(type(w) is float for w in s.calendar.diurnal)


# ---------------------------------------------------------------------------
# Model validators: rules between the fields of one model
# ---------------------------------------------------------------------------

FLASH = SMOKE_RAW["promotions"]["flash"][0]
FIRST_N = SMOKE_RAW["promotions"]["first_n"][0]
COUNTDOWN = SMOKE_RAW["promotions"]["countdowns"][0]
MESSAGE = SMOKE_RAW["promotions"]["messages"][0]
GIFT = SMOKE_RAW["promotions"]["gifts"][0]
CHANNEL = SMOKE_RAW["marketing"]["channels"][1]
SITE = SMOKE_RAW["fulfilment"]["sites"][0]


def _twice(ident: str, key: str, item: dict[str, Any], path: str, words: list[str]) -> Any:
    """A rule row: a list holding the item twice (bad) and with the copy renamed (good)."""
    renamed = {**item, "name": item["name"] + "_2"}
    return (ident, {key: [item, item]}, path, words, {key: [item, renamed]})


MODEL_RULES: list[tuple[str, dict[str, Any], str, list[str], dict[str, Any]]] = [
    # id, bad overrides, error path, words, good overrides
    (
        "window end before start",
        {"promotions.points.start": T(11, 12), "promotions.points.end": T(11, 6)},
        "promotions.points",
        ["must be after start"],
        {"promotions.points.start": T(11, 6), "promotions.points.end": T(11, 12)},
    ),
    (
        "window end equal to start",
        {"promotions.gifts[0].start": T(11), "promotions.gifts[0].end": T(11)},
        "promotions.gifts[0]",
        ["must be after start"],
        {"promotions.gifts[0].start": T(11), "promotions.gifts[0].end": T(11, 1)},
    ),
    (
        "campaign end before start",
        {"campaign.end": T(8)},
        "campaign",
        ["end", "must be after start"],
        {"campaign.end": T(13)},
    ),
    (
        "campaign start off the hour",
        {"campaign.start": T(8, 0, 30)},
        "campaign",
        ["hour mark"],
        {"campaign.start": T(8, 0, 0)},
    ),
    (
        "campaign end off the hour",
        {"campaign.end": dt.datetime(2026, 11, 13, 0, 0, 1)},
        "campaign",
        ["end", "hour mark"],
        {"campaign.end": T(13)},
    ),
    (
        "campaign longer than 120 days",
        {"campaign.start": T(15, month=7), "calendar.phases[0].start": T(15, month=7)},
        "campaign",
        ["120 days"],
        {"campaign.start": T(16, month=7), "calendar.phases[0].start": T(16, month=7)},
    ),
    (
        "phase end not after start",
        {"calendar.phases[3].end": T(12)},
        "calendar.phases[3]",
        ["must be after start"],
        {"calendar.phases[3].end": T(13)},
    ),
    (
        "phases leave a gap",
        {"calendar.phases[1].end": T(10, 12)},
        "calendar.phases",
        ["without gaps or overlaps", "leaves a gap after", "'peak'", "'burst'"],
        {"calendar.phases[1].end": T(11)},
    ),
    (
        "phases overlap",
        {"calendar.phases[2].start": T(10, 12)},
        "calendar.phases",
        ["overlaps"],
        {"calendar.phases[2].start": T(11)},
    ),
    (
        "phase names repeat",
        {"calendar.phases[3].name": "peak"},
        "calendar.phases",
        ["phase names must be unique", "'peak'"],
        {"calendar.phases[3].name": "after_party"},
    ),
    (
        "no peak phase",
        {"calendar.phases[2].kind": "regular"},
        "calendar.phases",
        ["exactly one", "'peak'", "found 0"],
        {"calendar.phases[2].kind": "peak"},
    ),
    (
        "two peak phases",
        {"calendar.phases[3].kind": "peak"},
        "calendar.phases",
        ["exactly one", "found 2"],
        {"calendar.phases[3].kind": "return"},
    ),
    (
        "segment shares do not sum to 1",
        {"population.segments[0].share": 0.5},
        "population.segments",
        ["segment shares must sum to 1", "1.2"],
        {"population.segments[0].share": 0.4, "population.segments[1].share": 0.4},
    ),
    (
        "segment names repeat",
        {"population.segments[2].name": "new"},
        "population.segments",
        ["segment names must be unique", "'new'"],
        {"population.segments[2].name": "lapsed", "promotions.messages[0].segments": ["lapsed"]},
    ),
    (
        "region shares do not sum to 1",
        {"population.regions[0].share": 0.5},
        "population.regions",
        ["region shares must sum to 1"],
        {"population.regions[0].share": 0.5, "population.regions[1].share": 0.5},
    ),
    (
        "region names repeat",
        {"population.regions[1].name": "east"},
        "population.regions",
        ["region names must be unique"],
        {
            "population.regions[1].name": "far_west",
            "fulfilment.couriers[1].region": "far_west",
            "fulfilment.sites[0].serves": ["east", "far_west"],
        },
    ),
    (
        "category shares do not sum to 1",
        {"categories[0].share": 0.5},
        "categories",
        ["category shares must sum to 1", "1.1"],
        {"categories[0].share": 0.5, "categories[1].share": 0.5},
    ),
    (
        "category names repeat",
        {"categories[1].name": "electronics"},
        "categories",
        ["category names must be unique"],
        {
            "categories[1].name": "cosmetics",
            "calendar.category_days[0].category": "cosmetics",
            "promotions.gifts[0].categories": ["cosmetics"],
        },
    ),
    (
        "threshold tier off not below spend",
        {"promotions.threshold.tiers[1].off": 500},
        "promotions.threshold.tiers[1]",
        ["off (500) must be below its spend (500)"],
        {"promotions.threshold.tiers[1].off": 499},
    ),
    (
        "threshold tiers not increasing",
        {"promotions.threshold.tiers[1].spend": 300},
        "promotions.threshold",
        ["tiers must increase", "300/50 then 300/100"],
        {"promotions.threshold.tiers[1].spend": 301},
    ),
    (
        "enabled threshold without tiers",
        {"promotions.threshold.tiers": []},
        "promotions.threshold",
        ["at least one tier"],
        {"promotions.threshold.tiers": [], "promotions.threshold.enabled": False},
    ),
    (
        "quantity tiers not increasing",
        {
            "promotions.quantity.tiers": [
                {"units": 3, "discount": 0.1},
                {"units": 4, "discount": 0.05},
            ]
        },
        "promotions.quantity",
        ["increase in both units and discount"],
        {
            "promotions.quantity.tiers": [
                {"units": 3, "discount": 0.1},
                {"units": 4, "discount": 0.15},
            ]
        },
    ),
    (
        "enabled quantity without tiers",
        {"promotions.quantity.tiers": []},
        "promotions.quantity",
        ["at least one tier"],
        {"promotions.quantity.tiers": [], "promotions.quantity.enabled": False},
    ),
    (
        "coupon min_spend not above face value",
        {"promotions.coupons[0].min_spend": 20},
        "promotions.coupons[0]",
        ["min_spend (20) must exceed face_value (20)"],
        {"promotions.coupons[0].min_spend": 0},  # no minimum at all is fine
    ),
    (
        "coupon claim window reversed",
        {"promotions.coupons[0].claim_start": T(11, 12)},
        "promotions.coupons[0]",
        ["claim_end", "must be after claim_start"],
        {"promotions.coupons[0].claim_start": T(10, 12)},
    ),
    (
        "coupon use window reversed",
        {"promotions.coupons[1].use_start": T(12), "promotions.coupons[1].use_end": T(11)},
        "promotions.coupons[1]",
        ["use_end", "must be after use_start"],
        {"promotions.coupons[1].use_start": T(11), "promotions.coupons[1].use_end": T(12)},
    ),
    (
        "category coupon without categories",
        {"promotions.coupons[0].kind": "category"},
        "promotions.coupons[0]",
        ["category coupon must name its categories"],
        {"promotions.coupons[0].kind": "category", "promotions.coupons[0].categories": ["beauty"]},
    ),
    (
        "coupon budget allowing more coupons than any count",
        {
            "promotions.coupons[0].budget": 1e30,
            "promotions.coupons[0].face_value": 0.01,
            "promotions.coupons[0].min_spend": 0,
        },
        "promotions.coupons[0]",
        ["budget / face_value", "coupons"],
        {
            "promotions.coupons[0].budget": 1e9,
            "promotions.coupons[0].face_value": 0.01,
            "promotions.coupons[0].min_spend": 0,
        },
    ),
    (
        "bundle discount above 1 (it is a fraction)",
        {"promotions.gifts[0].kind": "bundle", "promotions.gifts[0].value": 20},
        "promotions.gifts[0]",
        ["fraction", "at most 1", "got 20"],
        {"promotions.gifts[0].kind": "bundle", "promotions.gifts[0].value": 1},
    ),
    (
        "bogo discount above 1",
        {"promotions.gifts[0].kind": "bogo", "promotions.gifts[0].value": 1.5},
        "promotions.gifts[0]",
        ["bogo", "fraction"],
        {"promotions.gifts[0].kind": "bogo", "promotions.gifts[0].value": 0.5},
    ),
    (
        "deposit value below the deposit",
        {"promotions.presale.deposit_value": 5},
        "promotions.presale",
        ["deposit_value (5) must be at least the deposit (10)"],
        {"promotions.presale.deposit_value": 10},
    ),
    (
        "deposit window reversed",
        {"promotions.presale.deposit_end": T(8)},
        "promotions.presale",
        ["deposit_end must be after deposit_start"],
        {"promotions.presale.deposit_end": T(9)},
    ),
    (
        "tail window reversed",
        {"promotions.presale.tail_end": T(11)},
        "promotions.presale",
        ["tail_end must be after tail_start"],
        {"promotions.presale.tail_end": T(11, 2)},  # exactly rush_hours long
    ),
    (
        "tail window opens before the deposit window closes",
        {"promotions.presale.tail_start": T(9)},
        "promotions.presale",
        ["cannot open before the deposit window closes"],
        {"promotions.presale.tail_start": T(10)},
    ),
    (
        "rush longer than the tail window",
        {"promotions.presale.rush_hours": 21},
        "promotions.presale",
        ["rush_hours is longer than the tail window"],
        {"promotions.presale.rush_hours": 20},
    ),
    (
        "first-N without n or minutes",
        {"promotions.first_n[0]": {k: v for k, v in FIRST_N.items() if k != "n"}},
        "promotions.first_n[0]",
        ["needs n (buyers) or minutes (duration)"],
        {
            "promotions.first_n[0]": {
                **{k: v for k, v in FIRST_N.items() if k != "n"},
                "minutes": 60,
            }
        },
    ),
    (
        "first-N without discount or utility",
        {"promotions.first_n[0].discount": 0.0, "promotions.first_n[0].utility": 0.0},
        "promotions.first_n[0]",
        ["needs a discount or a utility"],
        {"promotions.first_n[0].discount": 0.0, "promotions.first_n[0].utility": 0.1},
    ),
    (
        "coupon names repeat",
        {"promotions.coupons[1].name": "cross_20"},
        "promotions",
        ["coupon names must be unique", "'cross_20'"],
        {"promotions.coupons[1].name": "wake_16", "promotions.messages[0].coupon": "wake_16"},
    ),
    _twice(
        "flash names repeat",
        "promotions.flash",
        FLASH,
        "promotions",
        ["flash slot names must be unique"],
    ),
    _twice(
        "first-N names repeat",
        "promotions.first_n",
        FIRST_N,
        "promotions",
        ["first-N names must be unique"],
    ),
    _twice(
        "countdown names repeat",
        "promotions.countdowns",
        COUNTDOWN,
        "promotions",
        ["countdown names must be unique"],
    ),
    _twice(
        "message names repeat",
        "promotions.messages",
        MESSAGE,
        "promotions",
        ["message names must be unique"],
    ),
    _twice(
        "gift names repeat", "promotions.gifts", GIFT, "promotions", ["gift names must be unique"]
    ),
    (
        "budget split does not sum to 1",
        {"marketing.split.traffic": 0.5},
        "marketing.split",
        ["budget split shares must sum to 1", "1.1"],
        {"marketing.split.traffic": 0.5, "marketing.split.subsidy": 0.2},
    ),
    (
        "channel spend above the traffic budget",
        {"marketing.channels[0].spend": 140_001},
        "marketing",
        ["exceeds the traffic budget"],
        {"marketing.channels[0].spend": 140_000},  # exactly 40% of 500 000
    ),
    (
        "budget too small for the channels",
        {"marketing.budget": 100_000},
        "marketing",
        ["exceeds the traffic budget", "0.4"],
        {"marketing.budget": 450_000},
    ),
    _twice(
        "channel names repeat",
        "marketing.channels",
        CHANNEL,
        "marketing",
        ["channel names must be unique"],
    ),
    (
        "shift ends before it starts",
        {"fulfilment.sites[0].shifts[0].end_hour": 8},
        "fulfilment.sites[0].shifts[0]",
        ["end_hour (8) must be after start_hour (8)", "night shift"],
        {"fulfilment.sites[0].shifts[0].end_hour": 9},
    ),
    (
        "shifts overlap",
        {
            "fulfilment.sites[0].shifts": [
                {"start_hour": 8, "end_hour": 20, "staff": 12},
                {"start_hour": 19, "end_hour": 24, "staff": 4},
            ]
        },
        "fulfilment.sites[0]",
        ["shifts may not overlap"],
        {
            "fulfilment.sites[0].shifts": [
                {"start_hour": 20, "end_hour": 24, "staff": 4},  # order does not matter
                {"start_hour": 8, "end_hour": 20, "staff": 12},
            ]
        },
    ),
    (
        "couriers stop before they start",
        {"fulfilment.couriers[0].end_hour": 8},
        "fulfilment.couriers[0]",
        ["end_hour must be after start_hour"],
        {"fulfilment.couriers[0].end_hour": 9},
    ),
    (
        "fault ends before it starts",
        {"fulfilment.faults[0].end": T(11, 14)},
        "fulfilment.faults[0]",
        ["end must be after start"],
        {"fulfilment.faults[0].end": T(11, 15)},
    ),
    (
        "site outage without a site",
        {"fulfilment.faults[0]": {"kind": "site_outage", "start": T(11), "end": T(11, 2)}},
        "fulfilment.faults[0]",
        ["site_outage needs `site`"],
        {"fulfilment.faults[0].site": "hub"},
    ),
    (
        "courier shortfall without a region",
        {"fulfilment.faults[0].kind": "courier_shortfall"},
        "fulfilment.faults[0]",
        ["courier_shortfall needs `region`"],
        {"fulfilment.faults[0].kind": "courier_shortfall", "fulfilment.faults[0].region": "west"},
    ),
    _twice(
        "site names repeat", "fulfilment.sites", SITE, "fulfilment", ["site names must be unique"]
    ),
]


@pytest.mark.parametrize(
    ("bad", "path", "words", "good"),
    [pytest.param(*row[1:], id=row[0]) for row in MODEL_RULES],
)
def test_model_rule(bad: dict, path: str, words: list[str], good: dict) -> None:
    line = only_error(bad)
    assert line.path == path
    assert_words(line.message, *words)
    load_scenario(SMOKE, good)


def test_a_gift_value_is_money_not_a_fraction() -> None:
    load_scenario(SMOKE, {"promotions.gifts[0].kind": "gift", "promotions.gifts[0].value": 20})


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("promotions.flash[0].stock", 10**25),  # past int64 once scaled
        ("promotions.flash[0].stock", 1e300),  # an integral float
        ("promotions.coupons[0].quantity", 10**16),
        ("fulfilment.couriers[0].count", 2**63),
        ("promotions.flash[0].limit_per_shopper", 256),  # past the state's one byte
        ("promotions.coupons[0].per_shopper", 256),
        ("promotions.quantity.tiers[0].units", 2**31),
    ],
)
def test_counts_too_big_for_the_plan_arrays(key: str, value: Any) -> None:
    line = only_error({key: value})
    assert line.path == key
    assert_words(line.message, "less than or equal to")


@pytest.mark.parametrize(("key", "most"), [("coupons", 31), ("messages", 16)])
def test_more_items_than_the_shopper_state_has_bits_for(key: str, most: int) -> None:
    first = SMOKE_RAW["promotions"][key][0]
    items = [dict(first, name=f"x{k}") for k in range(most + 1)]
    line = only_error({f"promotions.{key}": items})
    assert line.path == f"promotions.{key}"
    assert_words(line.message, f"{most + 1} items given, at most {most} allowed", "bits")
    field_ok(f"promotions.{key}", items[:most])


def test_disabled_threshold_still_checks_its_tiers() -> None:
    # switching a mechanism off keeps its numbers honest: they come back when it is on again
    bad = {"promotions.threshold.enabled": False, "promotions.threshold.tiers[1].spend": 200}
    assert only_error(bad).path == "promotions.threshold"


# ---------------------------------------------------------------------------
# Cross-field checks: references between sections, times against the clock
# ---------------------------------------------------------------------------

CROSS_RULES: list[tuple[str, dict[str, Any], str, list[str], dict[str, Any]]] = [
    (
        "two courier entries for one region (the second replaced the first)",
        {"fulfilment.couriers[1].region": "east"},
        "fulfilment.couriers[1].region",
        ["region 'east' has couriers already", "fulfilment.couriers[0]", "one entry"],
        {"fulfilment.couriers[1].region": "west"},
    ),
    (
        "first phase starts after the campaign",
        {"campaign.start": T(7)},
        "calendar.phases[0].start",
        ["first phase must start when the campaign starts"],
        {"campaign.start": T(7), "calendar.phases[0].start": T(7)},
    ),
    (
        "last phase ends before the campaign",
        {"campaign.end": T(14)},
        "calendar.phases[3].end",
        ["last phase must end when the campaign ends"],
        {"campaign.end": T(14), "calendar.phases[3].end": T(14)},
    ),
    (
        "category day outside the campaign",
        {"calendar.category_days[0].date": D(20)},
        "calendar.category_days[0].date",
        ["2026-11-20 is outside the campaign"],
        {"calendar.category_days[0].date": D(12)},
    ),
    (
        "category day far outside the calendar",
        {"calendar.category_days[0].date": dt.date(9999, 12, 31)},
        "calendar.category_days[0].date",
        ["outside the campaign"],
        {"calendar.category_days[0].date": D(8)},
    ),
    (
        "category day before the campaign",
        {"calendar.category_days[0].date": D(7)},
        "calendar.category_days[0].date",
        ["outside the campaign"],
        {"calendar.category_days[0].date": D(8)},
    ),
    (
        "category day of an unknown category",
        {"calendar.category_days[0].category": "beuty"},
        "calendar.category_days[0].category",
        ["unknown category 'beuty'", "did you mean 'beauty'?", "'electronics'"],
        {"calendar.category_days[0].category": "electronics"},
    ),
    (
        "spike date outside the campaign",
        {"calendar.spikes[0].dates": [D(11), D(13)]},
        "calendar.spikes[0].dates[1]",
        ["outside the campaign"],
        {"calendar.spikes[0].dates": [D(11), D(12)]},
    ),
    (
        "spike in an unknown phase",
        {"calendar.spikes[0].phases": ["peek"]},
        "calendar.spikes[0].phases[0]",
        ["unknown phase 'peek'", "did you mean 'peak'?"],
        {"calendar.spikes[0].phases": ["peak"]},
    ),
    (
        "threshold in an unknown phase",
        {"promotions.threshold.phases[1]": "peek"},
        "promotions.threshold.phases[1]",
        ["unknown phase 'peek'", "did you mean 'peak'?"],
        {"promotions.threshold.phases[1]": "return"},
    ),
    (
        "threshold on an unknown category",
        {"promotions.threshold.categories": ["electronic"]},
        "promotions.threshold.categories[0]",
        ["unknown category", "did you mean 'electronics'?"],
        {"promotions.threshold.categories": ["electronics"]},
    ),
    (
        "quantity on an unknown category",
        {"promotions.quantity.categories": ["beauty", "food"]},
        "promotions.quantity.categories[1]",
        ["unknown category 'food'", "allowed: 'electronics', 'beauty'"],
        {"promotions.quantity.categories": ["beauty"]},
    ),
    (
        "price cut on an unknown category",
        {"promotions.price_cut.categories": ["Beauty"]},
        "promotions.price_cut.categories[0]",
        ["unknown category 'Beauty'", "did you mean 'beauty'?"],
        {"promotions.price_cut.categories": ["beauty"]},
    ),
    (
        "points window starts before the campaign",
        {"promotions.points.start": T(1)},
        "promotions.points.start",
        ["is outside the campaign"],
        {"promotions.points.start": T(8)},
    ),
    (
        "points window ends after the campaign",
        {"promotions.points.end": T(14)},
        "promotions.points.end",
        ["is outside the campaign"],
        {"promotions.points.end": T(13)},  # the campaign end itself is allowed
    ),
    (
        "member window in an unknown phase (and the disabled twin is not checked)",
        {"promotions.member.phases": ["prehaet"]},
        "promotions.member.phases[0]",
        ["did you mean 'preheat'?"],
        {"promotions.member.phases": ["prehaet"], "promotions.member.enabled": False},
    ),
    (
        "instalments window in an unknown phase",
        {"promotions.instalments.phases": ["peek"]},
        "promotions.instalments.phases[0]",
        ["unknown phase"],
        {"promotions.instalments.phases": ["peek"], "promotions.instalments.enabled": False},
    ),
    (
        "red envelope spent in an unknown phase",
        {"promotions.red_envelope.spend_phases": ["peak", "retrun"]},
        "promotions.red_envelope.spend_phases[1]",
        ["unknown phase 'retrun'", "did you mean 'return'?"],
        {"promotions.red_envelope.spend_phases": ["peak", "return"]},
    ),
    (
        "red envelope task window outside the campaign",
        {"promotions.red_envelope.end": T(20)},
        "promotions.red_envelope.end",
        ["outside the campaign"],
        {"promotions.red_envelope.end": T(20), "promotions.red_envelope.enabled": False},
    ),
    (
        "coupon claimable after the campaign",
        {"promotions.coupons[0].claim_end": T(20)},
        "promotions.coupons[0].claim_end",
        ["outside the campaign"],
        {"promotions.coupons[0].claim_end": T(13)},
    ),
    (
        "coupon usable before the campaign",
        {"promotions.coupons[1].use_start": T(1)},
        "promotions.coupons[1].use_start",
        ["outside the campaign"],
        {"promotions.coupons[1].use_start": T(8)},
    ),
    (
        "coupon claimed only after its use window ends",
        {"promotions.coupons[1].claim_start": T(12), "promotions.coupons[1].use_end": T(11)},
        "promotions.coupons[1].claim_start",
        ["claim window opens", "after the use window ends", "could never be used"],
        {"promotions.coupons[1].claim_start": T(10), "promotions.coupons[1].use_end": T(11)},
    ),
    (
        "coupon used only up to the campaign start, when claims open by default",
        {"promotions.coupons[2].use_end": T(8)},
        "promotions.coupons[2].claim_start",
        ["could never be used"],
        {"promotions.coupons[2].use_end": T(8, 1)},
    ),
    (
        "coupon for an unknown segment",
        {"promotions.coupons[0].segments": ["regullar"]},
        "promotions.coupons[0].segments[0]",
        ["unknown segment 'regullar'", "did you mean 'regular'?"],
        {"promotions.coupons[0].segments": ["regular"]},
    ),
    (
        "coupon on an unknown category",
        {"promotions.coupons[0].categories": ["toys"]},
        "promotions.coupons[0].categories[0]",
        ["unknown category 'toys'", "allowed:"],
        {"promotions.coupons[0].categories": ["electronics", "beauty"]},
    ),
    (
        "presale tail after the campaign",
        {"promotions.presale.tail_end": T(14)},
        "promotions.presale.tail_end",
        ["outside the campaign"],
        {"promotions.presale.tail_end": T(14), "promotions.presale.enabled": False},
    ),
    (
        "presale deposit before the campaign",
        {"promotions.presale.deposit_start": T(1)},
        "promotions.presale.deposit_start",
        ["outside the campaign"],
        {"promotions.presale.deposit_start": T(8)},
    ),
    (
        "presale of an unknown category",
        {"promotions.presale.categories": ["electronics", "beaut"]},
        "promotions.presale.categories[1]",
        ["did you mean 'beauty'?"],
        {"promotions.presale.categories": ["electronics", "beauty"]},
    ),
    (
        "flash date outside the campaign",
        {"promotions.flash[0].dates": [D(1)]},
        "promotions.flash[0].dates[0]",
        ["2026-11-01 is outside the campaign"],
        {"promotions.flash[0].dates": [D(11)]},
    ),
    (
        "flash in an unknown phase",
        {"promotions.flash[0].phases": ["burst", "peek"]},
        "promotions.flash[0].phases[1]",
        ["did you mean 'peak'?"],
        {"promotions.flash[0].phases": ["burst", "peak"]},
    ),
    (
        "flash item of an unknown category",
        {"promotions.flash[0].category": "electronic"},
        "promotions.flash[0].category",
        ["unknown category 'electronic'", "did you mean 'electronics'?"],
        {"promotions.flash[0].category": "electronics"},
    ),
    (
        "first-N opening at the campaign end",
        {"promotions.first_n[0].start": T(13)},
        "promotions.first_n[0].start",
        ["outside the campaign"],
        {"promotions.first_n[0].start": T(12, 23)},
    ),
    (
        "first-N on an unknown category",
        {"promotions.first_n[0].categories": ["phones"]},
        "promotions.first_n[0].categories[0]",
        ["unknown category 'phones'"],
        {"promotions.first_n[0].categories": ["electronics"]},
    ),
    (
        "countdown deadline after the campaign",
        {"promotions.countdowns[0].deadline": T(14)},
        "promotions.countdowns[0].deadline",
        ["outside the campaign"],
        {"promotions.countdowns[0].deadline": T(13)},
    ),
    (
        "countdown in an unknown phase",
        {"promotions.countdowns[0].phases": ["peek"]},
        "promotions.countdowns[0].phases[0]",
        ["did you mean 'peak'?"],
        {"promotions.countdowns[0].phases": ["peak"]},
    ),
    (
        "message sent at the campaign end",
        {"promotions.messages[0].send_at": T(13)},
        "promotions.messages[0].send_at",
        ["outside the campaign"],
        {"promotions.messages[0].send_at": T(12, 23)},
    ),
    (
        "message to an unknown segment",
        {"promotions.messages[0].segments": ["dormnat"]},
        "promotions.messages[0].segments[0]",
        ["unknown segment 'dormnat'", "did you mean 'dormant'?"],
        {"promotions.messages[0].segments": ["dormant", "new"]},
    ),
    (
        "message granting an unknown coupon",
        {"promotions.messages[0].coupon": "wake15"},
        "promotions.messages[0].coupon",
        ["unknown coupon 'wake15'", "did you mean 'wake_15'?"],
        {"promotions.messages[0].coupon": "cross_20"},
    ),
    (
        "gift in an unknown phase",
        {"promotions.gifts[0].phases": ["peek"]},
        "promotions.gifts[0].phases[0]",
        ["did you mean 'peak'?"],
        {"promotions.gifts[0].phases": ["peak"]},
    ),
    (
        "gift on an unknown category",
        {"promotions.gifts[0].categories": ["beuty"]},
        "promotions.gifts[0].categories[0]",
        ["did you mean 'beauty'?"],
        {"promotions.gifts[0].categories": []},
    ),
    (
        "fission granting an unknown coupon",
        {"promotions.fission.coupon": "invite10"},
        "promotions.fission.coupon",
        ["unknown coupon 'invite10'", "did you mean 'invite_10'?"],
        {"promotions.fission.coupon": "invite10", "promotions.fission.enabled": False},
    ),
    (
        "fission in an unknown phase",
        {"promotions.fission.phases": ["preheet"]},
        "promotions.fission.phases[0]",
        ["did you mean 'preheat'?"],
        {"promotions.fission.phases": ["preheat", "burst"]},
    ),
    (
        "GMV share of an unknown phase",
        {"campaign.targets.phase_gmv_shares": {"peek": 0.5}},
        "campaign.targets.phase_gmv_shares.peek",
        ["unknown phase 'peek'", "did you mean 'peak'?"],
        {"campaign.targets.phase_gmv_shares": {"peak": 0.5}},
    ),
    (
        "GMV shares of the phases sum to more than 1",
        {"campaign.targets.phase_gmv_shares": {"peak": 0.6, "burst": 0.5}},
        "campaign.targets.phase_gmv_shares",
        ["sum to more than 1", "1.1"],
        {"campaign.targets.phase_gmv_shares": {"peak": 0.5, "burst": 0.5}},
    ),
    (
        "channel for an unknown segment",
        {"marketing.channels[1].segments": ["new", "reguler"]},
        "marketing.channels[1].segments[1]",
        ["did you mean 'regular'?"],
        {"marketing.channels[1].segments": ["new", "regular"]},
    ),
    (
        "channel in an unknown phase",
        {"marketing.channels[0].phases": ["burts"]},
        "marketing.channels[0].phases[0]",
        ["did you mean 'burst'?"],
        {"marketing.channels[0].phases": ["burst"]},
    ),
    (
        "channel window before the campaign",
        {"marketing.channels[0].start": T(1)},
        "marketing.channels[0].start",
        ["outside the campaign"],
        {"marketing.channels[0].start": T(9)},
    ),
    (
        "site in an unknown region",
        {"fulfilment.sites[0].region": "eats"},
        "fulfilment.sites[0].region",
        ["unknown region 'eats'", "did you mean 'east'?"],
        {"fulfilment.sites[0].region": "west"},
    ),
    (
        "site serving an unknown region",
        {"fulfilment.sites[0].serves": ["east", "west", "wset"]},
        "fulfilment.sites[0].serves[2]",
        ["did you mean 'west'?"],
        {"fulfilment.sites[0].serves": ["east", "west", "west"]},
    ),
    (
        "region served by no site",
        {"fulfilment.sites[0].serves": ["east"]},
        "fulfilment.sites",
        ["region 'west' is served by no site"],
        {"fulfilment.sites[0].serves": ["west", "east"]},
    ),
    (
        "a site's own region, by default",
        {"fulfilment.sites[0].serves": []},
        "fulfilment.sites",
        ["region 'west' is served by no site"],
        {
            "fulfilment.sites[0].serves": [],
            "population.regions": [{"name": "east", "share": 1}],
            "fulfilment.couriers": [{"region": "east", "count": 10}],
        },
    ),
    (
        "site overflowing to itself",
        {"fulfilment.sites[0].overflow.to": "hub"},
        "fulfilment.sites[0].overflow.to",
        ["cannot overflow to itself"],
        {"fulfilment.sites[0].overflow.to": "third_party"},
    ),
    (
        "site overflowing to an unknown target",
        {"fulfilment.sites[0].overflow.to": "third_prty"},
        "fulfilment.sites[0].overflow.to",
        ["unknown overflow target 'third_prty'", "did you mean 'third_party'?"],
        {  # a second site to overflow to
            "fulfilment.sites": [
                {**SITE, "overflow": {"to": "spare"}},
                {**SITE, "name": "spare", "serves": []},
            ]
        },
    ),
    (
        "linehaul from an unknown site",
        {"fulfilment.linehaul[0].site": "hbu"},
        "fulfilment.linehaul[0].site",
        ["unknown site 'hbu'", "did you mean 'hub'?"],
        {"fulfilment.linehaul[0].site": "hub"},
    ),
    (
        "couriers in an unknown region",
        {"fulfilment.couriers[1].region": "wst"},
        "fulfilment.couriers[1].region",
        ["unknown region 'wst'", "did you mean 'west'?"],
        {"fulfilment.couriers[1].region": "west"},
    ),
    (
        "fault at an unknown site",
        {"fulfilment.faults[0].site": "hbu"},
        "fulfilment.faults[0].site",
        ["unknown site 'hbu'", "did you mean 'hub'?"],
        {"fulfilment.faults[0].site": "hub"},
    ),
    (
        "courier shortfall in an unknown region",
        {"fulfilment.faults[0].kind": "courier_shortfall", "fulfilment.faults[0].region": "eastt"},
        "fulfilment.faults[0].region",
        ["unknown region 'eastt'", "did you mean 'east'?"],
        {"fulfilment.faults[0].kind": "courier_shortfall", "fulfilment.faults[0].region": "east"},
    ),
    (
        "fault before the campaign",
        {"fulfilment.faults[0].start": T(1)},
        "fulfilment.faults[0].start",
        ["outside the campaign"],
        {"fulfilment.faults[0].start": T(8)},
    ),
    (
        "pre-positioned stock released after the campaign",
        {"fulfilment.prepositioning.release_at": T(20)},
        "fulfilment.prepositioning.release_at",
        ["outside the campaign"],
        {"fulfilment.prepositioning.release_at": T(20), "fulfilment.prepositioning.enabled": False},
    ),
]


@pytest.mark.parametrize(
    ("bad", "path", "words", "good"),
    [pytest.param(*row[1:], id=row[0]) for row in CROSS_RULES],
)
def test_cross_rule(bad: dict, path: str, words: list[str], good: dict) -> None:
    line = only_error(bad)
    assert line.path == path
    assert_words(line.message, *words)
    load_scenario(SMOKE, good)


def test_cross_errors_carry_the_given_value() -> None:
    line = only_error({"promotions.messages[0].coupon": "wake15"})
    assert line.given == "wake15"
    assert "(given: 'wake15')" in str(line)
    line = only_error({"promotions.first_n[0].start": T(13)})
    assert line.given == "2026-11-13T00:00:00"


def test_no_close_name_means_no_suggestion() -> None:
    line = only_error({"promotions.flash[0].category": "zzzz"})
    assert "did you mean" not in line.message
    assert_words(line.message, "allowed: 'electronics', 'beauty'")


def test_every_cross_problem_is_reported_at_once() -> None:
    bad = {
        "calendar.category_days[0].category": "beuty",
        "promotions.threshold.phases[1]": "peek",
        "promotions.messages[0].coupon": "wake15",
        "promotions.first_n[0].start": T(20),
        "fulfilment.linehaul[0].site": "hbu",
        "fulfilment.sites[0].serves": ["east"],
    }
    errors = errors_of(bad)
    assert sorted(e.path for e in errors) == sorted(
        [
            "calendar.category_days[0].category",
            "promotions.threshold.phases[1]",
            "promotions.messages[0].coupon",
            "promotions.first_n[0].start",
            "fulfilment.linehaul[0].site",
            "fulfilment.sites",
        ]
    )


# ---------------------------------------------------------------------------
# Unknown keys and missing keys
# ---------------------------------------------------------------------------

TABLES = sorted({format_loc(loc) for _model, loc in PLACES.items()})


@pytest.mark.parametrize("table", TABLES, ids=lambda t: t or "top")
def test_an_unknown_key_in_any_table_is_named_with_the_allowed_keys(table: str) -> None:
    key = f"{table}.zzz_unknown" if table else "zzz_unknown"
    line = only_error({key: 1})
    assert line.path == key
    assert_words(line.message, "unknown key", "allowed:")
    assert "did you mean" not in line.message


def _typos() -> list[Any]:
    out = []
    for model, loc in PLACES.items():
        for name in model.model_fields:
            if len(name) < 5:
                continue
            typo = name[:2] + name[3] + name[2] + name[4:]  # swap two letters
            if typo == name or typo in model.model_fields:
                continue
            key = format_loc((*loc, typo))
            out.append(pytest.param(key, name, id=key))
    return out


@pytest.mark.parametrize(("key", "meant"), _typos())
def test_a_misspelt_key_gets_a_suggestion(key: str, meant: str) -> None:
    line = only_error({key: 1})
    assert line.path == key
    assert f"did you mean '{meant}'?" in line.message


def test_the_brief_example_stock(tmp_path: Path) -> None:
    path = variant(tmp_path, '[[promotions.flash]]\nname = "phone"\nstok = 10\n')
    line = only_error(path=path)
    assert line.path == "promotions.flash[0].stok"
    assert "did you mean 'stock'?" in line.message
    assert named(line.source) == "variant.toml"
    assert line.given is None


def _required() -> list[Any]:
    """Every key the smoke file sets that a model requires, with where it sits."""
    out = []
    for model, loc in _walk(Scenario, SMOKE_RAW, ()):
        for name, field in model.model_fields.items():
            if field.is_required():
                out.append(pytest.param((*loc, name), id=format_loc((*loc, name))))
    return out


def _without(data: Any, loc: tuple[str | int, ...]) -> Any:
    if not loc:
        return data
    head, *rest = loc
    if isinstance(data, dict):
        if not rest:
            return {k: v for k, v in data.items() if k != head}
        return {k: (_without(v, tuple(rest)) if k == head else v) for k, v in data.items()}
    return [_without(v, tuple(rest)) if i == head else v for i, v in enumerate(data)]


@pytest.mark.parametrize("loc", _required())
def test_a_missing_required_key_is_named(tmp_path: Path, loc: tuple[str | int, ...]) -> None:
    path = write(tmp_path, tomli_w.dumps(_without(SMOKE_RAW, loc)))
    line = only_error(path=path)
    assert line.path == format_loc(loc)
    assert named(line.source) == path.name
    where = format_loc(loc[:-1]) or "the top level"
    assert_words(line.message, f"required key missing in {where}")


def test_a_missing_key_is_described() -> None:
    flash = {k: v for k, v in FLASH.items() if k != "stock"}
    line = only_error({"promotions.flash[0]": flash})
    assert line.path == "promotions.flash[0].stock"
    assert line.message == (
        "required key missing in promotions.flash[0] (Units per slot (real-world count).)"
    )


def test_missing_sections(tmp_path: Path) -> None:
    data = {k: v for k, v in SMOKE_RAW.items() if k in ("campaign", "promotions")}
    errors = errors_of(path=write(tmp_path, tomli_w.dumps(data)))
    assert sorted(e.path for e in errors) == ["calendar", "categories", "population"]
    assert all("required key missing in the top level" in e.message for e in errors)


def test_optional_sections_may_be_left_out(tmp_path: Path) -> None:
    data = {k: v for k, v in SMOKE_RAW.items() if k not in ("promotions", "marketing")}
    data["fulfilment"] = {}
    s = load_scenario(write(tmp_path, tomli_w.dumps(data)))
    assert s.promotions.coupons == ()
    assert s.fulfilment.sites == ()


# ---------------------------------------------------------------------------
# Reading files
# ---------------------------------------------------------------------------


def test_broken_toml(tmp_path: Path) -> None:
    path = write(tmp_path, "[campaign]\nname = 'x'\nseed = = 3\n")
    line = only_error(path=path)
    assert (line.source, line.path) == (str(path), "")
    assert_words(line.message, "not valid TOML", "line 3")


def test_duplicate_keys_are_broken_toml(tmp_path: Path) -> None:
    path = write(tmp_path, "[campaign]\nseed = 1\nseed = 2\n")
    assert_words(only_error(path=path).message, "not valid TOML")


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.toml"
    line = only_error(path=path)
    assert (line.source, line.path, line.message) == (str(path), "", "file not found")


def test_a_directory_is_not_a_scenario(tmp_path: Path) -> None:
    assert_words(only_error(path=tmp_path).message, "is a directory")


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin1.toml"
    path.write_bytes('[campaign]\nname = "Café"\n'.encode("latin-1"))
    line = only_error(path=path)
    assert (line.path, line.message) == ("", "not UTF-8 text")


def test_nested_too_deeply(tmp_path: Path) -> None:
    path = write(tmp_path, "x = " + "[" * 5000 + "]" * 5000 + "\n")
    assert_words(only_error(path=path).message, "not valid TOML", "nested too deeply")


def test_missing_base_file(tmp_path: Path) -> None:
    path = write(tmp_path, 'base = "gone.toml"\n')
    line = only_error(path=path)
    assert (line.source, line.path, line.given) == (str(path), "base", "gone.toml")
    assert_words(line.message, "base file 'gone.toml' not found", str(tmp_path / "gone.toml"))


@pytest.mark.parametrize("value", ["5", '""', "[]", "{ file = 'smoke.toml' }"])
def test_base_must_be_a_file_name(tmp_path: Path, value: str) -> None:
    line = only_error(path=write(tmp_path, f"base = {value}\n"))
    assert line.path == "base"
    assert_words(line.message, "must be a file name")


def test_base_is_resolved_next_to_the_file(tmp_path: Path) -> None:
    (tmp_path / "plans").mkdir()
    write(tmp_path / "plans", SMOKE.read_text(encoding="utf-8"), "smoke.toml")
    path = write(tmp_path, 'base = "plans/smoke.toml"\n', "top.toml")
    assert load_scenario(path) == SMOKE_SCENARIO


def test_base_cycle(tmp_path: Path) -> None:
    a = write(tmp_path, 'base = "b.toml"\n', "a.toml")
    write(tmp_path, 'base = "a.toml"\n', "b.toml")
    line = only_error(path=a)
    assert line.path == "base"
    assert_words(line.message, "cycle", "a.toml -> ", "b.toml -> ")


def test_base_of_itself(tmp_path: Path) -> None:
    line = only_error(path=write(tmp_path, 'base = "self.toml"\n', "self.toml"))
    assert_words(line.message, "cycle")


def test_a_chain_of_bases(tmp_path: Path) -> None:
    mid = variant(tmp_path, "[campaign]\nseed = 8\n", "mid.toml")
    top = write(tmp_path, 'base = "mid.toml"\n[campaign]\nreplicates = 5\n', "top.toml")
    s = load_scenario(top)
    assert (s.campaign.seed, s.campaign.replicates) == (8, 5)
    assert load_scenario(mid).campaign.replicates == 4


def test_errors_in_a_base_file_are_reported_through_the_variant(tmp_path: Path) -> None:
    base = write(tmp_path, "[campaign\n", "base.toml")
    line = only_error(path=variant(tmp_path, "", base=base))
    assert named(line.source) == "base.toml"
    assert_words(line.message, "not valid TOML")


@pytest.mark.parametrize(
    "value", ["2026-11-08T00:00:00+08:00", "2026-11-08T00:00:00Z", "2026-11-08T00:00:00-05:30"]
)
def test_a_datetime_with_a_utc_offset(tmp_path: Path, value: str) -> None:
    path = variant(tmp_path, f"[campaign]\nstart = {value}\n")
    line = only_error(path=path)
    assert (named(line.source), line.path) == ("variant.toml", "campaign.start")
    assert_words(line.message, "without a UTC offset", "time zone applies")


def test_a_utc_offset_anywhere_is_refused() -> None:
    aware = dt.datetime(2026, 11, 11, tzinfo=dt.timezone(dt.timedelta(hours=8)))
    line = only_error({"promotions.first_n[0].start": aware})
    assert line.path == "promotions.first_n[0].start"
    assert_words(line.message, "UTC offset")


def test_a_local_date_means_midnight(tmp_path: Path) -> None:
    path = variant(tmp_path, "[campaign]\nstart = 2026-11-08\n")
    assert load_scenario(path) == SMOKE_SCENARIO


def test_remove_without_a_base_is_an_unknown_key(tmp_path: Path) -> None:
    data = tomllib.loads(SMOKE.read_text(encoding="utf-8"))
    data["promotions"]["flash"][0]["remove"] = True
    line = only_error(path=write(tmp_path, tomli_w.dumps(data)))
    assert line.path == "promotions.flash[0].remove"
    assert_words(line.message, "unknown key")


def test_removing_a_name_the_base_does_not_have(tmp_path: Path) -> None:
    path = variant(tmp_path, '[[promotions.flash]]\nname = "phnoe"\nremove = true\n')
    line = only_error(path=path)
    assert (named(line.source), line.path) == ("variant.toml", "promotions.flash")
    assert_words(line.message, "cannot remove 'phnoe'", "no item of that name")


# ---------------------------------------------------------------------------
# Every error at once, and who set the field
# ---------------------------------------------------------------------------


def test_every_field_error_in_a_file_is_reported_at_once(tmp_path: Path) -> None:
    path = variant(
        tmp_path,
        "[campaign]\nseed = -1\nnmae = 'x'\n"
        "[population]\nshoppers = 'many'\n"
        '[[promotions.flash]]\nname = "phone"\nstock = 0\nprice_cut = nan\n'
        "[fulfilment]\npromise_hours = inf\n",
    )
    errors = errors_of(path=path)
    assert sorted(e.path for e in errors) == [
        "campaign.nmae",
        "campaign.seed",
        "fulfilment.promise_hours",
        "population.shoppers",
        "promotions.flash[0].price_cut",
        "promotions.flash[0].stock",
    ]
    assert {named(e.source) for e in errors} == {"variant.toml"}
    text = str(ScenarioError(errors))
    assert text.count("\n") == len(errors) - 1


def test_field_errors_and_model_rules_together() -> None:
    bad = {
        "promotions.threshold.tiers[1].spend": 300,  # a model rule of Threshold
        "population.segments[0].share": 0.9,  # a rule on population.segments
        "fulfilment.sites[0].shifts[0].staff": -1,  # a field
    }
    errors = errors_of(bad)
    assert sorted(e.path for e in errors) == [
        "fulfilment.sites[0].shifts[0].staff",
        "population.segments",
        "promotions.threshold",
    ]


def test_an_invalid_item_is_not_also_reported_as_a_missing_item() -> None:
    # pydantic counts only valid items against min_length; the loader drops that echo
    errors = errors_of({"fulfilment.sites[0].shifts[0].staff": -1})
    assert [e.path for e in errors] == ["fulfilment.sites[0].shifts[0].staff"]
    errors = errors_of({"calendar.phases[0].traffic": -1})
    assert [e.path for e in errors] == ["calendar.phases[0].traffic"]


def _bad_base(tmp_path: Path) -> Path:
    text = SMOKE.read_text(encoding="utf-8")
    assert "stock = 200," in text
    return write(tmp_path, text.replace("stock = 200,", "stock = -5,"), "base.toml")


def test_an_error_names_the_variant_that_set_the_field(tmp_path: Path) -> None:
    path = variant(tmp_path, '[[promotions.flash]]\nname = "phone"\nstock = 0\n')
    line = only_error(path=path)
    assert (named(line.source), line.path) == ("variant.toml", "promotions.flash[0].stock")
    assert line.given == 0
    assert str(line).startswith(f"{line.source}: promotions.flash[0].stock: ")


def test_an_error_names_the_base_that_set_the_field(tmp_path: Path) -> None:
    base = _bad_base(tmp_path)
    path = variant(tmp_path, "[campaign]\nname = 'Variant'\n", base=base)
    line = only_error(path=path)
    assert (named(line.source), line.path) == ("base.toml", "promotions.flash[0].stock")


def test_a_variant_that_fixes_the_base_is_valid(tmp_path: Path) -> None:
    base = _bad_base(tmp_path)
    path = variant(tmp_path, '[[promotions.flash]]\nname = "phone"\nstock = 200\n', base=base)
    assert load_scenario(path) == SMOKE_SCENARIO


def test_errors_from_base_and_variant_together(tmp_path: Path) -> None:
    base = _bad_base(tmp_path)
    path = variant(tmp_path, "[campaign]\nreplicates = 0\n", base=base)
    errors = errors_of(path=path)
    assert {(named(e.source), e.path) for e in errors} == {
        ("base.toml", "promotions.flash[0].stock"),
        ("variant.toml", "campaign.replicates"),
    }


def test_cross_errors_name_the_file_that_set_the_reference(tmp_path: Path) -> None:
    text = SMOKE.read_text(encoding="utf-8").replace('coupon = "wake_15"', 'coupon = "wake15"')
    base = write(tmp_path, text, "base.toml")
    path = variant(
        tmp_path,
        '[[promotions.coupons]]\nname = "cross_20"\nsegments = ["regullar"]\n',
        base=base,
    )
    errors = errors_of(path=path)
    assert {(named(e.source), e.path) for e in errors} == {
        ("base.toml", "promotions.messages[0].coupon"),
        ("variant.toml", "promotions.coupons[0].segments[0]"),
    }


def test_a_set_override_is_named_as_the_source(tmp_path: Path) -> None:
    path = variant(tmp_path, "[campaign]\nreplicates = 0\n")
    errors = errors_of(["promotions.flash[phone].stock=0"], path=path)
    assert {(named(e.source), e.path) for e in errors} == {
        ("--set", "promotions.flash[0].stock"),
        ("variant.toml", "campaign.replicates"),
    }


def test_a_new_item_in_a_variant_belongs_to_the_variant(tmp_path: Path) -> None:
    path = variant(
        tmp_path,
        '[[promotions.coupons]]\nname = "extra"\nface_value = 5\nmin_spend = 2\n',
    )
    line = only_error(path=path)
    assert (named(line.source), line.path) == ("variant.toml", "promotions.coupons[3]")


def test_the_smoke_file_itself_is_named_relative_to_the_working_directory(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(ROOT)
    line = only_error({"campaign.end": T(14)}, path=Path("scenarios/smoke.toml"))
    assert (line.source, line.path) == ("scenarios/smoke.toml", "calendar.phases[3].end")
    line = only_error(path=Path("scenarios/missing.toml"))
    assert line.source == str(Path("scenarios/missing.toml"))


@pytest.mark.parametrize("key", ["[", "a[0]", "x]", "stock[1]"])
def test_an_unknown_key_with_brackets_keeps_its_path(tmp_path: Path, key: str) -> None:
    data = tomllib.loads(SMOKE.read_text(encoding="utf-8"))
    data[key] = 1
    data["promotions"]["flash"][0][key] = 2
    errors = errors_of(path=write(tmp_path, tomli_w.dumps(data)))
    assert sorted(e.path for e in errors) == sorted([key, f"promotions.flash[0].{key}"])
    assert all("unknown key" in e.message for e in errors)


def test_a_base_name_too_long_for_the_file_system(tmp_path: Path) -> None:
    line = only_error(path=write(tmp_path, f'base = "{"x" * 300}.toml"\n'))
    assert line.path == "base"
    assert_words(line.message, "not found")


@pytest.mark.parametrize(
    "override",
    [
        "calendar.phases[0].traffic=1e308",  # crashed the kernel (an infinite intensity)
        "population.segments[0].visit_rate=1e308",  # ran for ever
        "population.scale=1e307",
    ],
)
def test_intensities_and_scales_beyond_any_campaign_are_refused(override: str) -> None:
    with pytest.raises(ScenarioError) as err:
        load_scenario(SMOKE, [override])
    assert override.split("=")[0] in str(err.value)
    assert "less than or equal" in str(err.value)


def test_multipliers_that_compound_beyond_any_campaign_are_refused_with_their_segment() -> None:
    import subprocess
    import sys

    """Each multiplier within its bound, their product is not: 158,000 visits per shopper.
    The plan's compiler says which segment and what to lower (exit 2 on the command line)."""
    from sim.plan import compile_plan

    sets = ["population.segments[0].visit_rate=100"]
    sets += [
        f"calendar.phases[{i}].traffic=100" for i in range(len(SMOKE_RAW["calendar"]["phases"]))
    ]
    with pytest.raises(ScenarioError, match=r"population\.segments\[0\]\.visit_rate: segment"):
        compile_plan(load_scenario(SMOKE, sets))
    compile_plan(load_scenario(SMOKE, sets[:2]))  # one of them alone is fine
    args = [sys.executable, "-c", "from sim.cli import main; main()", "run", str(SMOKE)]
    for s in sets:
        args += ["--set", s]
    res = subprocess.run([*args, "--shoppers", "100"], capture_output=True, text=True)
    assert res.returncode == 2, res.stderr
    assert "would visit" in res.stderr and "Traceback" not in res.stderr
