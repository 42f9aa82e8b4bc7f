"""Charts: each runs on saved smoke results and draws the expected axes, labels and series."""

from __future__ import annotations

from pathlib import Path

import matplotlib as mpl
import numpy as np
import pytest
import xarray as xr
from matplotlib.collections import PolyCollection, QuadMesh
from matplotlib.container import BarContainer
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from sim import plots
from sim.comparison import paired
from sim.metrics import kpis
from sim.results import load, save
from sim.runner import run

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def ds(tmp_path_factory: pytest.TempPathFactory) -> xr.Dataset:
    """Smoke results, run once, saved and loaded back (charts read saved results)."""
    path = tmp_path_factory.mktemp("plots") / "smoke.nc"
    save(run(ROOT / "scenarios" / "smoke.toml", replicates=4, shoppers=3000), path)
    return load(path)


@pytest.fixture(scope="module")
def cmp(ds: xr.Dataset) -> xr.Dataset:
    """A comparison of the smoke results with a copy whose GMV is 5% higher."""
    a = kpis(ds)
    b = a.copy(deep=True)
    b["gmv"] = b["gmv"] * 1.05
    b["profit"] = b["profit"] + 1e5 * np.arange(b.sizes["replicate"])
    out = xr.concat([a, b], "scenario", combine_attrs="drop_conflicts")
    out = out.assign_coords(scenario=["base", "variant"])
    out["paired"] = paired(out)
    out.attrs["currency"] = "CNY"
    return out


def texts(fig: Figure) -> str:
    """Every piece of text in a figure (titles, labels, ticks, legends, annotations)."""
    fig.canvas.draw() if hasattr(fig.canvas, "draw") else None
    return "\n".join(t.get_text() for t in fig.findobj(mpl.text.Text))


def test_style_is_not_changed_by_import_or_charts(ds: xr.Dataset) -> None:
    before = dict(mpl.rcParams)
    plots.fan_chart(ds)
    assert dict(mpl.rcParams) == before


def test_fan_chart(ds: xr.Dataset) -> None:
    fig = plots.fan_chart(ds)
    (ax,) = fig.axes
    labels = [line.get_label() for line in ax.get_lines()]
    assert "median (P50)" in labels
    assert any(lab.startswith("target") for lab in labels)
    bands = [c for c in ax.collections if isinstance(c, PolyCollection)]
    assert len(bands) == 1
    assert ax.get_ylabel() == "cumulative GMV (CNY)"
    assert "local time" in ax.get_xlabel()
    t = texts(fig)
    assert "P(reach target)" in t and "100 m" in t  # the smoke target, compact units
    # the median starts at 0 and ends at the mean GMV's order of magnitude
    y = next(line for line in ax.get_lines() if line.get_label() == "median (P50)").get_ydata()
    assert y[0] == 0 and y[-1] == pytest.approx(float(kpis(ds)["gmv"].median()), rel=1e-9)


def test_capacity_chart(ds: xr.Dataset) -> None:
    fig = plots.capacity_chart(ds)
    ax, ax2 = fig.axes
    assert ax.get_ylabel() == "orders per hour"
    assert ax2.get_ylabel() == "orders waiting to be picked"
    assert len(ax.get_lines()) == 2  # orders (median), capacity
    assert len(ax2.get_lines()) == 1  # backlog
    t0, t1 = ax.get_xlim()
    assert t1 - t0 == pytest.approx(5.0)  # the peak day +/- 2 days, in days
    leg = fig.legends[0]
    assert [x.get_text() for x in leg.get_texts()] == [
        "orders P10-P90", "orders arriving (median)", "picking capacity (all sites)",
        "backlog (right axis)",
    ]  # fmt: skip


def test_capacity_chart_window_and_errors(ds: xr.Dataset) -> None:
    fig = plots.capacity_chart(ds, window=("2026-11-11", "2026-11-12"))
    t0, t1 = fig.axes[0].get_xlim()
    assert t1 - t0 == pytest.approx(1.0)
    with pytest.raises(ValueError, match="not before"):
        plots.capacity_chart(ds, window=("2026-11-12", "2026-11-11"))
    with pytest.raises(ValueError, match="fulfilment_arrivals"):
        plots.capacity_chart(ds.drop_vars("fulfilment_arrivals"))


def test_promise_chart(ds: xr.Dataset) -> None:
    """Quoted against delivered by order hour: the delivered line is the orders' mean
    delivery time, the quoted one the quote made the hour before, region-weighted."""
    fig = plots.promise_chart(ds, window=("2026-11-10", "2026-11-12"))
    (ax,) = fig.axes
    lines = {line.get_label(): line for line in ax.get_lines()}
    assert set(lines) == {
        "delivered (mean of the hour's orders)", "quoted at checkout", "promise limit 36 h",
    }  # fmt: skip
    assert ax.get_ylabel() == "hours from order to door"
    t = ds["ftime"].values
    pos = np.flatnonzero((t >= np.datetime64("2026-11-10")) & (t < np.datetime64("2026-11-12")))
    n = ds["fulfilment_delivered_by_order_hour"].sum("region")
    got = ds["fulfilment_delivery_hours_by_order_hour"].sum("region") / n
    want = got.isel(ftime=pos).median("replicate").values
    y = lines["delivered (mean of the hour's orders)"].get_ydata()[:-1]
    np.testing.assert_allclose(y, want, rtol=1e-12)
    o = ds["fulfilment_orders_in"]
    seen = (ds["fulfilment_promise"].shift(ftime=1) * o).sum("region") / o.sum("region")
    want = seen.isel(ftime=pos).median("replicate").values
    np.testing.assert_allclose(lines["quoted at checkout"].get_ydata()[:-1], want, rtol=1e-12)
    with pytest.raises(ValueError, match="no hours"):
        plots.promise_chart(ds, window=("2030-01-01", "2030-01-02"))


def test_waterfall_adds_up(ds: xr.Dataset) -> None:
    steps = plots.waterfall_steps(ds)
    level = 0.0
    for label, v, kind in steps:
        if kind == "total":
            assert v == pytest.approx(level, rel=1e-9) or label.startswith("GMV")
            level = v
        else:
            level += v
    k = kpis(ds)
    net = dict((s[0], s[1]) for s in steps)["net revenue"]
    assert net == pytest.approx(float(k["net_revenue"].mean()), rel=1e-9)
    fig = plots.subsidy_waterfall(ds)
    (ax,) = fig.axes
    bars = [p for p in ax.patches if isinstance(p, Rectangle)]
    assert len(bars) == len(steps)
    assert [t.get_text() for t in ax.get_yticklabels()] == [s[0] for s in steps]
    assert ax.get_xlabel().startswith("CNY")


def test_kpi_distributions(ds: xr.Dataset) -> None:
    fig = plots.kpi_distributions(ds)
    assert len(fig.axes) == 2
    prof, roi = fig.axes
    assert prof.get_xlabel() == "Profit (CNY)"
    assert roi.get_xlabel().startswith("ROI")
    assert all(len(ax.patches) >= 5 for ax in fig.axes)  # histogram bins
    assert "P(GMV target reached) = 100%" in texts(fig)
    # also from KPIs directly
    fig2 = plots.kpi_distributions(kpis(ds), names=("gmv",))
    assert len(fig2.axes) == 1


def test_delivery_chart(ds: xr.Dataset) -> None:
    fig = plots.delivery_chart(ds)
    hist, region = fig.axes
    assert hist.get_xlabel() == "hours from order to door"
    assert region.get_xlabel().startswith("delivered within 36 h")
    assert [t.get_text() for t in region.get_yticklabels()] == ["east", "west"]
    assert len(region.patches) == 2
    assert "promise 36 h" in [line.get_label() for line in hist.get_lines()]
    assert "target" not in texts(fig) or "target 95%" in texts(fig)


def test_comparison_chart(cmp: xr.Dataset) -> None:
    fig = plots.comparison_chart(cmp, kpis=["gmv", "profit", "roi"])
    (ax,) = fig.axes
    assert [t.get_text() for t in ax.get_yticklabels()] == ["GMV", "Profit", "ROI (sales / cost)"]
    assert ax.get_xlabel() == "difference relative to base"
    t = texts(fig)
    assert "+5.0%" in t  # GMV +5%, significant (filled marker)
    assert "variant" in t and "significant (p < 0.05)" in t
    units = plots.comparison_chart(cmp, kpis=["gmv", "profit"], relative=False)
    assert sum(ax.get_visible() for ax in units.axes) == 2
    assert "GMV (CNY)" in texts(units)
    with pytest.raises(ValueError, match="unknown KPIs"):
        plots.comparison_chart(cmp, kpis=["nope"])


def test_tornado_chart() -> None:
    params = ["a", "b", "c", "d"]
    one = xr.DataArray([0.1, 0.5, 0.05, 0.3], dims="parameter", coords={"parameter": params})
    fig = plots.tornado_chart(one.rename("mu_star"))
    (ax,) = fig.axes
    assert [t.get_text() for t in ax.get_yticklabels()] == ["b", "d", "a", "c"]  # largest on top
    assert len(ax.containers) == 1
    two = xr.DataArray(
        np.array([[0.1, 0.2], [0.4, 0.6], [0.0, 0.05], [0.3, 0.3]]),
        dims=("parameter", "index"), coords={"parameter": params, "index": ["S1", "ST"]},
        attrs={"long_name": "GMV"},
    )  # fmt: skip
    fig = plots.tornado_chart(two, conf=xr.full_like(two, 0.02), top=3)
    (ax,) = fig.axes
    assert [t.get_text() for t in ax.get_yticklabels()] == ["b", "d", "a"]
    assert sum(isinstance(c, BarContainer) for c in ax.containers) == 2
    assert "GMV" in texts(fig)
    with pytest.raises(ValueError, match="parameter"):
        plots.tornado_chart(two.rename(parameter="p"))


def test_response_heatmap() -> None:
    x = np.array([1.0, 2.0, 3.0])
    y = np.array([10.0, 20.0])
    z = xr.DataArray(
        np.array([[[1, 2, 3], [4, 5, 6]], [[1, 2, 3], [4, 5, 8]]], float) * 1e6,
        dims=("replicate", "depth", "spend"),
        coords={"depth": ("depth", y, {"units": "CNY"}), "spend": x},
        attrs={"long_name": "Profit", "units": "CNY"},
    )
    fig = plots.response_heatmap(z)
    ax = fig.axes[0]
    assert len(fig.axes) == 2  # the heatmap and its colour bar
    assert any(isinstance(c, QuadMesh) for c in ax.collections)
    assert ax.get_ylabel() == "depth (CNY)" and ax.get_xlabel() == "spend"
    t = texts(fig)
    assert "7 m" in t  # mean over replicates of the best cell, compact
    assert "Profit (CNY)" in t
    with pytest.raises(ValueError, match="two parameters"):
        plots.response_heatmap(z.isel(spend=0))


def test_render_all(ds: xr.Dataset, tmp_path: Path) -> None:
    paths = plots.render_all(ds, tmp_path, prefix="smoke_")
    assert {p.name for p in paths} == {f"smoke_{n}.png" for n in plots.CHARTS}
    assert all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in paths)
    # results saved before the promise chart existed: every chart but that one
    old = ds.drop_vars(
        ["fulfilment_delivered_by_order_hour", "fulfilment_delivery_hours_by_order_hour"]
    )
    paths = plots.render_all(old, tmp_path / "old")
    assert {p.stem for p in paths} == set(plots.CHARTS) - {"promise"}


def test_compact() -> None:
    assert plots.compact(30e9) == "30 bn"
    assert plots.compact(1.25e6) == "1.25 m"
    assert plots.compact(950) == "950"
    assert plots.compact(-2.5e9) == "-2.5 bn"
    assert plots.compact(0) == "0"
