"""The shopper model: millions of agents living through a campaign, in numba kernels."""

from sim.shoppers.model import ShopperModel, simulate_shoppers

__all__ = ["ShopperModel", "simulate_shoppers"]
