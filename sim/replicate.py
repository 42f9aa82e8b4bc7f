"""One replicate of a plan: the shoppers and the fulfilment model on one campaign clock.

Epoch by epoch (an hour): the shoppers advance, their paid orders enter the
fulfilment model, SimPy runs to the end of the epoch, and the delivery time it
would quote per region goes back to the shoppers as the promise shown at
checkout (a long promise lowers the purchase utility).
"""

from __future__ import annotations

import threading
import time
from typing import Any, Literal

import numpy as np

from sim.fulfilment.cohort import CohortFulfilment
from sim.fulfilment.resources import EventLog
from sim.plan import Plan
from sim.shoppers.model import ShopperModel
from sim.shoppers.tables import V_ORDERS, V_RETURNS, V_TAILS

Mode = Literal["cohort", "per_order", "off"]


class Cancelled(Exception):
    """A replicate stopped because its ``cancel`` event was set."""


def simulate_replicate(
    plan: Plan,
    replicate: int = 0,
    *,
    seed: int | None = None,
    shoppers: int | None = None,
    threads: int | None = None,
    fulfilment: Mode = "cohort",
    feedback: bool = True,
    log: EventLog | None = None,
    cancel: threading.Event | None = None,
) -> dict[str, Any]:
    """Simulate one replicate: shoppers coupled hour by hour with fulfilment.

    Parameters
    ----------
    plan
        The compiled scenario.
    replicate
        Replicate number (its random streams are spawned from the seed).
    seed
        Override the scenario's seed.
    shoppers
        Override the number of simulated shoppers; orders are then scaled so that the
        real-world volume reaching the warehouses is unchanged.
    threads
        Threads for the shopper model (results do not depend on it).
    fulfilment
        ``"cohort"`` (default), ``"per_order"`` (every order a SimPy process: small
        cases only) or ``"off"`` (no fulfilment model, no promise).
    feedback
        Send the quoted delivery time back to the shoppers (default: yes).
    log
        Optional list that receives the fulfilment model's event log.
    cancel
        Checked before every epoch: once it is set, the replicate stops and raises
        :class:`Cancelled` (the runner's way to stop replicates running in threads).

    Returns
    -------
    dict
        The shopper model's named arrays (``ShopperModel.results``), the fulfilment
        model's (``fulfilment_*`` hourly series, delay histograms) and ``timing``
        (seconds spent in each model).
    """
    shop = ShopperModel(plan, replicate, seed=seed, shoppers=shoppers, threads=threads)
    tables = plan.fulfilment
    ful: Any = None
    if fulfilment != "off" and tables.enabled:
        if fulfilment == "per_order":
            from sim.fulfilment.per_order import PerOrderFulfilment

            key = np.random.SeedSequence(
                plan.seed if seed is None else seed, spawn_key=(replicate, 99)
            )
            ful = PerOrderFulfilment(tables, seed=key, log=log)
        else:
            ful = CohortFulfilment(tables, log=log)
    scale = shop.plan.scale  # real shoppers per simulated one (the plan is compiled for n)
    t_shop = t_ful = 0.0
    try:
        for e in range(plan.calendar.hours):
            if cancel is not None and cancel.is_set():
                raise Cancelled(replicate)
            t0 = time.perf_counter()
            shop.step()
            t1 = time.perf_counter()
            t_shop += t1 - t0
            if ful is not None:
                c = shop.counters[e]
                ful.add_orders(
                    e,
                    c[:, :, V_ORDERS].sum(axis=0) * scale,
                    c[:, :, V_TAILS].sum(axis=0) * scale,
                    c[:, :, V_RETURNS].sum(axis=0) * scale,
                )
                ful.run_until(e + 1)
                if feedback:
                    shop.set_promise(ful.promise())
                t_ful += time.perf_counter() - t1
    finally:
        shop.close()  # its threads (the last epoch has closed them already)
    out = shop.results()
    if ful is not None:
        t1 = time.perf_counter()
        ful.finish()
        out.update(ful.results())
        t_ful += time.perf_counter() - t1
    out["scale"] = scale
    out["timing"] = {"shoppers": t_shop, "fulfilment": t_ful}
    return out
