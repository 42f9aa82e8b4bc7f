"""Sweep designs: parameters, grids, space-filling and sensitivity designs, integer fields."""

from __future__ import annotations

import numpy as np
import pytest

from sim.scenario import load_scenario
from sim.scenario.loader import to_toml_dict
from sim.sweep.design import (
    Param,
    SweepError,
    field_kind,
    make_design,
    parse_param,
    point_label,
    resolve,
)


@pytest.fixture(scope="module")
def base(smoke_path):
    return to_toml_dict(load_scenario(smoke_path))


def test_parse_list_and_range():
    p = parse_param("promotions.member.rate=0.02, 0.05,0.08")
    assert p.values == (0.02, 0.05, 0.08) and not p.is_range
    r = parse_param("marketing.channels[search].spend=1e4:6e4")
    assert (r.low, r.high, r.is_range) == (1e4, 6e4, True)
    assert parse_param("promotions.member.enabled=true,false").values == (True, False)
    assert parse_param('campaign.name="a","b"').values == ("a", "b")
    assert parse_param(r.text()) == r


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("promotions.member.rate", "KEY=V1,V2"),
        ("promotions.member.rate=0.5:0.1", "LOW < HIGH"),
        ("promotions..rate=1", "cannot read the path"),
        ("a=1,1", "listed twice"),
        ("a=[1,2]", "TOML scalars"),
    ],
)
def test_parse_errors(text, says):
    with pytest.raises(SweepError, match=says):
        parse_param(text)


def test_field_kind(base):
    assert field_kind(base, "population.shoppers") == "int"
    assert field_kind(base, "promotions.member.rate") == "float"
    assert field_kind(base, "marketing.channels[search].spend") == "float"
    assert field_kind(base, "fulfilment.sites[hub].shifts[0].staff") == "int"
    assert field_kind(base, "promotions.member.enabled") == "bool"


def test_grid_is_the_full_product():
    d = make_design([Param("a", values=(1, 2, 3)), Param("b", low=0.0, high=1.0)], "grid", n=3)
    assert len(d.points) == 9
    assert [tuple(p.values()) for p in d.points][:3] == [(1, 0.0), (1, 0.5), (1, 1.0)]
    assert d.sample.shape == (9, 2)
    with pytest.raises(SweepError, match="needs --n"):
        make_design([Param("b", low=0.0, high=1.0)], "grid")


def test_integer_fields_get_integers(base):
    (p,) = resolve([parse_param("population.shoppers=1000.4:3000.7")], base)
    assert p.integer and (p.low, p.high) == (1001.0, 3000.0)
    for kind, n in (("grid", 4), ("lhs", 20), ("sobol-seq", 16), ("sobol", 4), ("morris", 3)):
        d = make_design([p, Param("x", low=0.0, high=1.0)], kind, n, seed=3)
        vals = [pt["population.shoppers"] for pt in d.points]
        assert all(type(v) is int and 1001 <= v <= 3000 for v in vals), kind
    with pytest.raises(SweepError, match="no integer"):
        resolve([parse_param("population.shoppers=1000.2:1000.8")], base)


def test_lhs_is_stratified_seeded_and_reproducible():
    ps = [Param("a", low=0.0, high=10.0), Param("b", low=-1.0, high=1.0)]
    d1 = make_design(ps, "lhs", 10, seed=1)
    d2 = make_design(ps, "lhs", 10, seed=1)
    d3 = make_design(ps, "lhs", 10, seed=2)
    np.testing.assert_array_equal(d1.sample, d2.sample)
    assert not np.array_equal(d1.sample, d3.sample)
    # one point in each tenth of each range
    assert sorted(np.floor(d1.sample[:, 0]).astype(int)) == list(range(10))
    assert sorted(np.floor((d1.sample[:, 1] + 1) * 5).astype(int)) == list(range(10))


def test_lists_are_categorical_in_space_filling_designs():
    d = make_design([Param("a", values=("x", "y")), Param("b", low=0, high=1)], "lhs", 8, seed=0)
    assert sorted(pt["a"] for pt in d.points) == ["x"] * 4 + ["y"] * 4
    with pytest.raises(SweepError, match="needs ranges"):
        make_design([Param("a", values=(1, 2))], "morris", 4)


def test_salib_designs_have_their_sizes():
    ps = [Param(k, low=0.0, high=1.0) for k in "abc"]
    assert len(make_design(ps, "sobol", 8).points) == 8 * (3 + 2)
    assert len(make_design(ps, "sobol", 8, second_order=True).points) == 8 * (2 * 3 + 2)
    assert len(make_design(ps, "morris", 5).points) == 5 * (3 + 1)
    with pytest.raises(SweepError, match="power of 2"):
        make_design(ps, "sobol", 6)
    np.testing.assert_array_equal(
        make_design(ps, "morris", 5, seed=9).sample, make_design(ps, "morris", 5, seed=9).sample
    )


def test_unknown_design_and_labels():
    with pytest.raises(SweepError, match="allowed: grid, lhs"):
        make_design([Param("a", values=(1,))], "factorial")
    assert point_label({"a.b": 1, "c": "x", "d": True}) == 'a.b=1, c="x", d=true'
