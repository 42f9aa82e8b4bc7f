"""Property tests of the scenario language (hypothesis, derandomized for CI).

1. Random valid variations of the smoke scenario survive ``to_toml`` and a reload.
2. Random corruptions of the smoke file (wrong values, deleted keys, unknown keys, broken
   bytes) give a ScenarioError or, when harmless, a valid scenario; never another exception.
"""

from __future__ import annotations

import copy
import datetime as dt
import tomllib
from pathlib import Path
from typing import Any

import pytest
import tomli_w
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sim.scenario import ErrorLine, Scenario, ScenarioError, content_hash, load_scenario, to_toml
from sim.scenario.loader import format_loc

ROOT = Path(__file__).resolve().parents[1]
SMOKE = ROOT / "scenarios" / "smoke.toml"
SMOKE_TEXT = SMOKE.read_bytes()
SMOKE_RAW: dict[str, Any] = tomllib.loads(SMOKE_TEXT.decode("utf-8"))

BASE_SETTINGS = settings(
    derandomize=True,  # the same examples on every run: CI is deterministic
    database=None,  # and nothing is written to .hypothesis/
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def examples(n: int) -> settings:
    return settings(BASE_SETTINGS, max_examples=n)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("scenario_properties")


def round_trip(scenario: Scenario, workdir: Path) -> None:
    """to_toml -> file -> load gives the same scenario and the same hash."""
    path = workdir / "round_trip.toml"
    path.write_text(to_toml(scenario), encoding="utf-8")
    again = load_scenario(path)
    assert again == scenario
    assert content_hash(again) == content_hash(scenario)


def load_or_error(path: Path) -> Scenario | ScenarioError:
    """Load a scenario; any exception but ScenarioError fails the test."""
    try:
        return load_scenario(path)
    except ScenarioError as exc:
        assert exc.errors
        for line in exc.errors:
            assert isinstance(line, ErrorLine)
            assert isinstance(line.path, str)
            assert isinstance(line.message, str) and line.message
            assert Path(line.source).resolve() == path.resolve()  # one file, no overrides
            str(line)
        str(exc)
        return exc


# ---------------------------------------------------------------------------
# 1. valid variations round-trip
# ---------------------------------------------------------------------------

finite = {"allow_nan": False, "allow_infinity": False}


def shares(n: int) -> st.SearchStrategy[list[float]]:
    """n shares summing to 1 (within float rounding)."""
    return st.lists(st.integers(1, 1000), min_size=n, max_size=n).map(
        lambda ks: [k / sum(ks) for k in ks]
    )


def unit(lo_open: bool = False, hi_open: bool = False) -> st.SearchStrategy[float]:
    return st.floats(0.0, 1.0, exclude_min=lo_open, exclude_max=hi_open, **finite)


def increasing(n: int, lo: float, hi: float) -> st.SearchStrategy[list[float]]:
    """n strictly increasing floats in [lo, hi]."""
    return st.lists(st.floats(lo, hi, **finite), min_size=n, max_size=n, unique=True).map(sorted)


@st.composite
def threshold_tiers(draw: st.DrawFn) -> list[dict[str, float]]:
    spends = sorted(draw(st.lists(st.integers(1, 5000), min_size=1, max_size=4, unique=True)))
    fractions = draw(increasing(len(spends), 0.001, 0.99))  # off/spend: off < spend
    return [{"spend": s, "off": f * s} for s, f in zip(spends, fractions, strict=True)]


@st.composite
def quantity_tiers(draw: st.DrawFn) -> list[dict[str, float]]:
    units = sorted(draw(st.lists(st.integers(2, 20), min_size=1, max_size=3, unique=True)))
    discounts = draw(increasing(len(units), 0.001, 0.95))
    return [{"units": u, "discount": d} for u, d in zip(units, discounts, strict=True)]


@st.composite
def valid_overrides(draw: st.DrawFn) -> dict[str, Any]:
    o: dict[str, Any] = {
        "campaign.seed": draw(st.integers(0, 2**63 - 1)),
        "campaign.replicates": draw(st.integers(1, 100_000)),
        "campaign.targets.gmv": draw(st.floats(0, 1e13, **finite)),
        "campaign.targets.conversion": draw(unit()),
        "campaign.targets.phase_gmv_shares": {
            name: share
            for name, share in zip(("preheat", "burst", "peak"), draw(shares(3)), strict=True)
        },
        "population.shoppers": draw(st.integers(1, 2_000_000_000)),
        "population.scale": draw(st.floats(1.0, 1e6, **finite)),
        "promotions.threshold.tiers": draw(threshold_tiers()),
        "promotions.threshold.mode": draw(st.sampled_from(["tiered", "per_multiple"])),
        "promotions.threshold.stacks_with_coupons": draw(st.booleans()),
        "promotions.quantity.tiers": draw(quantity_tiers()),
        "promotions.member.rate": draw(unit(hi_open=True)),
        "promotions.points.enabled": draw(st.booleans()),
        "promotions.points.rate": draw(st.floats(0, 0.2, **finite)),
        "promotions.instalments.enabled": draw(st.booleans()),
        "promotions.cart_recall.enabled": draw(st.booleans()),
        "promotions.scarcity.below_share": draw(unit()),
        "promotions.presale.rush_hours": draw(st.floats(0, 20, **finite)),
        "promotions.presale.uptake": draw(unit()),
        "promotions.flash[0].stock": draw(st.integers(1, 10**12)),
        "promotions.flash[0].price_cut": draw(unit(lo_open=True)),
        "promotions.flash[0].list_price": draw(st.floats(0.01, 1e7, **finite)),
        "promotions.first_n[0].discount": draw(st.floats(0.01, 0.99, **finite)),
        "fulfilment.promise_hours": draw(st.floats(1, 240, **finite)),
        "fulfilment.sites[0].shifts[0].staff": draw(st.integers(0, 10**6)),
        "fulfilment.sites[0].surge.enabled": draw(st.booleans()),
        "fulfilment.couriers[0].count": draw(st.integers(0, 10**6)),
    }
    for prefix, names, n in (
        ("population.segments", ("new", "regular", "dormant"), 3),
        ("population.regions", ("east", "west"), 2),
        ("categories", ("electronics", "beauty"), 2),
    ):
        for name, share in zip(names, draw(shares(n)), strict=True):
            o[f"{prefix}[{name}].share"] = share
    for seg in ("new", "regular", "dormant"):
        o[f"population.segments[{seg}].visit_rate"] = draw(st.floats(0, 20, **finite))
        o[f"population.segments[{seg}].coupon_affinity"] = draw(unit())
        o[f"population.segments[{seg}].new_shoppers"] = draw(st.booleans())
        o[f"population.segments[{seg}].basket.sigma"] = draw(st.floats(0, 3, **finite))
    split = draw(shares(5))
    keys = ("traffic", "subsidy", "technology", "reserve", "logistics")
    for key, share in zip(keys, split, strict=True):
        o[f"marketing.split.{key}"] = share
    spend = 120_000 + 60_000  # the smoke channels
    o["marketing.budget"] = spend / split[0] * draw(st.floats(1.0, 100.0, **finite))
    o["calendar.diurnal"] = draw(
        st.one_of(
            st.sampled_from(["ecommerce", "flat", "evening", "office"]),
            st.lists(st.floats(0, 10, **finite), min_size=24, max_size=24).filter(
                lambda w: sum(w) > 0
            ),
        )
    )
    return o


@examples(150)
@given(overrides=valid_overrides())
def test_valid_variations_round_trip(workdir: Path, overrides: dict[str, Any]) -> None:
    scenario = load_scenario(SMOKE, overrides)
    assert scenario.campaign.seed == overrides["campaign.seed"]
    assert scenario.promotions.threshold.tiers[-1].spend == max(
        t["spend"] for t in overrides["promotions.threshold.tiers"]
    )
    round_trip(scenario, workdir)


def toml_value(value: Any) -> str:
    """A value as inline TOML, as one would type it after --set KEY=."""
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {toml_value(v)}" for k, v in value.items()) + " }"
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return tomli_w.dumps({"v": value}).partition("=")[2].strip()


@examples(50)
@given(overrides=valid_overrides())
def test_valid_variations_as_set_strings(workdir: Path, overrides: dict[str, Any]) -> None:
    """The same variations written as --set KEY=VALUE text give the same scenario."""
    texts = [f"{key}={toml_value(value)}" for key, value in overrides.items()]
    assert load_scenario(SMOKE, texts) == load_scenario(SMOKE, overrides)


# ---------------------------------------------------------------------------
# 2. corruptions give ScenarioError, never another exception
# ---------------------------------------------------------------------------


def _paths(data: Any, loc: tuple[str | int, ...] = ()) -> list[tuple[str | int, ...]]:
    out = []
    if isinstance(data, dict):
        items: Any = data.items()
    elif isinstance(data, list):
        items = enumerate(data)
    else:
        return out
    for k, v in items:
        out.append((*loc, k))
        out.extend(_paths(v, (*loc, k)))
    return out


SMOKE_PATHS = _paths(SMOKE_RAW)


def _get(data: Any, loc: tuple[str | int, ...]) -> Any:
    for part in loc:
        data = data[part]
    return data


TABLES = [()] + [p for p in SMOKE_PATHS if isinstance(_get(SMOKE_RAW, p), dict)]
NAMES = ["peak", "preheat", "beauty", "hub", "east", "cross_20", "wake_15", "new", "x", ""]

wrong_values = st.one_of(
    st.integers(-(2**70), 2**70),
    st.sampled_from([-1, 0, 1, 2, 23, 24, 25, 60, 61, 1440, 2**63, -(2**63)]),
    st.floats(),  # nan, inf, huge, tiny, negative
    st.sampled_from([0.0, -0.0, 0.5, 1.0, 1.5, -0.5, 1e308, 5e-324]),
    st.booleans(),
    st.text(max_size=12),
    st.sampled_from([*NAMES, "America", "Mars/Base", "x" * 300, "\x00", "ecommerce"]),
    st.datetimes(min_value=dt.datetime(1, 1, 1), max_value=dt.datetime(9999, 12, 31, 23, 59, 59)),
    st.datetimes(timezones=st.sampled_from([dt.UTC, dt.timezone(dt.timedelta(hours=8))])),
    st.sampled_from([dt.datetime(2026, 11, d, h) for d in (7, 8, 11, 12, 13, 14) for h in (0, 12)]),
    st.dates(),
    st.sampled_from([dt.date(2026, 11, d) for d in (1, 8, 10, 11, 12, 13, 20)]),
    st.times(),
    st.lists(st.one_of(st.integers(-5, 30), st.sampled_from(NAMES)), max_size=4),
    st.lists(st.floats(), max_size=25),
    st.dictionaries(st.sampled_from(["name", "share", "x", "spend"]), st.integers(), max_size=3),
    st.just([]),
    st.just({}),
)


@st.composite
def corrupted(draw: st.DrawFn) -> dict[str, Any]:
    data = copy.deepcopy(SMOKE_RAW)
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["replace", "replace", "delete", "add"]))
        if kind == "add":
            loc = draw(st.sampled_from(TABLES))
            table = _get(data, loc) if _exists(data, loc) else None
            if isinstance(table, dict):
                key = draw(st.one_of(st.sampled_from(["stok", "nmae", "remove"]), st.text()))
                table[key] = draw(wrong_values)
            continue
        loc = draw(st.sampled_from(SMOKE_PATHS))
        if not _exists(data, loc):
            continue
        parent = _get(data, loc[:-1])
        if kind == "delete":
            del parent[loc[-1]]
        else:
            old = parent[loc[-1]]
            parent[loc[-1]] = draw(st.one_of(wrong_values, near(old)))
    return data


def _shift(value: dt.date, **delta: float) -> dt.date:
    try:
        return value + dt.timedelta(**delta)
    except OverflowError:  # an earlier corruption already moved it to the edge
        return value


def near(value: Any) -> st.SearchStrategy[Any]:
    """Values of the same kind as ``value`` that are likely to be wrong: edges and extremes."""
    if isinstance(value, bool):
        return st.sampled_from([0, 1, "true"])
    if isinstance(value, int | float):
        return st.sampled_from(
            [
                -value,
                value - 1,
                value + 0.5,
                value * 1e300,
                0,
                -0.0,
                1,
                2**63,
                float("nan"),
                float("inf"),
                float("-inf"),
                float(value),
            ]
        )
    if isinstance(value, str):
        edits = [value + "x", value[1:], value.upper(), value + " ", f"{value}[0]"]
        odd = ["", " ", "America", "Asia", "x" * 300, "a\x00b", "../x", "peak", "hub"]
        return st.sampled_from(edits + odd)
    if isinstance(value, dt.datetime):
        return st.sampled_from(
            [
                dt.datetime.min,
                dt.datetime.max.replace(microsecond=0),
                _shift(value, days=-30),
                _shift(value, days=30),
                _shift(value, minutes=30),
                value.replace(tzinfo=dt.UTC),
                value.date(),
            ]
        )
    if isinstance(value, dt.date):
        return st.sampled_from(
            [dt.date.min, dt.date.max, _shift(value, days=-30), dt.datetime(2026, 11, 9)]
        )
    if isinstance(value, list):
        return st.sampled_from([[], value * 2, value[::-1], value[:1] * 30, [value]])
    if isinstance(value, dict):
        return st.sampled_from([{}, {"name": "x"}, {**value, "name": "peak"}, [value]])
    return wrong_values


def _exists(data: Any, loc: tuple[str | int, ...]) -> bool:
    for part in loc:
        if (isinstance(data, dict) and part in data) or (
            isinstance(data, list) and isinstance(part, int) and part < len(data)
        ):
            data = data[part]
        else:
            return False
    return True


@examples(400)
@given(data=corrupted())
def test_corrupted_values_give_scenario_error(workdir: Path, data: dict[str, Any]) -> None:
    path = workdir / "corrupted.toml"
    path.write_text(tomli_w.dumps(data), encoding="utf-8")
    result = load_or_error(path)
    if isinstance(result, Scenario):  # a harmless corruption: still a good scenario
        round_trip(result, workdir)


@examples(300)
@given(
    loc=st.sampled_from(SMOKE_PATHS),
    value=st.one_of(
        wrong_values, st.none(), st.tuples(st.integers()), st.frozensets(st.integers())
    ),
)
def test_corrupted_overrides_give_scenario_error(
    workdir: Path, loc: tuple[str | int, ...], value: Any
) -> None:
    """A mapping of overrides takes any Python value; the answer is still a ScenarioError."""
    key = format_loc(loc)
    try:
        scenario = load_scenario(SMOKE, {key: value})
    except ScenarioError as exc:
        assert exc.errors
        str(exc)
    else:
        round_trip(scenario, workdir)


@st.composite
def corrupted_bytes(draw: st.DrawFn) -> bytes:
    text = bytearray(SMOKE_TEXT)
    for _ in range(draw(st.integers(1, 3))):
        op = draw(st.sampled_from(["flip", "delete", "insert", "duplicate", "swap", "cut"]))
        n = len(text)
        if n == 0:
            break
        at = draw(st.integers(0, n - 1))
        if op == "flip":
            text[at] = draw(st.integers(0, 255))
        elif op == "delete":
            del text[at : at + draw(st.integers(1, 40))]
        elif op == "insert":
            text[at:at] = draw(
                st.one_of(
                    st.binary(min_size=1, max_size=8),
                    st.sampled_from([b"=", b"[", b"]", b'"', b"\n", b"{", b"}", b",", b".", b"#"]),
                )
            )
        else:
            lines = bytes(text).split(b"\n")
            i = draw(st.integers(0, len(lines) - 1))
            j = draw(st.integers(0, len(lines) - 1))
            if op == "duplicate":
                lines.insert(j, lines[i])
            elif op == "swap":
                lines[i], lines[j] = lines[j], lines[i]
            else:
                lines = lines[: max(i, 1)]
            text = bytearray(b"\n".join(lines))
    return bytes(text)


@examples(400)
@given(raw=corrupted_bytes())
def test_corrupted_bytes_give_scenario_error(workdir: Path, raw: bytes) -> None:
    path = workdir / "bytes.toml"
    path.write_bytes(raw)
    result = load_or_error(path)
    if isinstance(result, Scenario):
        round_trip(result, workdir)


def test_the_corruptions_do_hit_every_kind_of_error(workdir: Path) -> None:
    """A guard on the generators: a fixed handful of corruptions give the errors meant."""
    path = workdir / "guard.toml"
    path.write_bytes(SMOKE_TEXT.replace(b"[campaign]", b"[campaign", 1))
    assert "not valid TOML" in str(load_or_error(path))
    path.write_bytes(SMOKE_TEXT.replace(b"Smoke", b"Sm\xffke", 1))
    assert "not UTF-8" in str(load_or_error(path))
    data = copy.deepcopy(SMOKE_RAW)
    data["promotions"]["flash"][0]["stock"] = dt.time(1, 2)
    path.write_text(tomli_w.dumps(data), encoding="utf-8")
    result = load_or_error(path)
    assert isinstance(result, ScenarioError)
    assert [e.path for e in result.errors] == ["promotions.flash[0].stock"]
