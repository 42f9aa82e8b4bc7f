"""The shoppers' state: one row per shopper, packed in one record.

Everything a visit reads or writes about the shopper lies in one record of a few
dozen bytes (``record_layout``: the float32 fields first, then the integers, then
the bytes), so serving a shopper touches one or two cache lines, not one per field:
the fields of ``KState`` are strided views into that one array. Only ``ev``, the
epoch of the shopper's next event, is an array of its own, because the epoch's scan
reads it for every shopper. The ``u8`` and ``f4`` columns are named by the ``U_*``
and ``Q_*`` constants; the properties give the columns as views.
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


def record_layout(coupons: int, series: int) -> tuple[dict[str, tuple[int, int]], int]:
    """Byte offset and size of each field in a shopper's record, and the record size.

    The size is rounded up to a multiple of 8 (the record then stays 4-byte aligned for
    the float32 and uint32 fields); it is not padded to a cache line, which would cost
    up to 8 bytes per shopper: a record of up to 64 bytes (the baseline's is 56)
    straddles at most two lines.
    """
    fields = (
        ("f4", 24), ("next_t", 4), ("recall_t", 4), ("cand", 4), ("last_epoch", 2),
        ("seen", 2), ("u8", 7), ("held", coupons), ("flash_won", series),
    )  # fmt: skip
    layout: dict[str, tuple[int, int]] = {}
    at = 0
    for name, size in fields:
        layout[name] = (at, size)
        at += size
    return layout, -(-at // 8) * 8


def new_state(n: int, coupons: int, series: int, fill: bool = True) -> KState:
    """The state of n shoppers, all fields views into one ``[n, record]`` byte array.

    Every field is zero but ``next_t`` and ``recall_t`` (inf: no event) and
    ``last_epoch`` (-1: no session yet); with ``fill=False`` those three are left at
    zero too, for a caller that writes them itself (the model's ``init_kernel``, in
    parallel, which also spares a pass over the whole state).
    """
    layout, size = record_layout(coupons, series)
    rec = np.zeros((n, size), np.uint8)

    def field(name: str, dtype: type | None = None) -> np.ndarray:
        a, b = layout[name]
        v = rec[:, a : a + b]
        return v if dtype is None else v.view(dtype)

    state = KState(
        u8=field("u8"),
        f4=field("f4", np.float32),
        next_t=field("next_t", np.float32)[:, 0],
        recall_t=field("recall_t", np.float32)[:, 0],
        ev=np.full(n, NO_EVENT, np.uint16),
        cand=field("cand", np.uint32)[:, 0],
        last_epoch=field("last_epoch", np.int16)[:, 0],
        seen=field("seen", np.uint16)[:, 0],
        held=field("held"),
        flash_won=field("flash_won"),
    )
    if fill:
        state.next_t[:] = np.inf
        state.recall_t[:] = np.inf
        state.last_epoch[:] = -1
    return state


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
    ret: np.ndarray  # uint8 1: the first-N order will be returned (its refund is rebated)


def new_pending(chunks: int, width: int) -> KPend:
    return KPend(
        who=np.zeros((chunks, width), np.int32),
        t=np.zeros((chunks, width), np.float32),
        kind=np.zeros((chunks, width), np.uint8),
        idx=np.zeros((chunks, width), np.int32),
        val=np.zeros((chunks, width), np.float32),
        ret=np.zeros((chunks, width), np.uint8),
    )


def state_bytes(state: KState) -> int:
    """Bytes held by the state (each underlying array once)."""
    owners: dict[int, int] = {}
    for a in state:
        while isinstance(a.base, np.ndarray):
            a = a.base
        owners[id(a)] = a.nbytes
    return sum(owners.values())
