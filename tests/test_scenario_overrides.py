"""``--set`` overrides, ``base`` inheritance, content hashes and the TOML round trip."""

from __future__ import annotations

import datetime as dt
import tomllib
from pathlib import Path
from typing import Any

import pytest

from sim.scenario import Scenario, ScenarioError, content_hash, load_scenario, to_toml
from sim.scenario.loader import (
    SET_ORIGIN,
    apply_override,
    format_loc,
    load_raw,
    parse_path,
    parse_value,
    split_override,
    to_toml_dict,
)

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = ROOT / "scenarios"
SMOKE = SCENARIOS / "smoke.toml"
BASELINE = SCENARIOS / "double11_baseline.toml"
BUNDLED = sorted(SCENARIOS.glob("*.toml"))
SMOKE_SCENARIO = load_scenario(SMOKE)


def only_error(path: Path, overrides: Any = ()) -> Any:
    with pytest.raises(ScenarioError) as info:
        load_scenario(path, overrides)
    assert len(info.value.errors) == 1, str(info.value)
    return info.value.errors[0]


def variant(tmp_path: Path, body: str, name: str = "variant.toml", base: Path = SMOKE) -> Path:
    path = tmp_path / name
    path.write_text(f'base = "{base.as_posix()}"\n{body}', encoding="utf-8")
    return path


# ---------------------------------------------------------------------------
# parsing KEY=VALUE
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "parts"),
    [
        ("campaign.seed", ("campaign", "seed")),
        ("categories[0].share", ("categories", 0, "share")),
        ("promotions.threshold.tiers[1].off", ("promotions", "threshold", "tiers", 1, "off")),
        ("population.segments[new].share", ("population", "segments", ("name", "new"), "share")),
        ("promotions.flash[-1].stock", ("promotions", "flash", -1, "stock")),
        ("fulfilment.sites[hub].shifts[0]", ("fulfilment", "sites", ("name", "hub"), "shifts", 0)),
        ("a[0][1]", ("a", 0, 1)),
        ("a[x-y_z]", ("a", ("name", "x-y_z"))),
        ("a[--1]", ("a", ("name", "--1"))),  # not a number: a name
        ("a[1a]", ("a", ("name", "1a"))),
        ("a[²]", ("a", ("name", "²"))),  # a digit to str.isdigit, not to int()
        ("with-dash", ("with-dash",)),
    ],
)
def test_parse_path(key: str, parts: tuple) -> None:
    assert parse_path(key) == parts


@pytest.mark.parametrize(
    "key", ["", ".", "a.", ".a", "a..b", "a[]", "a[0", "a]0[", "[0]", "a b", "a.[0]", "1a", "a[0]b"]
)
def test_parse_path_rejects(key: str) -> None:
    with pytest.raises(ValueError, match="cannot read the path"):
        parse_path(key)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("7", 7),
        ("-3", -3),
        ("1_000", 1000),
        ("0x10", 16),
        ("0.25", 0.25),
        ("1e3", 1000.0),
        ("true", True),
        ("false", False),
        ('"quoted text"', "quoted text"),
        ("'single'", "single"),
        ("hello", "hello"),  # not TOML: taken as a string
        ("Hello world", "Hello world"),
        ("peak", "peak"),
        ("", ""),
        ("True", "True"),  # TOML booleans are lower case
        ("[0, 10, 20]", [0, 10, 20]),
        ('["burst", "peak"]', ["burst", "peak"]),
        ("[]", []),
        ("{ spend = 300, off = 50 }", {"spend": 300, "off": 50}),
        ("2026-11-11T00:00:00", dt.datetime(2026, 11, 11)),
        ("2026-11-11 08:30:00", dt.datetime(2026, 11, 11, 8, 30)),
        ("2026-11-11", dt.date(2026, 11, 11)),
        (
            "2026-11-11T00:00:00+08:00",
            dt.datetime(2026, 11, 11, tzinfo=dt.timezone(dt.timedelta(hours=8))),
        ),
        ("[" * 2000 + "]" * 2000, "[" * 2000 + "]" * 2000),  # too deep for tomllib: a string
    ],
)
def test_parse_value_reads_toml(text: str, value: Any) -> None:
    got = parse_value(text)
    assert got == value
    assert type(got) is type(value)


def test_parse_value_nan_and_inf() -> None:
    assert parse_value("inf") == float("inf")
    nan = parse_value("nan")
    assert isinstance(nan, float) and nan != nan


@pytest.mark.parametrize(
    ("text", "pair"),
    [
        ("campaign.seed=7", ("campaign.seed", 7)),
        ("  campaign.seed  =  7  ", ("campaign.seed", 7)),
        ("campaign.name=Big sale", ("campaign.name", "Big sale")),
        ("campaign.name=a=b", ("campaign.name", "a=b")),  # only the first = splits
        ("campaign.description=", ("campaign.description", "")),
        ("calendar.spikes[0].hours=[1, 2]", ("calendar.spikes[0].hours", [1, 2])),
    ],
)
def test_split_override(text: str, pair: tuple) -> None:
    assert split_override(text) == pair


@pytest.mark.parametrize("text", ["campaign.seed", "=7", "  =7", ""])
def test_split_override_needs_key_and_value(text: str) -> None:
    with pytest.raises(ScenarioError) as info:
        split_override(text)
    (line,) = info.value.errors
    assert (line.source, line.path) == (SET_ORIGIN, text)
    assert "KEY=VALUE" in line.message


# ---------------------------------------------------------------------------
# applying overrides to raw data
# ---------------------------------------------------------------------------


def raw(*overrides: str) -> dict[str, Any]:
    return load_raw(SMOKE, list(overrides))[0]


def set_error(*overrides: str) -> Any:
    with pytest.raises(ScenarioError) as info:
        load_raw(SMOKE, list(overrides))
    (line,) = info.value.errors
    assert line.source == SET_ORIGIN
    return line


def test_set_by_index_and_by_name() -> None:
    data = raw(
        "population.segments[0].share=0.25",
        "population.segments[regular].share=0.55",
        "promotions.threshold.tiers[1].off=90",
    )
    segments = data["population"]["segments"]
    assert [s["share"] for s in segments] == [0.25, 0.55, 0.2]
    assert data["promotions"]["threshold"]["tiers"][1] == {"spend": 500, "off": 90}


def test_negative_index_counts_from_the_end() -> None:
    data = raw("population.segments[-1].share=0.1", "categories[-2].share=0.3")
    assert data["population"]["segments"][2]["share"] == 0.1
    assert data["categories"][0]["share"] == 0.3


def test_negative_index_names_its_item_in_errors() -> None:
    line = only_error(SMOKE, ["population.segments[-1].visit_rate=-1"])
    assert (line.source, line.path) == (SET_ORIGIN, "population.segments[2].visit_rate")


@pytest.mark.parametrize(
    ("override", "words"),
    [
        ("population.segments[3].share=0.1", "index 3 is out of range: population.segments has 3"),
        ("population.segments[-4].share=0.1", "index -4 is out of range"),
        ("promotions.flash[1].stock=1", "promotions.flash has 1 item"),
        ("promotions.flash[0].hours[3]=1", "promotions.flash[0].hours has 3 item"),
    ],
)
def test_index_out_of_range(override: str, words: str) -> None:
    line = set_error(override)
    assert line.path == override.partition("=")[0]
    assert words in line.message


def test_unknown_name_suggests_the_closest() -> None:
    line = set_error("population.segments[regullar].share=0.5")
    assert line.path == "population.segments[regullar].share"
    assert "no item named 'regullar' in population.segments" in line.message
    assert "did you mean 'regular'?" in line.message
    assert "names: new, regular, dormant" in line.message


def test_unknown_name_without_a_close_one() -> None:
    line = set_error("promotions.flash[zzz].stock=1")
    assert "did you mean" not in line.message
    assert "names: phone" in line.message


def test_name_in_a_list_without_names() -> None:
    line = set_error("fulfilment.couriers[east].count=1")
    assert "names: none" in line.message


def test_index_into_a_table_or_key_into_a_list() -> None:
    assert "'campaign' is not a list" in set_error("campaign[0]=1").message
    line = set_error("population.segments.share=1")
    assert "'population.segments' is not a table" in line.message
    line = set_error("campaign.seed.high=1")
    assert "'campaign.seed' is not a table" in line.message


def test_a_bad_path_is_an_error_line() -> None:
    line = set_error("campaign..seed=1")
    assert line.path == "campaign..seed"
    assert "cannot read the path" in line.message


def test_missing_tables_are_created() -> None:
    data = raw("population.segments[0].basket.median=150", "promotions.price_cut.rate=0.2")
    assert data["population"]["segments"][0]["basket"] == {"median": 150}
    assert data["promotions"]["price_cut"] == {"rate": 0.2}
    s = load_scenario(SMOKE, ["promotions.price_cut.rate=0.2"])
    assert s.promotions.price_cut.enabled
    assert s.promotions.price_cut.rate == 0.2


def test_a_missing_list_cannot_be_indexed() -> None:
    line = set_error("promotions.price_cut.categories[0]=beauty")
    assert "out of range" in line.message


def test_overrides_apply_in_order() -> None:
    s = load_scenario(SMOKE, ["campaign.seed=1", "campaign.seed=2"])
    assert s.campaign.seed == 2
    s = load_scenario(
        SMOKE,
        [
            "promotions.flash[0]={name='x', hours=[1], stock=1, list_price=5, price_cut=0.5}",
            "promotions.flash[x].stock=3",
        ],
    )
    assert s.promotions.flash[0].stock == 3


def test_apply_override_on_plain_data() -> None:
    data, origin = load_raw(SMOKE)
    apply_override(data, origin, "population.regions[west].share", 0.5)
    assert data["population"]["regions"][1] == {"name": "west", "share": 0.5}


def test_a_mapping_of_overrides_is_not_parsed_as_toml() -> None:
    s = load_scenario(SMOKE, {"campaign.name": "1979-05-27"})
    assert s.campaign.name == "1979-05-27"
    line = only_error(SMOKE, ["campaign.name=1979-05-27"])  # as --set: a date
    assert line.path == "campaign.name"
    assert "valid string" in line.message


# ---------------------------------------------------------------------------
# values typed as TOML, validated like the file
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("override", "attr", "value"),
    [
        ("campaign.seed=42", ("campaign", "seed"), 42),
        ("population.scale=12.5", ("population", "scale"), 12.5),
        ("population.scale=12", ("population", "scale"), 12.0),
        ("promotions.points.enabled=false", ("promotions", "points", "enabled"), False),
        ("campaign.name=Big sale 2026", ("campaign", "name"), "Big sale 2026"),
        ('campaign.name="42"', ("campaign", "name"), "42"),
        ("calendar.spikes[0].hours=[1, 2]", ("calendar", "spikes", 0, "hours"), (1, 2)),
        ("calendar.diurnal=flat", ("calendar", "diurnal"), "flat"),
        (
            "promotions.first_n[0].start=2026-11-11T01:00:00",
            ("promotions", "first_n", 0, "start"),
            dt.datetime(2026, 11, 11, 1),
        ),
        (
            "promotions.first_n[0].start=2026-11-12",
            ("promotions", "first_n", 0, "start"),
            dt.datetime(2026, 11, 12),
        ),
        (
            "calendar.category_days[0].date=2026-11-09",
            ("calendar", "category_days", 0, "date"),
            dt.date(2026, 11, 9),
        ),
        (
            "promotions.threshold.tiers=[{spend=200, off=20}]",
            ("promotions", "threshold", "tiers", 0, "off"),
            20.0,
        ),
    ],
)
def test_override_values_are_typed(override: str, attr: tuple, value: Any) -> None:
    obj: Any = load_scenario(SMOKE, [override])
    for part in attr:
        obj = obj[part] if isinstance(part, int) else getattr(obj, part)
    assert obj == value
    assert type(obj) is type(value)


@pytest.mark.parametrize(
    ("override", "toml_line", "path"),
    [
        ("campaign.seed=-1", "seed = -1", "campaign.seed"),
        ("campaign.seed=seven", 'seed = "seven"', "campaign.seed"),
        ("campaign.replicates=0", "replicates = 0", "campaign.replicates"),
        ("campaign.timezone=Mars/Base", 'timezone = "Mars/Base"', "campaign.timezone"),
        ("campaign.start=2026-11-08T00:00:00Z", "start = 2026-11-08T00:00:00Z", "campaign.start"),
        ("campaign.currency=cny", 'currency = "cny"', "campaign.currency"),
        ("campaign.description=[1]", "description = [1]", "campaign.description"),
        ("campaign.nmae=x", 'nmae = "x"', "campaign.nmae"),
        ("campaign.end=2026-11-08T00:00:00", "end = 2026-11-08T00:00:00", "campaign"),
        ("campaign.replicates=nan", "replicates = nan", "campaign.replicates"),
    ],
)
def test_an_override_is_validated_exactly_like_the_file(
    tmp_path: Path, override: str, toml_line: str, path: str
) -> None:
    from_set = only_error(SMOKE, [override])
    from_file = only_error(variant(tmp_path, f"[campaign]\n{toml_line}\n"))
    assert (from_set.source, from_set.path) == (SET_ORIGIN, path)
    assert Path(from_file.source).name == "variant.toml"
    assert (from_set.path, from_set.message) == (from_file.path, from_file.message)
    assert repr(from_set.given) == repr(from_file.given)  # nan != nan


def test_an_override_of_an_unknown_phase_reference() -> None:
    line = only_error(SMOKE, ['promotions.points.phases=["peek"]'])
    assert (line.source, line.path) == (SET_ORIGIN, "promotions.points.phases[0]")
    assert "did you mean 'peak'?" in line.message


def test_an_override_can_fix_a_broken_file(tmp_path: Path) -> None:
    path = variant(tmp_path, "[campaign]\nseed = -1\n")
    assert load_scenario(path, ["campaign.seed=7"]) == SMOKE_SCENARIO


def test_the_docstring_example() -> None:
    assert load_scenario(SMOKE, ["campaign.seed=7"]).campaign.seed == 7


# ---------------------------------------------------------------------------
# inheritance
# ---------------------------------------------------------------------------


def test_tables_merge_key_by_key(tmp_path: Path) -> None:
    s = load_scenario(variant(tmp_path, "[campaign]\nname = 'V'\n[campaign.targets]\naov = 1\n"))
    assert s.campaign.name == "V"
    assert s.campaign.seed == SMOKE_SCENARIO.campaign.seed
    assert s.campaign.targets.aov == 1
    assert s.campaign.targets.gmv == SMOKE_SCENARIO.campaign.targets.gmv
    assert s.campaign.targets.phase_gmv_shares == {"peak": 0.6}
    assert s.model_copy(update={"campaign": SMOKE_SCENARIO.campaign}) == SMOKE_SCENARIO


def test_inline_and_standard_tables_merge_alike(tmp_path: Path) -> None:
    a = load_scenario(variant(tmp_path, "[promotions]\nmember = { rate = 0.1 }\n", "a.toml"))
    b = load_scenario(variant(tmp_path, "[promotions.member]\nrate = 0.1\n", "b.toml"))
    assert a == b
    assert a.promotions.member.rate == 0.1
    assert a.promotions.member.max_off == 100  # kept from the base


def test_named_arrays_merge_by_name(tmp_path: Path) -> None:
    body = '[[population.segments]]\nname = "regular"\nshare = 0.5\nvisit_rate = 0.9\n'
    s = load_scenario(variant(tmp_path, body))
    names = [g.name for g in s.population.segments]
    assert names == ["new", "regular", "dormant"]  # order kept
    regular = s.population.segments[1]
    assert regular.visit_rate == 0.9
    assert regular.membership_rate == 0.3  # the base's value of a key the variant left out


def test_named_arrays_of_inline_tables_merge_too(tmp_path: Path) -> None:
    body = '[promotions]\ncoupons = [{ name = "wake_15", face_value = 25, min_spend = 99 }]\n'
    s = load_scenario(variant(tmp_path, body))
    assert [c.name for c in s.promotions.coupons] == ["cross_20", "wake_15", "invite_10"]
    assert s.promotions.coupons[1].face_value == 25
    assert s.promotions.coupons[1].claimable is False  # from the base


def test_a_new_name_is_appended(tmp_path: Path) -> None:
    body = (
        '[[promotions.coupons]]\nname = "extra_5"\nface_value = 5\nmin_spend = 50\n'
        '[[promotions.coupons]]\nname = "cross_20"\nface_value = 30\n'
    )
    s = load_scenario(variant(tmp_path, body))
    assert [c.name for c in s.promotions.coupons] == ["cross_20", "wake_15", "invite_10", "extra_5"]
    assert s.promotions.coupons[0].face_value == 30


def test_remove_drops_the_named_item(tmp_path: Path) -> None:
    body = (
        '[[population.segments]]\nname = "dormant"\nremove = true\n'
        '[[population.segments]]\nname = "regular"\nshare = 0.7\n'
        '[[promotions.messages]]\nname = "wake"\nremove = true\n'
    )
    s = load_scenario(variant(tmp_path, body))
    assert [g.name for g in s.population.segments] == ["new", "regular"]
    assert s.promotions.messages == ()


def test_remove_then_add_again(tmp_path: Path) -> None:
    body = (
        '[[promotions.flash]]\nname = "phone"\nremove = true\n'
        '[[promotions.flash]]\nname = "phone"\nhours = [12]\nstock = 5\nlist_price = 99\n'
        "price_cut = 0.5\n"
    )
    s = load_scenario(variant(tmp_path, body))
    (flash,) = s.promotions.flash
    assert (flash.hours, flash.stock, flash.phases, flash.category) == ((12,), 5, (), None)


def test_a_removed_item_leaves_its_references_dangling(tmp_path: Path) -> None:
    body = '[[promotions.coupons]]\nname = "wake_15"\nremove = true\n'
    line = only_error(variant(tmp_path, body))
    assert line.path == "promotions.messages[0].coupon"
    assert "unknown coupon 'wake_15'" in line.message
    assert Path(line.source).name == "smoke.toml"  # the base set the reference


def test_plain_arrays_replace_the_base(tmp_path: Path) -> None:
    body = (
        "[calendar]\nspikes = [{ hours = [12] }]\n"
        "[fulfilment]\n"
        'couriers = [{ region = "east", count = 1 }, { region = "west", count = 2 }]\n'
        '[[promotions.flash]]\nname = "phone"\nhours = [1]\n'
    )
    s = load_scenario(variant(tmp_path, body))
    assert [sp.hours for sp in s.calendar.spikes] == [(12,)]
    assert [c.count for c in s.fulfilment.couriers] == [1, 2]
    assert s.promotions.flash[0].hours == (1,)  # arrays of numbers replace too


def test_a_variant_of_a_variant(tmp_path: Path) -> None:
    mid = variant(tmp_path, "[campaign]\nseed = 8\nreplicates = 6\n", "mid.toml")
    top = variant(tmp_path, "[campaign]\nreplicates = 9\n", "top.toml", base=mid)
    s = load_scenario(top)
    assert (s.campaign.seed, s.campaign.replicates, s.campaign.name) == (8, 9, "Smoke test")


def test_bundled_variants_merge_as_documented() -> None:
    base = load_scenario(BASELINE)
    deep = load_scenario(SCENARIOS / "double11_deep_coupons.toml")
    cross = {c.name: c for c in deep.promotions.coupons}["cross_store_30"]
    assert (cross.face_value, cross.min_spend) == (60, 399)
    assert cross.per_shopper == 2  # untouched keys come from the baseline
    spend = {c.name: c.spend for c in deep.marketing.channels}
    assert spend["live_stream"] == 350_000_000
    assert spend["social"] == 250_000_000
    assert deep.population == base.population

    flash = load_scenario(SCENARIOS / "double11_flash_heavy.toml")
    assert [f.name for f in flash.promotions.flash] == [
        "hourly_phone",
        "one_yuan",
        "peak_every_two_hours",
    ]
    assert flash.promotions.flash[0].stock == 15_000
    assert flash.promotions.flash[0].hours == (0, 10, 20)
    assert not any(site.surge.enabled for site in flash.fulfilment.sites)
    assert [site.storage for site in flash.fulfilment.sites] == [
        site.storage for site in base.fulfilment.sites
    ]

    cut = load_scenario(SCENARIOS / "double11_price_cut.toml")
    assert not cut.promotions.threshold.enabled
    assert cut.promotions.threshold.tiers == base.promotions.threshold.tiers
    assert cut.promotions.price_cut.enabled
    assert cut.promotions.price_cut.rate == 0.12


# ---------------------------------------------------------------------------
# content hash
# ---------------------------------------------------------------------------


def test_content_hash_is_a_stable_sha256() -> None:
    h = content_hash(SMOKE_SCENARIO)
    assert len(h) == 64 and int(h, 16) >= 0
    assert content_hash(load_scenario(SMOKE)) == h


def test_a_variant_restating_the_base_hashes_equal(tmp_path: Path) -> None:
    body = (
        "[campaign]\nname = 'Smoke test'\nseed = 7.0\nstart = 2026-11-08\n"  # same values
        "[population]\nscale = 10.0\nshoppers = 20000\n"
        '[[population.segments]]\nname = "new"\nshare = 0.30\n'
        '[[promotions.flash]]\nname = "phone"\nstock = 200.0\nhours = [0, 10, 20]\n'
        "[calendar]\ndiurnal = 'ecommerce'\n"
        "[promotions.points]\nenabled = true\n"
    )
    s = load_scenario(variant(tmp_path, body))
    assert s == SMOKE_SCENARIO
    assert content_hash(s) == content_hash(SMOKE_SCENARIO)


def test_stating_a_default_hashes_equal() -> None:
    s = load_scenario(SMOKE, {"campaign.description": "", "promotions.scarcity.urgency": 0.4})
    assert content_hash(s) == content_hash(SMOKE_SCENARIO)


@pytest.mark.parametrize(
    "override",
    [
        "campaign.seed=8",
        "promotions.flash[0].stock=201",
        "population.segments[0].visit_rate=0.41",
        "calendar.phases[2].traffic=3.0000001",
        "promotions.points.enabled=false",
        "campaign.description=changed",
    ],
)
def test_changing_one_value_changes_the_hash(override: str) -> None:
    assert content_hash(load_scenario(SMOKE, [override])) != content_hash(SMOKE_SCENARIO)


def test_hash_depends_on_the_plan_not_on_the_files(tmp_path: Path) -> None:
    flat = tmp_path / "flat.toml"
    flat.write_text(to_toml(load_scenario(SCENARIOS / "double11_deep_coupons.toml")))
    assert content_hash(load_scenario(flat)) == content_hash(
        load_scenario(SCENARIOS / "double11_deep_coupons.toml")
    )


def test_bundled_scenarios_hash_differently() -> None:
    hashes = {content_hash(load_scenario(p)) for p in BUNDLED}
    assert len(hashes) == len(BUNDLED)


# ---------------------------------------------------------------------------
# bundled scenarios and the TOML round trip
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("path", BUNDLED, ids=lambda p: p.name)
def test_bundled_scenario_validates(path: Path) -> None:
    s = load_scenario(path)
    assert isinstance(s, Scenario)
    assert s.campaign.name


@pytest.mark.parametrize("path", BUNDLED, ids=lambda p: p.name)
def test_to_toml_round_trip(tmp_path: Path, path: Path) -> None:
    s = load_scenario(path)
    text = to_toml(s)
    out = tmp_path / "resolved.toml"
    out.write_text(text, encoding="utf-8")
    again = load_scenario(out)
    assert again == s
    assert content_hash(again) == content_hash(s)
    assert to_toml(again) == text
    assert "base" not in tomllib.loads(text)


def test_to_toml_leaves_out_unset_optionals() -> None:
    data = to_toml_dict(SMOKE_SCENARIO)
    assert "roi" not in data["campaign"]["targets"]
    assert "capacity_per_hour" not in data["fulfilment"]["sites"][0]["overflow"]
    assert data["campaign"]["targets"]["aov"] == 450


def test_round_trip_keeps_a_custom_diurnal_profile_and_datetimes(tmp_path: Path) -> None:
    weights = [0.5 + i / 10 for i in range(24)]
    s = load_scenario(
        SMOKE,
        {
            "calendar.diurnal": weights,
            "promotions.first_n[0].start": dt.datetime(2026, 11, 11, 0, 0, 0, 123456),
        },
    )
    out = tmp_path / "r.toml"
    out.write_text(to_toml(s))
    assert load_scenario(out) == s


def test_format_loc() -> None:
    assert format_loc(("a", "b", 0, "c", 1, 2)) == "a.b[0].c[1][2]"
    assert format_loc(()) == ""
    for key in ("promotions.flash[0].stock", "categories[1]", "campaign.targets.gmv"):
        assert format_loc(parse_path(key)) == key


def test_flash_heavy_keeps_the_baseline_spikes() -> None:
    # named spikes merge by name, so the variant adds its spike to the baseline's
    base = load_scenario(BASELINE)
    flash = load_scenario(SCENARIOS / "double11_flash_heavy.toml")
    assert set(base.calendar.spikes) <= set(flash.calendar.spikes)
