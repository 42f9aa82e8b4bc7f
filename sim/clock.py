"""The campaign clock: elapsed hours from the campaign start, and local wall-clock time.

The simulation runs on elapsed time (hours since the campaign start). Local
wall-clock times in the scenario are converted through UTC, so a campaign that
crosses a daylight-saving change has a 23- or 25-hour local day and every
hour still lasts one hour.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import cached_property
from zoneinfo import ZoneInfo

import numpy as np


@dataclass(frozen=True)
class Clock:
    """Converts between local times and campaign hours.

    Examples
    --------
    >>> c = Clock("Asia/Shanghai", dt.datetime(2026, 11, 1), dt.datetime(2026, 11, 3))
    >>> c.hours
    48
    >>> c.to_hours(dt.datetime(2026, 11, 2, 10, 30))
    34.5
    """

    timezone: str
    start: dt.datetime
    end: dt.datetime

    @cached_property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @cached_property
    def start_utc(self) -> dt.datetime:
        return self.start.replace(tzinfo=self.tz).astimezone(dt.UTC)

    @cached_property
    def hours(self) -> int:
        """Number of hourly epochs in the campaign (elapsed, not wall-clock)."""
        return round(self.to_hours(self.end))

    def to_hours(self, local: dt.datetime) -> float:
        """Hours from the campaign start to a local wall-clock time."""
        aware = local.replace(tzinfo=self.tz).astimezone(dt.UTC)
        return (aware - self.start_utc).total_seconds() / 3600.0

    def local_at(self, hours: float) -> dt.datetime:
        """Local wall-clock time (naive) at a campaign hour."""
        aware = self.start_utc + dt.timedelta(hours=hours)
        return aware.astimezone(self.tz).replace(tzinfo=None)

    @cached_property
    def local_hours(self) -> np.ndarray:
        """Local wall-clock start of every epoch, as datetime64[m]."""
        return np.array([self.local_at(h) for h in range(self.hours)], dtype="datetime64[m]")

    @cached_property
    def utc_hours(self) -> np.ndarray:
        """UTC start of every epoch, as datetime64[m]."""
        base = np.datetime64(self.start_utc.replace(tzinfo=None), "m")
        return base + np.arange(self.hours) * np.timedelta64(60, "m")

    @cached_property
    def hour_of_day(self) -> np.ndarray:
        """Local hour of day (0-23) of every epoch."""
        return np.array([self.local_at(h).hour for h in range(self.hours)], dtype=np.int8)

    @cached_property
    def local_date(self) -> np.ndarray:
        """Local date of every epoch, as datetime64[D]."""
        return self.local_hours.astype("datetime64[D]")

    def dates(self) -> list[dt.date]:
        """Every local date the campaign touches, in order."""
        first = self.start.date()
        last = self.local_at(self.hours - 1e-9).date()
        return [first + dt.timedelta(days=k) for k in range((last - first).days + 1)]

    def mask(self, start: dt.datetime | None, end: dt.datetime | None) -> np.ndarray:
        """Epochs that overlap [start, end) (None: campaign start or end)."""
        a = 0.0 if start is None else self.to_hours(start)
        b = float(self.hours) if end is None else self.to_hours(end)
        h = np.arange(self.hours)
        return (h + 1 > a) & (h < b)
