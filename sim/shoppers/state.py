"""The shoppers' state: one row per shopper, in few arrays.

Fields a session reads together are packed in two row-major tables (``u8``: seven
bytes, ``f4``: six float32), so a shopper's visit touches a handful of cache lines
and the kernels pass a handful of arrays; the event times (``next_t``, ``recall_t``)
stay in arrays of their own, and the epoch of the next of them in a third (``ev``, two
bytes), which is what the epoch's scan reads. Columns are named by the ``U_*`` and
``Q_*`` constants; the properties give the columns as views.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

# columns of KState.u8
U_SEG, U_REGION, U_FLAGS, U_DEPOSIT_CAT, U_PURCHASES, U_NEXT_MSG, U_REACH = range(7)
# columns of KState.f4
Q_ACTIVITY, Q_CART, Q_DEPOSIT, Q_ENVELOPE, Q_LAST_PURCHASE, Q_FATIGUE = range(6)


NO_EVENT = 65535
"""``KState.ev`` of a shopper with no event left in the campaign (campaigns are shorter)."""


class KState(NamedTuple):
    """Agent state, one row per shopper.

    ``u8`` columns: segment, region, flags (member, dormant, converted: a new shopper
    bought, visited), category of the presale deposit, purchases so far (saturating),
    messages delivered so far (in send order), channels reaching the shopper (bit c:
    marketing channel c, for the first eight; a fixed draw kept so that it is not
    drawn again at every visit candidate).
    ``f4`` columns: individual activity (lognormal, mean 1), list value of a cart kept
    (abandoned or deferred), presale item value with a deposit paid (0: none),
    red-envelope balance, time of the last purchase, fatigue.
    """

    u8: np.ndarray  # uint8 [N, 7] (U_*)
    f4: np.ndarray  # float32 [N, 6] (Q_*)
    next_t: np.ndarray  # float32 next visit candidate (campaign hours)
    recall_t: np.ndarray  # float32 time a cart-recall message brings the shopper back
    ev: np.ndarray  # uint16 epoch of the next event (candidate or recall; NO_EVENT: none)
    cand: np.ndarray  # uint32 candidates drawn so far (the visit and decision counter)
    last_epoch: np.ndarray  # int16 epoch of the last session (-1: none)
    seen: np.ndarray  # uint16 bit m: message m seen
    held: np.ndarray  # uint8 [N, coupons] coupons held
    flash_won: np.ndarray  # uint8 [N, flash series] units won

    @property
    def seg(self) -> np.ndarray:
        return self.u8[:, U_SEG]

    @property
    def region(self) -> np.ndarray:
        return self.u8[:, U_REGION]

    @property
    def flags(self) -> np.ndarray:
        return self.u8[:, U_FLAGS]

    @property
    def purchases(self) -> np.ndarray:
        return self.u8[:, U_PURCHASES]

    @property
    def activity(self) -> np.ndarray:
        return self.f4[:, Q_ACTIVITY]

    @property
    def deposit(self) -> np.ndarray:
        return self.f4[:, Q_DEPOSIT]


def new_state(n: int, coupons: int, series: int) -> KState:
    return KState(
        u8=np.zeros((n, 7), np.uint8),
        f4=np.zeros((n, 6), np.float32),
        next_t=np.full(n, np.inf, np.float32),
        recall_t=np.full(n, np.inf, np.float32),
        ev=np.full(n, NO_EVENT, np.uint16),
        cand=np.zeros(n, np.uint32),
        last_epoch=np.full(n, -1, np.int16),
        seen=np.zeros(n, np.uint16),
        held=np.zeros((n, coupons), np.uint8),
        flash_won=np.zeros((n, series), np.uint8),
    )


class KPend(NamedTuple):
    """The epoch's contested actions (limited coupon claims, flash-slot attempts, first-N
    registrations), one row per chunk: at most one pending action per shopper and epoch,
    settled and forgotten at the end of the epoch, so they are kept here and not in the
    per-shopper state. A chunk whose row fills up stops; the model widens the table and
    resumes it (results do not depend on the width)."""

    who: np.ndarray  # int32 [chunk, k] the shopper
    t: np.ndarray  # float32 time of the action
    kind: np.ndarray  # uint8 PEND_*
    idx: np.ndarray  # int32 coupon bits, slot or privilege
    val: np.ndarray  # float32 order value for a first-N rebate


def new_pending(chunks: int, width: int) -> KPend:
    return KPend(
        who=np.zeros((chunks, width), np.int32),
        t=np.zeros((chunks, width), np.float32),
        kind=np.zeros((chunks, width), np.uint8),
        idx=np.zeros((chunks, width), np.int32),
        val=np.zeros((chunks, width), np.float32),
    )


def state_bytes(state: KState) -> int:
    return sum(a.nbytes for a in state)
