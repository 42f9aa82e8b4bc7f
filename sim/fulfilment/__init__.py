"""Fulfilment: a SimPy model of warehouses, linehaul and couriers (cohort and per-order modes)."""

from sim.fulfilment.cohort import CohortFulfilment
from sim.fulfilment.per_order import PerOrderFulfilment
from sim.fulfilment.tables import FulfilmentTables, compile_fulfilment

__all__ = ["CohortFulfilment", "FulfilmentTables", "PerOrderFulfilment", "compile_fulfilment"]
