"""The sweep store: a Zarr v3 group written point by point, safe to resume.

Layout (dimensions ``point``, ``replicate``, ``kpi``, ``parameter``, ``time``)::

    kpis            (point, replicate, kpi)   float64, one chunk per point
    gmv_hourly      (point, replicate, time)  float64, one chunk per point  (--hourly)
    orders_hourly   (point, replicate, time)  float64, one chunk per point  (--hourly)
    error           (point,)                  string: "" or why the point has no results
    status          (point,)                  int8: 0 pending, 1 ok, 2 invalid, 3 failed
    done            (point,)                  uint8: 1 once the point's region is written
    param_value     (point, parameter)        float64 (NaN for a non-numeric value)
    param_label     (point, parameter)        string: the value as TOML
    design_sample   (point, parameter)        float64: what the design drew (SALib reads it)
    point, replicate, kpi, kpi_units, kpi_long_name, parameter, time   coordinates

The attrs hold the sweep specification as canonical JSON (``spec``) and its
SHA-256 (``spec_sha256``), the base scenario (TOML, hash), seed and version.

Zarr (3.1.3 and later) writes each chunk file atomically but has no locking, so:
the store is created whole in a temporary folder and renamed into place; each
point is written only by the driver, into its own chunks; ``done`` is written
last; resuming reads ``done`` (a missing chunk is not proof of anything: all-fill
chunks are not stored) and refuses a store whose specification differs. A lock
file next to the store (``STORE.lock``) keeps two drivers off one store.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import socket
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from sim.sweep.design import SweepError

FORMAT = 1
PENDING, OK, INVALID, FAILED = 0, 1, 2, 3
STATUS_NAMES = {PENDING: "pending", OK: "ok", INVALID: "invalid", FAILED: "failed"}
HOURLY = {"gmv_hourly": "GMV per hour", "orders_hourly": "Paid orders per hour"}


def canonical(spec: dict[str, Any]) -> str:
    """Canonical JSON of a specification (sorted keys, no spaces)."""
    return json.dumps(spec, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def spec_sha256(spec: dict[str, Any]) -> str:
    """SHA-256 of the canonical JSON of a specification."""
    return hashlib.sha256(canonical(spec).encode()).hexdigest()


def _open_group(path: Path, mode: str = "r+") -> Any:
    import zarr

    return zarr.open_group(str(path), mode=mode, zarr_format=3)  # type: ignore[arg-type]


def create(
    path: Path,
    spec: dict[str, Any],
    attrs: dict[str, Any],
    *,
    replicates: Sequence[int],
    kpis: Sequence[tuple[str, str, str]],
    parameters: Sequence[str],
    param_value: np.ndarray,
    param_label: np.ndarray,
    design_sample: np.ndarray,
    invalid: dict[int, str],
    times: np.ndarray | None = None,
) -> None:
    """Create the store whole (temporary folder, then rename); invalid points are done already.

    Parameters
    ----------
    path
        The store folder (must not exist).
    spec
        The sweep specification; its canonical JSON and SHA-256 go in the attrs.
    attrs
        More attrs (scenario, seed, version ...).
    replicates
        Replicate numbers (the same for every point).
    kpis
        ``(name, units, long_name)`` of each KPI.
    parameters
        Parameter keys.
    param_value, param_label, design_sample
        ``(points, parameters)`` arrays.
    invalid
        ``{point: validation message}``.
    times
        Local times of the hourly series (datetime64), or None for no hourly series.
    """
    import zarr

    n, p = param_value.shape
    r, k = len(replicates), len(kpis)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        g = zarr.open_group(
            str(tmp),
            mode="w",
            zarr_format=3,
            attributes={
                **attrs,
                "promosim_sweep": FORMAT,
                "spec": canonical(spec),
                "spec_sha256": spec_sha256(spec),
            },
        )

        def arr(name: str, data: Any, dims: tuple[str, ...], **kw: Any) -> Any:
            a = g.create_array(name, dimension_names=dims, **kw)
            if data is not None:
                a[...] = data
            return a

        arr(
            "point",
            np.arange(n, dtype=np.int64),
            ("point",),
            shape=(n,),
            dtype="i8",
            attributes={"long_name": "sweep point"},
        )
        arr(
            "replicate",
            np.asarray(replicates, np.int64),
            ("replicate",),
            shape=(r,),
            dtype="i8",
            attributes={"long_name": "replicate (the same numbers at every point)"},
        )
        for name, col in (("kpi", 0), ("kpi_units", 1), ("kpi_long_name", 2)):
            arr(name, np.array([x[col] for x in kpis], dtype=str), ("kpi",), shape=(k,), dtype=str)
        arr(
            "parameter",
            np.array(parameters, dtype=str),
            ("parameter",),
            shape=(p,),
            dtype=str,
            attributes={"long_name": "swept scenario field (dotted path)"},
        )
        arr(
            "param_value",
            param_value,
            ("point", "parameter"),
            shape=(n, p),
            dtype="f8",
            fill_value=np.nan,
            attributes={"long_name": "parameter value at the point"},
        )
        arr(
            "param_label",
            param_label,
            ("point", "parameter"),
            shape=(n, p),
            dtype=str,
            attributes={"long_name": "parameter value at the point, as TOML"},
        )
        arr(
            "design_sample",
            design_sample,
            ("point", "parameter"),
            shape=(n, p),
            dtype="f8",
            fill_value=np.nan,
            attributes={"long_name": "the design's sample (before rounding; list index)"},
        )
        arr(
            "kpis",
            None,
            ("point", "replicate", "kpi"),
            shape=(n, r, k),
            chunks=(1, r, k),
            dtype="f8",
            fill_value=np.nan,
            attributes={"long_name": "KPI per point and replicate (sim.kpis)"},
        )
        if times is not None:
            t0 = times[0]
            hours = ((times - t0) // np.timedelta64(1, "h")).astype(np.int64)
            arr(
                "time",
                hours,
                ("time",),
                shape=(len(hours),),
                dtype="i8",
                attributes={
                    "units": f"hours since {np.datetime_as_string(t0, unit='s')}",
                    "calendar": "proleptic_gregorian",
                    "long_name": "local time (start of the hour)",
                },
            )
            for name, long in HOURLY.items():
                arr(
                    name,
                    None,
                    ("point", "replicate", "time"),
                    shape=(n, r, len(hours)),
                    chunks=(1, r, len(hours)),
                    dtype="f8",
                    fill_value=np.nan,
                    attributes={
                        "long_name": long,
                        "units": attrs.get("currency", "") if name == "gmv_hourly" else "1",
                    },
                )
        err = arr(
            "error",
            None,
            ("point",),
            shape=(n,),
            chunks=(1,),
            dtype=str,
            attributes={"long_name": "why the point has no results ('' if it has)"},
        )
        status = arr(
            "status",
            None,
            ("point",),
            shape=(n,),
            chunks=(1,),
            dtype="i1",
            fill_value=PENDING,
            attributes={"long_name": "0 pending, 1 ok, 2 invalid, 3 failed"},
        )
        done = arr(
            "done",
            None,
            ("point",),
            shape=(n,),
            chunks=(1,),
            dtype="u1",
            fill_value=0,
            attributes={"long_name": "1 once the point is written (written last)"},
        )
        for i, msg in invalid.items():
            err[i] = msg
            status[i] = INVALID
            done[i] = 1
        os.replace(tmp, path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def read_spec(path: Path) -> tuple[dict[str, Any], str]:
    """The specification stored in a sweep store, and its SHA-256."""
    try:
        g = _open_group(path, mode="r")
    except Exception as exc:  # zarr raises several kinds for "not a group"
        raise SweepError([f"{path}: not a sweep store ({type(exc).__name__}: {exc})"]) from None
    a = dict(g.attrs)
    if a.get("promosim_sweep") != FORMAT or "spec" not in a:
        raise SweepError([f"{path}: a Zarr store, but not a promosim sweep store"])
    return json.loads(a["spec"]), str(a["spec_sha256"])


def read_attrs(path: Path) -> dict[str, Any]:
    """The attrs of a sweep store (its scenario, seed, code version ...)."""
    read_spec(path)
    return dict(_open_group(path, mode="r").attrs)


def same_grid(old: dict[str, Any], new: dict[str, Any]) -> bool:
    """Two grid specifications that differ only in their design options but have the
    same points are the same sweep: a grid of lists alone records the ``--n`` it was
    given although ``--n`` only spaces ranges, so a rerun with another ``--n`` (or
    none) is the same sweep."""
    if old.get("design") != "grid" or new.get("design") != "grid":
        return False
    if "points_sha256" not in old or old.get("points_sha256") != new.get("points_sha256"):
        return False
    rest = set(old) | set(new)
    rest.discard("design_options")
    return all(canonical({"v": old.get(k)}) == canonical({"v": new.get(k)}) for k in rest)


def check_spec(path: Path, spec: dict[str, Any]) -> None:
    """Refuse to resume into a store holding a different sweep (say what differs)."""
    old, sha = read_spec(path)
    if sha == spec_sha256(spec) and canonical(old) == canonical(spec):
        return
    if same_grid(old, spec):
        return
    diffs = [
        f"  {k}: store has {json.dumps(old.get(k))[:120]}, "
        f"this sweep {json.dumps(spec.get(k))[:120]}"
        for k in sorted(set(old) | set(spec))
        if canonical({"v": old.get(k)}) != canonical({"v": spec.get(k)})
    ]
    raise SweepError(
        [
            f"{path} holds a different sweep (spec sha256 {sha[:12]}, this one "
            f"{spec_sha256(spec)[:12]}); use another --store, or delete it to start over:",
            *diffs,
        ]
    )


def status(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(done, status, error)`` arrays of a store, read from the flags (not from chunks).
    Raises SweepError if ``path`` is not a promosim sweep store."""
    read_spec(path)
    g = _open_group(path, mode="r")
    return (
        np.asarray(g["done"][...]).astype(bool),
        np.asarray(g["status"][...]),
        np.asarray(g["error"][...]).astype(object),
    )


class Writer:
    """Writes finished points into an open store (from the driver only)."""

    def __init__(self, path: Path) -> None:
        self.group = _open_group(path)
        self.arrays = {
            name: self.group[name]
            for name in ("kpis", *HOURLY, "error", "status", "done")
            if name in self.group
        }

    def write(self, i: int, result: dict[str, Any]) -> None:
        """Write point ``i``: its KPIs (and hourly series), error, status; ``done`` last."""
        a = self.arrays
        if result.get("kpis") is not None:
            a["kpis"][i] = result["kpis"]
            for name in HOURLY:
                if name in a and result.get(name) is not None:
                    a[name][i] = result[name]
        a["error"][i] = result.get("error", "")
        a["status"][i] = result.get("status", OK)
        a["done"][i] = 1

    def reset(self, points: Sequence[int]) -> None:
        """Mark points pending again (to recompute failed points): ``done`` cleared first."""
        for i in points:
            self.arrays["done"][i] = 0
            self.arrays["status"][i] = PENDING
            self.arrays["error"][i] = ""


def open_sweep(path: str | os.PathLike[str]) -> xr.Dataset:
    """A sweep store as an xarray Dataset (loaded into memory; strings as Python ``str``).

    ``kpis`` has dims ``(point, replicate, kpi)``; each parameter is also a coordinate
    along ``point`` (named by its dotted path) when its values are numeric.
    """
    path = Path(path)
    read_spec(path)
    with xr.open_dataset(path, engine="zarr", consolidated=False, chunks=None) as raw:
        ds = raw.load()
    for name, v in list(ds.variables.items()):
        if v.dtype.kind == "T":  # numpy StringDType -> str, for netCDF and users
            text = np.array(v.values.tolist(), dtype=str).reshape(v.shape)
            if name in ds.dims:
                ds = ds.assign_coords({name: (v.dims, text, v.attrs)})
            else:
                ds[name] = (v.dims, text, v.attrs)
    ds = ds.set_coords([c for c in ("kpi_units", "kpi_long_name") if c in ds])
    ds["done"] = ds["done"].astype(bool)
    for k, name in enumerate(ds["parameter"].values.tolist()):
        col = ds["param_value"].isel(parameter=k, drop=True)
        if bool(np.isfinite(col).all()):
            ds = ds.assign_coords({name: col.assign_attrs(long_name=f"swept {name}")})
    return ds


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """Hold ``STORE.lock`` for the duration (a stale lock of a dead local process is taken over)."""
    lock = path.with_name(path.name + ".lock")
    me = f"{socket.gethostname()} {os.getpid()}"
    if not path.parent.is_dir():
        raise SweepError([f"--store: the folder {path.parent} does not exist"])
    for _ in range(2):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            owner = ""
            for _ in range(20):  # another driver may have made it and not yet written it
                owner = lock.read_text().strip()
                if owner:
                    break
                time.sleep(0.05)
            host, _, pid = owner.partition(" ")
            if host == socket.gethostname() and pid.isdigit() and not _alive(int(pid)):
                lock.unlink(missing_ok=True)
                continue
            raise SweepError(
                [
                    f"{path} is in use by another sweep (process {pid or '?'} on "
                    f"{host or '?'}); if that process is gone, delete {lock}"
                ]
            ) from None
        except OSError as exc:
            raise SweepError([f"--store: cannot create {lock} ({exc.strerror or exc})"]) from None
        with os.fdopen(fd, "w") as fh:
            fh.write(me + "\n")
        break
    try:
        yield
    finally:
        with contextlib.suppress(OSError):
            if lock.read_text().strip() == me:
                lock.unlink()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
