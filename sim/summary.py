"""Readable summaries of a scenario (``promosim show``)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

import numpy as np
from rich.console import Console
from rich.table import Table
from rich.text import Text

from sim.plan import Plan
from sim.scenario.models import Scenario, Targets, Window


def money(x: float, currency: str = "") -> str:
    """Compact money: 30000000000 -> '30.0 bn'."""
    sign = "-" if x < 0 else ""
    x = abs(x)
    for div, unit in ((1e9, " bn"), (1e6, " m"), (1e3, " k")):
        if x >= div:
            return f"{sign}{x / div:.3g}{unit}{' ' + currency if currency else ''}"
    return f"{sign}{x:.4g}{' ' + currency if currency else ''}"


def target_rows(targets: Targets, currency: str) -> list[tuple[str, str]]:
    """The campaign's targets that are set, as (name, formatted value)."""
    rows = []
    for name, value in targets.model_dump().items():
        if value in (None, {}):
            continue
        if name == "phase_gmv_shares":
            value = ", ".join(f"{k} {v:.0%}" for k, v in value.items())
        elif name in ("gmv", "aov"):
            value = money(value, currency)
        elif isinstance(value, float) and value <= 1:
            value = f"{value:.0%}"
        elif isinstance(value, int | float):
            value = f"{value:,}"
        rows.append((name, str(value)))
    return rows


def _when(t: dt.datetime | None) -> str:
    return "" if t is None else t.strftime("%d %b %H:%M")


def _window(w: Window) -> str:
    parts = []
    if w.start or w.end:
        parts.append(f"{_when(w.start) or 'start'} to {_when(w.end) or 'end'}")
    if w.phases:
        parts.append("in " + ", ".join(w.phases))
    return "; ".join(parts) or "whole campaign"


def _names(xs: Iterable[str], default: str = "all") -> str:
    xs = list(xs)
    return ", ".join(xs) if xs else default


def _table(title: str, *columns: str) -> Table:
    """A table; a column name ending in '#' is numeric (right-aligned, '#' dropped)."""
    t = Table(title=title, title_justify="left", title_style="bold", header_style="bold cyan")
    for c in columns:
        numeric = c.endswith("#")
        t.add_column(c.rstrip("#"), justify="right" if numeric else "left")
    return t


def mechanics_rows(s: Scenario) -> list[tuple[str, str, str]]:
    """(mechanism, on/off, what it does) for every mechanic in the plan."""
    p = s.promotions
    cur = s.campaign.currency
    rows: list[tuple[str, str, str]] = []

    def onoff(flag: bool) -> str:
        return "on" if flag else "off"

    rows.append(
        (
            "price cut",
            onoff(p.price_cut.enabled),
            f"{p.price_cut.rate:.0%} off; {_window(p.price_cut)}",
        )
    )
    tiers = ", ".join(f"{t.spend:g}/{t.off:g}" for t in p.threshold.tiers)
    rows.append(
        (
            "threshold (满减)",
            onoff(p.threshold.enabled),
            f"spend/off {tiers or '-'} ({p.threshold.mode}, {p.threshold.scope}); "
            f"{_window(p.threshold)}",
        )
    )
    qt = ", ".join(f"{t.units}u -{t.discount:.0%}" for t in p.quantity.tiers)
    rows.append(
        (
            "quantity tiers",
            onoff(p.quantity.enabled),
            f"{qt or '-'}; {_names(p.quantity.categories)}",
        )
    )
    for c in p.coupons:
        cap = []
        if c.quantity:
            cap.append(f"{money(c.quantity)} coupons")
        if c.budget:
            cap.append(f"budget {money(c.budget, cur)}")
        how = (
            "claim " + f"{_when(c.claim_start) or 'start'}-{_when(c.claim_end) or 'end'}"
            if c.claimable
            else "granted"
        )
        rows.append(
            (
                f"coupon {c.name}",
                onoff(c.enabled),
                f"{c.face_value:g} off {c.min_spend:g}; {how}; use "
                f"{_when(c.use_start) or 'start'}-{_when(c.use_end) or 'end'}; "
                f"{' / '.join(cap) or 'unlimited'}; segments {_names(c.segments)}",
            )
        )
    m = p.member
    rows.append(
        (
            "member discount",
            onoff(m.enabled),
            f"{m.rate:.0%} off, max {m.max_off or '-'}; {_window(m)}",
        )
    )
    e = p.red_envelope
    rows.append(
        (
            "red envelope (膨胀红包)",
            onoff(e.enabled),
            f"tasks {_window(e)}; up to {e.max_balance:g}, x{e.peak_multiplier:g} on the peak day",
        )
    )
    if p.presale is not None:
        ps = p.presale
        rows.append(
            (
                "presale (定金膨胀)",
                onoff(ps.enabled),
                f"deposit {ps.deposit:g} counts {ps.deposit_value:g}; deposits "
                f"{_when(ps.deposit_start)}-{_when(ps.deposit_end)}; tail {_when(ps.tail_start)}-"
                f"{_when(ps.tail_end)}, rush {ps.rush_hours:g} h (gift {ps.rush_gift:g})",
            )
        )
    for f in p.flash:
        rows.append(
            (
                f"flash {f.name}",
                onoff(f.enabled),
                f"{f.stock:,} x {f.list_price:g} at -{f.price_cut:.1%} at "
                f"{', '.join(f'{h:02d}:00' for h in f.hours)} for {f.minutes} min; "
                f"{_names([d.strftime('%d %b') for d in f.dates] or list(f.phases), 'every day')}; "
                f"limit {f.limit_per_shopper}",
            )
        )
    for fn in p.first_n:
        lim = f"first {fn.n:,}" if fn.n else ""
        dur = f"first {fn.minutes} min" if fn.minutes else ""
        rows.append(
            (
                f"first-N {fn.name}",
                onoff(fn.enabled),
                f"{' / '.join(x for x in (lim, dur) if x)} from {_when(fn.start)}: "
                f"{fn.discount:.0%} off" + (f" (max {fn.max_off:g})" if fn.max_off else ""),
            )
        )
    for cd in p.countdowns:
        rows.append(
            (
                f"countdown {cd.name}",
                onoff(cd.enabled),
                f"{cd.hours:g} h before {_when(cd.deadline)}",
            )
        )
    rows.append(
        ("scarcity", onoff(p.scarcity.enabled), f"below {p.scarcity.below_share:.0%} of stock")
    )
    for msg in p.messages:
        rows.append(
            (
                f"message {msg.name}",
                onoff(msg.enabled),
                f"{msg.channel} at {_when(msg.send_at)} to {_names(msg.segments)}"
                f"{' (dormant)' if msg.dormant_only else ''}; reach {msg.reach:.0%}, "
                f"x{msg.lift:g} for {msg.lift_hours:g} h"
                + (f"; coupon {msg.coupon}" if msg.coupon else ""),
            )
        )
    cr = p.cart_recall
    rows.append(
        (
            "cart recall",
            onoff(cr.enabled),
            f"after {cr.delay_hours:g} h, {cr.recall_rate:.0%} come back",
        )
    )
    for g in p.gifts:
        rows.append(
            (
                f"{g.kind} {g.name}",
                onoff(g.enabled),
                f"min spend {g.min_spend:g}, value {g.value:g}; {_window(g)}",
            )
        )
    pt = p.points
    rows.append(("points", onoff(pt.enabled), f"{pt.rate:.1%} x{pt.multiplier:g}; {_window(pt)}"))
    ins = p.instalments
    rows.append(
        (
            "instalments",
            onoff(ins.enabled),
            f"from {ins.min_spend:g}, fee {ins.fee_rate:.1%}; {_window(ins)}",
        )
    )
    if p.fission is not None:
        fi = p.fission
        rows.append(
            (
                "social fission",
                onoff(fi.enabled),
                f"invite {fi.invites} -> coupon {fi.coupon}; {_window(fi)}",
            )
        )
    return rows


def daily_capacity(s: Scenario) -> list[tuple[str, float, float, float]]:
    """(site, regular picks per day, surge picks per day at max, storage)."""
    out = []
    for site in s.fulfilment.sites:
        regular = sum(
            sh.staff * sh.picks_per_worker_hour * (sh.end_hour - sh.start_hour)
            for sh in site.shifts
        )
        surge = (
            site.surge.max_staff * site.surge.picks_per_worker_hour * 24
            if site.surge.enabled
            else 0.0
        )
        out.append((site.name, float(regular), float(surge), float(site.storage)))
    return out


def render_scenario(s: Scenario, plan: Plan, console: Console) -> None:
    """Print the scenario summary as rich tables."""
    c = s.campaign
    cur = c.currency
    pop = s.population
    head = Table.grid(padding=(0, 2))
    head.add_column(style="bold")
    head.add_column()
    head.add_row("campaign", c.name)
    if c.description:
        head.add_row("", Text(c.description, style="dim"))
    head.add_row(
        "clock",
        f"{c.start:%Y-%m-%d %H:%M} to {c.end:%Y-%m-%d %H:%M} {c.timezone} "
        f"({plan.calendar.hours} h)",
    )
    head.add_row(
        "shoppers",
        f"{pop.shoppers:,} simulated x {pop.scale:g} = {pop.shoppers * pop.scale:,.0f} real",
    )
    head.add_row("seed / replicates", f"{c.seed} / {c.replicates}")
    head.add_row("scenario hash", plan.scenario_hash[:16])
    console.print(head)

    targets = _table("Targets", "target", "value")
    for name, value in target_rows(c.targets, cur):
        targets.add_row(name, value)
    console.print(targets)

    cal = _table("Calendar", "phase", "kind", "from", "to", "days#", "traffic#", "share of visits#")
    visits = plan.calendar.traffic
    for i, ph in enumerate(s.calendar.phases):
        share = visits[plan.calendar.phase == i].sum() / visits.sum()
        cal.add_row(
            ph.name,
            ph.kind,
            _when(ph.start),
            _when(ph.end),
            f"{(ph.end - ph.start).total_seconds() / 86400:g}",
            f"x{ph.traffic:g}",
            f"{share:.0%}",
        )
    console.print(cal)
    extra = []
    for d in s.calendar.category_days:
        extra.append(
            f"{d.date:%d %b}: {d.category} day "
            f"(baskets x{d.basket_boost:g}, traffic x{d.traffic:g})"
        )
    for sp in s.calendar.spikes:
        extra.append(
            f"spikes at {', '.join(f'{h:02d}:00' for h in sp.hours)}: "
            f"x{sp.multiplier:g} for {sp.minutes} min"
            + (f" on {', '.join(f'{d:%d %b}' for d in sp.dates)}" if sp.dates else "")
            + (f" in {', '.join(sp.phases)}" if sp.phases else "")
        )
    diurnal = s.calendar.diurnal if isinstance(s.calendar.diurnal, str) else "custom"
    extra.append(
        f"diurnal profile: {diurnal}; "
        f"busiest hour {plan.calendar.local_time[int(np.argmax(visits))]}"
    )
    for line in extra:
        console.print("  " + line, markup=False)

    seg = _table(
        "Shoppers",
        "segment",
        "share#",
        "visits/day#",
        "price sens.#",
        "urgency#",
        "members#",
        "basket median#",
        "dormant#",
        "defer#",
    )
    for g in pop.segments:
        seg.add_row(
            g.name + (" (new)" if g.new_shoppers else ""),
            f"{g.share:.0%}",
            f"{g.visit_rate:g}",
            f"{g.price_sensitivity:g}",
            f"{g.urgency_response:g}",
            f"{g.membership_rate:.0%}",
            f"{g.basket.median:g}",
            f"{g.dormant_share:.0%}",
            f"{g.deferral_propensity:.0%}",
        )
    console.print(seg)
    console.print(
        "  regions: " + ", ".join(f"{r.name} {r.share:.0%}" for r in pop.regions), markup=False
    )
    console.print(
        "  categories: "
        + ", ".join(
            f"{k.name} {k.share:.0%} (margin {1 - k.cost_of_goods:.0%})" for k in s.categories
        ),
        markup=False,
    )

    mech = _table("Mechanics", "mechanism", "", "what")
    for name, on, what in mechanics_rows(s):
        mech.add_row(name, Text(on, style="green" if on == "on" else "dim"), Text(what))
    console.print(mech)

    mk = s.marketing
    bud = _table(f"Budget: {money(mk.budget, cur)}", "line", "share#", "amount#")
    for name, share in mk.split.model_dump().items():
        bud.add_row(name, f"{share:.0%}", money(mk.budget * share, cur))
    console.print(bud)
    if mk.channels:
        ch = _table("Channels", "channel", "spend#", "reach#", "lift#", "segments", "when")
        for i, c_ in enumerate(mk.channels):
            ch.add_row(
                c_.name,
                money(c_.spend, cur),
                f"{plan.channels.reach[i]:.0%}",
                f"x{c_.lift:g}",
                _names(c_.segments),
                _window(c_),
            )
        console.print(ch)

    f = s.fulfilment
    if f.sites:
        cap = _table(
            f"Capacity (promise {f.promise_hours:g} h)",
            "site",
            "region",
            "picks/day#",
            "surge max/day#",
            "storage#",
            "overflow",
        )
        for (name, regular, surge, storage), site in zip(daily_capacity(s), f.sites, strict=True):
            cap.add_row(
                name,
                site.region,
                money(regular),
                money(surge) if surge else "-",
                money(storage),
                f"{site.overflow.to} (+{site.overflow.delay_hours:g} h)",
            )
        console.print(cap)
    if f.couriers:
        console.print(
            "  couriers: "
            + ", ".join(
                f"{c_.region} {c_.count * c_.parcels_per_day:,.0f}/day" for c_ in f.couriers
            ),
            markup=False,
        )
    for fault in f.faults:
        target = fault.site or fault.region
        console.print(
            f"  fault: {fault.kind} at {target} {_when(fault.start)}-{_when(fault.end)} "
            f"(capacity {fault.capacity_factor:.0%})",
            markup=False,
        )
    for note in plan.notes:
        console.print(f"  note: {note}", style="yellow", markup=False)


def render_shopper_summary(plan: Plan, out: dict, console: Console, seconds: float) -> None:
    """One replicate of the shopper model, in real-world figures (scaled by population.scale)."""
    s = plan.scenario
    k = plan.scale
    cur = s.campaign.currency

    def tot(name: str) -> float:
        return float(np.sum(out[name])) * k

    gmv, paid, orders = tot("gmv"), tot("paid"), tot("orders")
    visitors = float(out["unique_visitors"]) * k
    buyers = float(out["unique_buyers"]) * k
    buyers_new = tot("new_shoppers") + tot("fission_new")  # as the KPI (sim.metrics)
    t = s.campaign.targets
    table = _table("Shopper model: one replicate (real-world figures)", "KPI", "value#", "target#")
    rows: list[tuple[str, str, str]] = [
        ("GMV (list value of paid orders)", money(gmv, cur), money(t.gmv, cur) if t.gmv else ""),
        ("paid by shoppers", money(paid, cur), ""),
        ("orders", f"{orders:,.0f}", ""),
        ("average order value", money(gmv / orders if orders else 0.0, cur),
         money(t.aov, cur) if t.aov else ""),
        ("sessions", f"{tot('sessions'):,.0f}", ""),
        ("visitors (unique)", f"{visitors:,.0f}", ""),
        ("buyers (unique)", f"{buyers:,.0f}", ""),
        ("conversion (buyers / visitors)", f"{buyers / visitors:.1%}" if visitors else "-",
         f"{t.conversion:.0%}" if t.conversion else ""),
        ("new shoppers", f"{buyers_new:,.0f}", f"{t.new_shoppers:,}" if t.new_shoppers else ""),
        ("returns", f"{tot('returns'):,.0f} ({tot('returns') / max(orders, 1):.1%})", ""),
        ("presale deposits / tails / forfeits",
         f"{tot('deposits'):,.0f} / {tot('tails_paid'):,.0f} / {tot('forfeits'):,.0f}", ""),
    ]  # fmt: skip
    for row in rows:
        table.add_row(*row)
    console.print(table)
    cal = plan.calendar
    phases = _table("GMV by phase", "phase", "GMV#", "share#", "target share#")
    for i, name in enumerate(cal.phase_names):
        g = float(out["gmv"][cal.phase == i].sum()) * k
        target = t.phase_gmv_shares.get(name)
        phases.add_row(name, money(g, cur), f"{g / gmv:.0%}" if gmv else "-",
                       f"{target:.0%}" if target is not None else "")  # fmt: skip
    console.print(phases)
    sub = _table("Subsidy by mechanism", "mechanism", "cost#", "share of GMV#")
    by_mech = out["subsidy"].sum(axis=(0, 1, 2)) * k
    for name, v in zip(out["mechanisms"], by_mech, strict=True):
        if v:
            sub.add_row(name, money(float(v), cur), f"{v / gmv:.2%}" if gmv else "-")
    console.print(sub)
    peak_hour = int(np.argmax(out["orders"].sum(axis=(1, 2))))
    console.print(
        f"  busiest hour: {cal.local_time[peak_hour]} "
        f"({float(out['orders'][peak_hour].sum()) * k:,.0f} orders); "
        f"{int(np.sum(out['sessions'])):,} simulated sessions in {seconds:.1f} s",
        markup=False,
    )
