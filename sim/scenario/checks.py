"""Cross-field checks: references between sections and times against the campaign clock.

Each check appends ``(field path, message, given value)``; all are reported at once.
"""

from __future__ import annotations

import datetime as dt
import difflib
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sim.scenario.models import Scenario, Window

Loc = tuple[str | int, ...]
Problem = tuple[Loc, str, Any]


def _suggest(given: str, allowed: Iterable[str]) -> str:
    allowed = list(allowed)
    close = difflib.get_close_matches(given, allowed, n=1)
    hint = f"did you mean '{close[0]}'? " if close else ""
    return f"{hint}allowed: {', '.join(repr(a) for a in allowed) or 'none defined'}"


class _Checker:
    def __init__(self, s: Scenario) -> None:
        self.s = s
        self.problems: list[Problem] = []
        self.start = s.campaign.start
        self.end = s.campaign.end
        self.phases = [p.name for p in s.calendar.phases]
        self.segments = [g.name for g in s.population.segments]
        self.regions = [r.name for r in s.population.regions]
        self.categories = [c.name for c in s.categories]
        self.coupons = [c.name for c in s.promotions.coupons]
        self.sites = [x.name for x in s.fulfilment.sites]

    def add(self, loc: Loc, msg: str, given: Any) -> None:
        self.problems.append((loc, msg, given))

    # -- reference checks -------------------------------------------------
    def names(self, loc: Loc, given: Iterable[str], allowed: list[str], what: str) -> None:
        for i, name in enumerate(given):
            if name not in allowed:
                self.add((*loc, i), f"unknown {what} '{name}'; {_suggest(name, allowed)}", name)

    def name(self, loc: Loc, given: str | None, allowed: list[str], what: str) -> None:
        if given is not None and given not in allowed:
            self.add(loc, f"unknown {what} '{given}'; {_suggest(given, allowed)}", given)

    # -- time checks ------------------------------------------------------
    def instant(self, loc: Loc, t: dt.datetime | None, *, allow_end: bool = True) -> None:
        if t is None:
            return
        late = t > self.end if allow_end else t >= self.end
        if t < self.start or late:
            self.add(
                loc,
                f"{t} is outside the campaign ({self.start} to {self.end})",
                t.isoformat(),
            )

    def date(self, loc: Loc, d: dt.date) -> None:
        day0 = dt.datetime.combine(d, dt.time())
        # the day ends at or before the start iff it is an earlier date (no overflow at 9999-12-31)
        if d < self.start.date() or day0 >= self.end:
            self.add(
                loc,
                f"date {d} is outside the campaign ({self.start.date()} to {self.end.date()})",
                d.isoformat(),
            )

    def window(self, loc: Loc, w: Window) -> None:
        self.instant((*loc, "start"), w.start)
        self.instant((*loc, "end"), w.end)
        self.names((*loc, "phases"), w.phases, self.phases, "phase")


def cross_check(s: Scenario) -> list[Problem]:
    """Return every cross-field problem of a scenario whose fields are individually valid."""
    c = _Checker(s)
    cal = s.calendar
    # calendar tiles the campaign
    if cal.phases[0].start != c.start:
        c.add(
            ("calendar", "phases", 0, "start"),
            f"the first phase must start when the campaign starts ({c.start})",
            cal.phases[0].start.isoformat(),
        )
    if cal.phases[-1].end != c.end:
        c.add(
            ("calendar", "phases", len(cal.phases) - 1, "end"),
            f"the last phase must end when the campaign ends ({c.end})",
            cal.phases[-1].end.isoformat(),
        )
    for i, day in enumerate(cal.category_days):
        c.date(("calendar", "category_days", i, "date"), day.date)
        c.name(("calendar", "category_days", i, "category"), day.category, c.categories, "category")
    for i, sp in enumerate(cal.spikes):
        for j, d in enumerate(sp.dates):
            c.date(("calendar", "spikes", i, "dates", j), d)
        c.names(("calendar", "spikes", i, "phases"), sp.phases, c.phases, "phase")

    p = s.promotions
    for key in (
        "price_cut",
        "threshold",
        "quantity",
        "member",
        "red_envelope",
        "points",
        "instalments",
    ):
        w = getattr(p, key)
        if w.enabled:
            c.window(("promotions", key), w)
    for key in ("price_cut", "threshold", "quantity"):
        w = getattr(p, key)
        c.names(("promotions", key, "categories"), w.categories, c.categories, "category")
    if p.red_envelope.enabled:
        c.names(
            ("promotions", "red_envelope", "spend_phases"),
            p.red_envelope.spend_phases,
            c.phases,
            "phase",
        )

    for i, cp in enumerate(p.coupons):
        loc: Loc = ("promotions", "coupons", i)
        for f in ("claim_start", "claim_end", "use_start", "use_end"):
            c.instant((*loc, f), getattr(cp, f))
        claim_start = cp.claim_start or c.start
        use_end = cp.use_end or c.end
        if claim_start >= use_end:
            c.add(
                (*loc, "claim_start"),
                f"the claim window opens ({claim_start}) after the use window ends ({use_end}); "
                "the coupon could never be used",
                claim_start.isoformat(),
            )
        c.names((*loc, "segments"), cp.segments, c.segments, "segment")
        c.names((*loc, "categories"), cp.categories, c.categories, "category")

    if p.presale is not None and p.presale.enabled:
        for f in ("deposit_start", "deposit_end", "tail_start", "tail_end"):
            c.instant(("promotions", "presale", f), getattr(p.presale, f))
        c.names(
            ("promotions", "presale", "categories"), p.presale.categories, c.categories, "category"
        )

    for i, fl in enumerate(p.flash):
        loc = ("promotions", "flash", i)
        for j, d in enumerate(fl.dates):
            c.date((*loc, "dates", j), d)
        c.names((*loc, "phases"), fl.phases, c.phases, "phase")
        c.name((*loc, "category"), fl.category, c.categories, "category")

    for i, fn in enumerate(p.first_n):
        c.instant(("promotions", "first_n", i, "start"), fn.start, allow_end=False)
        c.names(("promotions", "first_n", i, "categories"), fn.categories, c.categories, "category")

    for i, cd in enumerate(p.countdowns):
        c.window(("promotions", "countdowns", i), cd)
        c.instant(("promotions", "countdowns", i, "deadline"), cd.deadline)

    for i, m in enumerate(p.messages):
        loc = ("promotions", "messages", i)
        c.instant((*loc, "send_at"), m.send_at, allow_end=False)
        c.names((*loc, "segments"), m.segments, c.segments, "segment")
        c.name((*loc, "coupon"), m.coupon, c.coupons, "coupon")

    for i, g in enumerate(p.gifts):
        c.window(("promotions", "gifts", i), g)
        c.names(("promotions", "gifts", i, "categories"), g.categories, c.categories, "category")

    if p.fission is not None and p.fission.enabled:
        c.window(("promotions", "fission"), p.fission)
        c.name(("promotions", "fission", "coupon"), p.fission.coupon, c.coupons, "coupon")

    shares = s.campaign.targets.phase_gmv_shares
    for name in shares:
        if name not in c.phases:
            c.add(
                ("campaign", "targets", "phase_gmv_shares", name),
                f"unknown phase '{name}'; {_suggest(name, c.phases)}",
                name,
            )
    if sum(shares.values()) > 1 + 1e-6:
        c.add(
            ("campaign", "targets", "phase_gmv_shares"),
            f"phase shares of the GMV target sum to more than 1 ({sum(shares.values()):.6g})",
            dict(shares),
        )

    for i, ch in enumerate(s.marketing.channels):
        c.window(("marketing", "channels", i), ch)
        c.names(("marketing", "channels", i, "segments"), ch.segments, c.segments, "segment")

    _fulfilment(c)
    return c.problems


def _fulfilment(c: _Checker) -> None:
    f = c.s.fulfilment
    served: set[str] = set()
    for i, site in enumerate(f.sites):
        loc: Loc = ("fulfilment", "sites", i)
        c.name((*loc, "region"), site.region, c.regions, "region")
        c.names((*loc, "serves"), site.serves, c.regions, "region")
        served.update(site.serves or (site.region,))
        to = site.overflow.to
        if to != "third_party":
            if to == site.name:
                c.add((*loc, "overflow", "to"), "a site cannot overflow to itself", to)
            else:
                c.name((*loc, "overflow", "to"), to, ["third_party", *c.sites], "overflow target")
    if f.sites:
        for name in c.regions:
            if name not in served:
                c.add(
                    ("fulfilment", "sites"),
                    f"region '{name}' is served by no site (set a site's `region` or `serves`)",
                    name,
                )
    for i, lh in enumerate(f.linehaul):
        c.name(("fulfilment", "linehaul", i, "site"), lh.site, c.sites, "site")
    first: dict[str, int] = {}
    for i, cr in enumerate(f.couriers):
        c.name(("fulfilment", "couriers", i, "region"), cr.region, c.regions, "region")
        if cr.region in first:  # the fulfilment tables keep one courier pool per region
            c.add(
                ("fulfilment", "couriers", i, "region"),
                f"region '{cr.region}' has couriers already (fulfilment.couriers"
                f"[{first[cr.region]}]); give each region one entry, with its total count",
                cr.region,
            )
        first.setdefault(cr.region, i)
    for i, fault in enumerate(f.faults):
        loc = ("fulfilment", "faults", i)
        c.name((*loc, "site"), fault.site, c.sites, "site")
        c.name((*loc, "region"), fault.region, c.regions, "region")
        c.instant((*loc, "start"), fault.start)
        c.instant((*loc, "end"), fault.end)
    if f.prepositioning.enabled:
        c.instant(("fulfilment", "prepositioning", "release_at"), f.prepositioning.release_at)
