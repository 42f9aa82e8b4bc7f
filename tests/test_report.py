"""The proposal report: every section, valid HTML, the comparison, CLI errors exit 2."""

from __future__ import annotations

import shutil
from html.parser import HTMLParser
from pathlib import Path

import pytest
import xarray as xr
from typer.testing import CliRunner

from sim.cli import app
from sim.report import ReportError, build_report, comparison, diff_fmt, write_report
from sim.results import save
from sim.runner import run

ROOT = Path(__file__).resolve().parent.parent
VOID = {"meta", "img", "br", "hr", "link", "input", "col", "source", "wbr"}


class Checker(HTMLParser):
    """Checks that every element is closed in order; collects ids and image sources."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.ids: set[str] = set()
        self.images: list[str] = []
        self.errors: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if a.get("id"):
            self.ids.add(str(a["id"]))
        if tag == "img":
            self.images.append(str(a.get("src")))
        if tag not in VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes <{self.stack[-1] if self.stack else None}>")
        else:
            self.stack.pop()


def parse(page: str) -> Checker:
    c = Checker()
    c.feed(page)
    c.close()
    assert not c.errors, c.errors[:5]
    assert c.stack == [], c.stack
    return c


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Smoke results: a plan, a variant with the same seed, one with another seed."""
    d = tmp_path_factory.mktemp("report")
    smoke = ROOT / "scenarios" / "smoke.toml"
    out = {}
    out["a"] = save(run(smoke, replicates=4, shoppers=2000), d / "a.nc")
    from sim.scenario import load_scenario

    variant = load_scenario(smoke, ["promotions.threshold.tiers[0].off=70",
                                    "campaign.name=Smoke deeper"])  # fmt: skip
    out["b"] = save(run(variant, replicates=4, shoppers=2000), d / "b.nc")
    out["c"] = save(run(smoke, replicates=3, shoppers=2000, seed=99), d / "c.nc")
    return out


def test_single_report_sections(files: dict[str, Path]) -> None:
    from sim.results import load

    page, warnings = build_report([load(files["a"])])
    c = parse(page)
    assert warnings == []
    assert {"headline", "charts", "assumptions"} <= c.ids
    assert "comparison" not in c.ids
    charts = ("gmv_fan", "kpi_distributions", "subsidy_waterfall", "capacity", "delivery",
              "promise")  # fmt: skip
    for chart in charts:
        assert f"chart-{chart}" in c.ids
    assert len(c.images) == len(charts) and all(
        s.startswith("data:image/png;base64,") for s in c.images
    )
    for text in ("P(GMV target reached)", "95% CI", "P10-P90", "Calendar", "Mechanics",
                 "Budget: 500 k CNY", "Capacity (delivery promise 36 h)", "threshold"):  # fmt: skip
        assert text in page
    assert "http://" not in page and "https://" not in page  # self-contained


def test_comparison_report(files: dict[str, Path]) -> None:
    from sim.results import load

    a, b = load(files["a"]), load(files["b"])
    page, warnings = build_report([a, b])
    c = parse(page)
    assert warnings == []
    assert {"headline", "comparison", "charts", "assumptions", "chart-comparison"} <= c.ids
    assert "Smoke deeper vs Smoke test" in page
    assert "promotions.threshold.tiers" in page  # what the plan changes
    cmp, _ = comparison([a, b], ["a", "b"])
    assert cmp.sizes == {"scenario": 2, "replicate": 4, "kpi": cmp.sizes["kpi"],
                         "stat": 7}  # fmt: skip
    # paired by replicate: the same numbers as subtracting the KPIs replicate by replicate
    from sim.metrics import kpis

    d = (kpis(b)["gmv"] - kpis(a)["gmv"]).mean()
    assert float(cmp["paired"].sel(scenario="b", kpi="gmv", stat="diff")) == pytest.approx(
        float(d), rel=1e-12
    )


def test_comparison_warns_on_seed_and_replicates(files: dict[str, Path]) -> None:
    from sim.results import load

    a, c = load(files["a"]), load(files["c"])
    cmp, warnings = comparison([a, c], ["a", "c"])
    assert any("same seed" in w for w in warnings)
    assert any("3 replicates common" in w for w in warnings)
    assert cmp.sizes["replicate"] == 3
    with pytest.raises(ReportError, match="no replicate"):
        comparison([a, c.sel(replicate=[]).assign_coords(replicate=[])], ["a", "c"])


def test_diff_fmt() -> None:
    assert diff_fmt(0.012, "%", "CNY", 0.8, signed=True) == "+1.2 pp"  # a share
    assert diff_fmt(-0.152, "1", "CNY", 4.5) == "-0.152"
    assert diff_fmt(3.18e6, "1", "CNY", 4e7, signed=True) == "+3.18 m"
    assert diff_fmt(-2.5e9, "CNY", "CNY", 3e10) == "-2.5 bn"


def test_cli_report(files: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "proposal.html"
    res = CliRunner().invoke(app, ["report", str(files["a"]), str(files["c"]), "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert out.is_file() and "same seed" in res.output  # the warning, on stderr
    parse(out.read_text(encoding="utf-8"))
    assert [p.name for p in tmp_path.iterdir()] == ["proposal.html"]  # no temporary left


@pytest.mark.parametrize(
    "args, message",
    [
        (["missing.nc"], "no such file"),
        (["junk.nc"], "cannot read results"),
        (["foreign.nc"], "not promosim results"),
        (["a", "--out", "nofolder/x.html"], "cannot write here"),
        (["a", "--name", "x", "--name", "y"], "--name given 2 times"),
    ],
)
def test_cli_report_errors(
    files: dict[str, Path], tmp_path: Path, args: list[str], message: str
) -> None:
    (tmp_path / "junk.nc").write_text("not netcdf")
    xr.Dataset({"x": ("t", [1.0])}).to_netcdf(tmp_path / "foreign.nc")
    argv = [str(files["a"]) if a == "a" else a for a in args]
    argv = [str(tmp_path / a) if a.endswith(".nc") else a for a in argv]
    if "--out" not in argv:
        argv += ["--out", str(tmp_path / "out.html")]
    else:
        argv[argv.index("--out") + 1] = str(tmp_path / argv[argv.index("--out") + 1])
    res = CliRunner().invoke(app, ["report", *argv])
    assert res.exit_code == 2
    assert message in res.output and "nothing was written" in res.output
    assert not (tmp_path / "out.html").exists()


def test_pdf_without_chromium(files: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(ReportError, match="needs Chromium"):
        write_report([files["a"]], tmp_path / "x.html", pdf=tmp_path / "x.pdf",
                     chromium="/nonexistent/chromium")  # fmt: skip
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("/usr/bin/chromium") is None, reason="needs /usr/bin/chromium")
def test_pdf(files: dict[str, Path], tmp_path: Path) -> None:
    write_report([files["a"]], tmp_path / "x.html", pdf=tmp_path / "x.pdf")
    assert (tmp_path / "x.pdf").read_bytes()[:5] == b"%PDF-"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.html", "x.pdf"]
