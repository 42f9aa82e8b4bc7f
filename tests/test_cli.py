"""The command line: exit codes, messages, nothing written on error."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sim.cli import app
from sim.scenario.reference import reference_markdown

ROOT = Path(__file__).resolve().parent.parent
runner = CliRunner()


def test_version():
    r = runner.invoke(app, ["--version"])
    assert r.exit_code == 0 and r.stdout.startswith("promosim ")


def test_validate_bundled_scenarios():
    files = sorted(str(p) for p in (ROOT / "scenarios").glob("*.toml"))
    assert len(files) >= 4
    r = runner.invoke(app, ["validate", *files])
    assert r.exit_code == 0, r.output
    assert r.stdout.count("ok: ") == len(files)


def test_validate_reports_every_file_and_exits_2(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text(f'base = "{ROOT / "scenarios" / "smoke.toml"}"\n[population]\nshoppers = -1\n')
    broken = tmp_path / "broken.toml"
    broken.write_text("[campaign\nname = 1\n")
    r = runner.invoke(app, ["validate", str(bad), str(broken), str(tmp_path / "missing.toml")])
    assert r.exit_code == 2
    err = r.stderr
    assert "bad.toml: population.shoppers:" in err
    assert "broken.toml: not valid TOML" in err
    assert "missing.toml: file not found" in err
    assert "Traceback" not in r.output + err


def test_show_summary(smoke_path):
    r = runner.invoke(app, ["show", str(smoke_path), "--set", "campaign.name=Renamed"])
    assert r.exit_code == 0, r.output
    for word in ("Renamed", "Calendar", "Mechanics", "threshold", "Budget", "Capacity"):
        assert word in r.stdout


def test_show_bad_override_exits_2(smoke_path):
    r = runner.invoke(app, ["show", str(smoke_path), "--set", "promotions.flash[phone].stock=-3"])
    assert r.exit_code == 2
    assert "--set: promotions.flash[0].stock" in r.stderr


def test_keys_writes_atomically(tmp_path):
    out = tmp_path / "ref.md"
    r = runner.invoke(app, ["keys", "--out", str(out)])
    assert r.exit_code == 0
    assert out.read_text() == reference_markdown()
    assert list(tmp_path.iterdir()) == [out]


def test_committed_reference_is_current():
    committed = (ROOT / "docs" / "scenario-reference.md").read_text()
    assert committed == reference_markdown(), "run `make reference` to regenerate the key reference"


def test_reference_lists_every_key():
    text = reference_markdown()
    for key in ("`deposit_value`", "`price_cut`", "`limit_per_shopper`", "`half_saturation`"):
        assert key in text


def test_console_script_exit_code_without_traceback(tmp_path):
    bad = tmp_path / "x.toml"
    bad.write_text("campaign = 3\n")
    exe = Path(sys.executable).parent / "promosim"
    r = subprocess.run([str(exe), "validate", str(bad)], capture_output=True, text=True)
    assert r.returncode == 2
    assert "Traceback" not in r.stderr and "x.toml" in r.stderr


@pytest.mark.parametrize("args", [["validate"], ["show"], ["nonsense"]])
def test_usage_errors_exit_2(args):
    assert runner.invoke(app, args).exit_code == 2


def test_every_toml_example_in_the_readme_validates(tmp_path):
    """The README's scenario examples are complete, valid plans (docs that cannot rot)."""
    import re

    from sim import compile_plan, load_scenario

    text = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```toml\n(.*?)```", text, re.S)
    full = [b for b in blocks if "[campaign]" in b]
    assert full, "the README should show a complete scenario"
    for k, block in enumerate(full):
        path = tmp_path / f"example{k}.toml"
        path.write_text(block)
        compile_plan(load_scenario(path))
        r = runner.invoke(app, ["show", str(path)])
        assert r.exit_code == 0, r.output


def test_interrupt_exits_130_without_traceback(baseline_path):
    import signal
    import time

    exe = Path(sys.executable).parent / "promosim"
    # compile (or load) the kernels first, so that the interrupt lands in the run, not in
    # numba's compiler (a fresh cache in CI takes longer than the wait below)
    warm = [str(exe), "simulate", str(baseline_path), "--threads", "1", "--shoppers", "2000"]
    subprocess.run(warm, check=True, capture_output=True, timeout=900)
    # the baseline at 10 M shoppers runs for half a minute or more on one thread
    p = subprocess.Popen(
        [str(exe), "simulate", str(baseline_path), "--threads", "1", "--shoppers", "10000000"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(8)
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=120)
    assert p.returncode == 130, err
    assert "Traceback" not in err


def test_interrupts_are_held_until_the_block_is_done():
    """What saving results runs in: a Ctrl-C in the middle neither stops it nor is lost."""
    import os
    import signal

    from sim.cli import interrupts_held

    done = []
    with pytest.raises(KeyboardInterrupt), interrupts_held():
        os.kill(os.getpid(), signal.SIGINT)
        done.append(1)  # still running after the signal
    assert done == [1]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_sigterm_saves_the_finished_replicates(smoke_path, tmp_path):
    """A scheduler's or `timeout`'s SIGTERM stops a run as Ctrl-C does: the replicates
    finished so far are saved, and the command says so (it used to die silently, with
    nothing saved)."""
    import signal
    import time

    import xarray as xr

    exe = Path(sys.executable).parent / "promosim"
    warm = [str(exe), "run", str(smoke_path), "--replicates", "1", "--shoppers", "2000"]
    subprocess.run(warm, check=True, capture_output=True, timeout=900)
    out = tmp_path / "r.nc"
    args = [str(exe), "run", str(smoke_path), "--replicates", "2000", "--shoppers", "20000"]
    p = subprocess.Popen([*args, "--out", str(out)], stderr=subprocess.PIPE, text=True)
    time.sleep(10)
    p.send_signal(signal.SIGTERM)
    _, err = p.communicate(timeout=300)
    assert p.returncode == 130, err
    assert "Traceback" not in err and "finished replicates saved to" in err
    with xr.open_dataset(out) as ds:
        assert ds.sizes["replicate"] >= 1 and ds.attrs["complete"] == 0


def test_outputs_that_would_replace_an_input_are_refused(smoke_path, tmp_path):
    import shutil

    scen = tmp_path / "plan.toml"
    shutil.copy(smoke_path, scen)
    r = runner.invoke(app, ["run", str(scen), "--out", str(scen), "--shoppers", "1000"])
    assert r.exit_code == 2 and "is an input of this command" in r.output
    assert scen.read_text() == smoke_path.read_text()
    r = runner.invoke(app, ["keys", "--out", str(tmp_path)])
    assert r.exit_code == 2 and "cannot write" in r.output


def test_comparison_files_and_currencies(smoke_path, tmp_path):
    """`kpis` on a saved comparison prints its paired table (it was a KeyError); `report`
    says to give each plan's results; plans in two currencies are not compared."""
    cmp = tmp_path / "cmp.nc"
    base = ["--replicates", "2", "--shoppers", "2000"]
    r = runner.invoke(app, ["compare", str(smoke_path), str(smoke_path), *base, "--out", str(cmp)])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["kpis", str(cmp)])
    assert r.exit_code == 0 and "paired replicates" in r.output, r.output
    r = runner.invoke(app, ["report", str(cmp), "--out", str(tmp_path / "r.html")])
    assert r.exit_code == 2 and "a comparison" in r.output
    assert not (tmp_path / "r.html").exists()
    usd = tmp_path / "usd.toml"
    usd.write_text(smoke_path.read_text().replace('currency = "CNY"', 'currency = "USD"'))
    r = runner.invoke(app, ["compare", str(smoke_path), str(usd), *base])
    assert r.exit_code == 2 and "different currencies" in r.output


@pytest.mark.parametrize(
    "args",
    [
        ["run", "--shoppers", "100000000000"],
        ["simulate", "--threads", "0"],
    ],
)
def test_sizes_beyond_the_limits_are_usage_errors(smoke_path, args):
    r = runner.invoke(app, [args[0], str(smoke_path), *args[1:]])
    assert r.exit_code == 2, r.output
