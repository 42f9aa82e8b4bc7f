"""The scenario language: immutable, validated models of a campaign plan.

Every model forbids unknown keys and non-finite numbers. Checks that only need
one model's own fields (tiers increasing, a window in order) live on that model,
so pydantic reports them together with type errors. Checks that need the whole
scenario (a phase, segment or category that must exist; a window inside the
campaign) live in :func:`cross_check`, which the loader runs once all fields
are valid.

Times are local wall-clock times in the campaign's time zone, written in TOML
as local date-times (``2026-11-11T00:00:00``) or dates. Money is in the
campaign currency. Counts of real-world things (flash stock, couriers, staff)
are real-world counts; the plan compiler scales them by ``population.scale``.
"""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Annotated, Any, Literal, Self

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

# ---------------------------------------------------------------------------
# Field types
# ---------------------------------------------------------------------------


def _no_offset(value: Any) -> Any:
    if isinstance(value, dt.datetime) and value.tzinfo is not None:
        raise ValueError(
            "write a local time without a UTC offset (e.g. 2026-11-11T00:00:00); "
            "the campaign's time zone applies"
        )
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return dt.datetime.combine(value, dt.time())
    return value


LocalDateTime = Annotated[dt.datetime, BeforeValidator(_no_offset)]
"""A local date-time (a date alone means its 00:00)."""


def _integral(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


Share = Annotated[float, Field(ge=0.0, le=1.0)]
Positive = Annotated[float, Field(gt=0.0)]
NonNeg = Annotated[float, Field(ge=0.0)]
MAX_MULTIPLIER = 100.0
"""Upper bound of any visit-intensity multiplier (a phase's traffic, a spike, a lift)."""
Multiplier = Annotated[float, Field(ge=0.0, le=MAX_MULTIPLIER)]
Lift = Annotated[float, Field(ge=1.0, le=MAX_MULTIPLIER)]
Money = Annotated[float, Field(ge=0.0)]
MAX_COUNT = 10**15
"""Largest real-world count (a typo beyond it would overflow the plan's int64 arrays)."""
Count = Annotated[int, BeforeValidator(_integral), Field(ge=0, le=MAX_COUNT)]
PosCount = Annotated[int, BeforeValidator(_integral), Field(ge=1, le=MAX_COUNT)]
PerShopper = Annotated[int, BeforeValidator(_integral), Field(ge=1, le=255)]
"""A count per shopper (coupons of one kind held, flash units won): the shopper's state
keeps these counts in one byte."""
HourOfDay = Annotated[int, Field(ge=0, le=23)]
Name = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z_][A-Za-z0-9_\-]*$")]


def _unique_names(items: tuple[Any, ...], what: str) -> tuple[Any, ...]:
    seen: set[str] = set()
    for item in items:
        if item.name in seen:
            raise ValueError(f"{what} names must be unique; '{item.name}' appears twice")
        seen.add(item.name)
    return items


def _sums_to_one(items: tuple[Any, ...], what: str) -> tuple[Any, ...]:
    total = sum(item.share for item in items)
    if items and abs(total - 1.0) > 1e-6:
        raise ValueError(f"{what} shares must sum to 1 (they sum to {total:.6g})")
    return items


class Model(BaseModel):
    """Base of every scenario model: immutable, strict about keys and numbers."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        allow_inf_nan=False,
        validate_default=False,
        use_attribute_docstrings=True,
        strict=True,
    )

    @model_validator(mode="before")
    @classmethod
    def _lists_to_tuples(cls, data: Any) -> Any:
        # TOML arrays arrive as lists; the models hold immutable tuples.
        if isinstance(data, dict):
            return {k: tuple(v) if isinstance(v, list) else v for k, v in data.items()}
        return data


class Window(Model):
    """When a mechanism is active: explicit times, named phases, or both (intersection).

    With neither, the mechanism is active for the whole campaign.
    """

    start: LocalDateTime | None = None
    """Local time the window opens (inclusive). Default: campaign start."""
    end: LocalDateTime | None = None
    """Local time the window closes (exclusive). Default: campaign end."""
    phases: tuple[str, ...] = ()
    """Names of calendar phases the window is limited to (empty: all phases)."""

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.start is not None and self.end is not None and self.end <= self.start:
            raise ValueError(f"end ({self.end}) must be after start ({self.start})")
        return self


# ---------------------------------------------------------------------------
# campaign
# ---------------------------------------------------------------------------


class Targets(Model):
    """What the campaign is meant to reach; KPIs are reported against these."""

    gmv: Money | None = None
    """Gross merchandise value target, in currency (real-world scale)."""
    new_shoppers: Count | None = None
    """New shoppers converted (first purchase), real-world count."""
    aov: Money | None = None
    """Average order value target, in currency."""
    repurchase_rate: Share | None = None
    """Share of buyers who buy more than once in the campaign."""
    conversion: Share | None = None
    """Share of visitors who buy."""
    roi: NonNeg | None = None
    """Return on investment as planners define it: sales / cost."""
    fulfilment_rate: Share | None = None
    """Share of orders delivered within the promise."""
    satisfaction: Share | None = None
    """Customer satisfaction target (reported, not simulated)."""
    cart_adds_growth: NonNeg | None = None
    """Pre-heat cart-add growth target against a plain day (0.5 = +50%)."""
    phase_gmv_shares: dict[str, Share] = Field(default_factory=dict)
    """Share of the GMV target each phase should deliver, by phase name."""


class Campaign(Model):
    """The campaign: name, clock, currency, seed and targets."""

    name: Annotated[str, Field(min_length=1, max_length=200)]
    """A human-readable name, shown in reports."""
    description: str = ""
    """Free text: what this plan is, who wrote it, which numbers are assumptions."""
    timezone: str = "Asia/Shanghai"
    """IANA time zone of all local times in the file."""
    start: LocalDateTime
    """First moment of the campaign (local)."""
    end: LocalDateTime
    """End of the campaign (local, exclusive); must be on an hour mark, like start."""
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")] = "CNY"
    """ISO 4217 currency code of every amount in the file."""
    seed: Annotated[int, BeforeValidator(_integral), Field(ge=0, lt=2**63)] = 20261111
    """Master seed; every random stream is derived from it with SeedSequence."""
    replicates: Annotated[int, BeforeValidator(_integral), Field(ge=1, le=100_000)] = 20
    """Default number of Monte Carlo replicates."""
    targets: Targets = Targets()
    """Targets the KPIs are reported against."""

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError, OSError):
            # OSError: names that are tzdata directories ('America') or too long for a path
            raise ValueError(
                f"unknown time zone '{value}'; use an IANA name such as "
                "'Asia/Shanghai', 'America/New_York' or 'UTC'"
            ) from None
        return value

    @model_validator(mode="after")
    def _clock(self) -> Self:
        if self.end <= self.start:
            raise ValueError(f"end ({self.end}) must be after start ({self.start})")
        for label, t in (("start", self.start), ("end", self.end)):
            if t.minute or t.second or t.microsecond:
                raise ValueError(f"{label} ({t}) must be on an hour mark (the clock is hourly)")
        if self.end - self.start > dt.timedelta(days=120):
            raise ValueError("a campaign may last at most 120 days")
        return self


# ---------------------------------------------------------------------------
# calendar
# ---------------------------------------------------------------------------

PhaseKind = Literal["preheat", "burst", "regular", "peak", "return"]


class Phase(Model):
    """A stretch of the calendar with its own traffic level."""

    name: Name
    """Phase name, referred to by windows elsewhere."""
    kind: PhaseKind = "regular"
    """What the phase is: preheat, burst (opening), regular, peak (the big day), return."""
    start: LocalDateTime
    """Local start (inclusive)."""
    end: LocalDateTime
    """Local end (exclusive)."""
    traffic: Multiplier = 1.0
    """Multiplier on visit intensity during the phase."""

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.end <= self.start:
            raise ValueError(f"end ({self.end}) must be after start ({self.start})")
        return self


class CategoryDay(Model):
    """A day when traffic concentrates on one category (e.g. 1 Nov appliances)."""

    date: dt.date
    """The local date."""
    category: str
    """Name of the category featured."""
    basket_boost: Annotated[float, Field(ge=1.0)] = 3.0
    """Multiplier on that category's share of baskets that day (shares renormalised)."""
    traffic: Multiplier = 1.1
    """Multiplier on overall visit intensity that day."""


class Spike(Model):
    """Hour-mark spikes: a burst of visits at given hours (flash openings, midnight)."""

    name: Name | None = None
    """Optional name; when every spike has one, a variant's spikes merge with its base's
    by name instead of replacing them."""
    hours: Annotated[tuple[HourOfDay, ...], Field(min_length=1)]
    """Hours of day (0-23) whose first minutes spike."""
    multiplier: Lift = 2.0
    """Intensity multiplier while the spike lasts."""
    minutes: Annotated[int, Field(ge=1, le=60)] = 20
    """How long the spike lasts after the hour mark."""
    dates: tuple[dt.date, ...] = ()
    """Dates it applies to (empty: every day allowed by `phases`)."""
    phases: tuple[str, ...] = ()
    """Phases it applies to (empty: all)."""


DIURNAL_NAMES = ("ecommerce", "flat", "evening", "office")


def _diurnal_weights(value: Any) -> Any:
    if isinstance(value, str):
        if value not in DIURNAL_NAMES:
            raise ValueError(
                f"unknown diurnal profile '{value}'; allowed: "
                + ", ".join(repr(n) for n in DIURNAL_NAMES)
                + ", or a list of 24 hourly weights"
            )
        return value
    if isinstance(value, list | tuple):
        if len(value) != 24:
            raise ValueError(f"a diurnal profile needs 24 hourly weights (got {len(value)})")
        if any((not isinstance(v, int | float)) or isinstance(v, bool) for v in value):
            raise ValueError("diurnal weights must be numbers")
        if any(v < 0 or v != v or v in (float("inf"), float("-inf")) for v in value):
            raise ValueError("diurnal weights must be finite and non-negative")
        if sum(value) <= 0:
            raise ValueError("at least one diurnal weight must be positive")
        return tuple(float(v) for v in value)
    raise ValueError("give a named profile or a list of 24 hourly weights")


class Calendar(Model):
    """Phases, category days, the daily rhythm and hour-mark spikes."""

    phases: Annotated[tuple[Phase, ...], Field(min_length=1)]
    """Phases tiling the campaign without gaps or overlaps, in order; exactly one `peak`."""
    diurnal: Annotated[str | tuple[float, ...], BeforeValidator(_diurnal_weights)] = "ecommerce"
    """24 hourly weights (hour 0 first; normalised to mean 1) or a named default."""
    category_days: tuple[CategoryDay, ...] = ()
    """Days featuring one category."""
    spikes: tuple[Spike, ...] = ()
    """Hour-mark spikes."""

    @field_validator("phases")
    @classmethod
    def _tiling(cls, phases: tuple[Phase, ...]) -> tuple[Phase, ...]:
        # a field validator, so errors point at `calendar.phases`
        _unique_names(phases, "phase")
        for a, b in itertools.pairwise(phases):
            if b.start != a.end:
                gap = "overlaps" if b.start < a.end else "leaves a gap after"
                raise ValueError(
                    f"phases must follow each other without gaps or overlaps: '{b.name}' "
                    f"(start {b.start}) {gap} '{a.name}' (end {a.end})"
                )
        peaks = [p.name for p in phases if p.kind == "peak"]
        if len(peaks) != 1:
            raise ValueError(f"exactly one phase must have kind 'peak' (found {len(peaks)})")
        return phases


# ---------------------------------------------------------------------------
# population and categories
# ---------------------------------------------------------------------------


class Basket(Model):
    """Basket value before discounts: lognormal with a given median and log-sd."""

    median: Positive = 300.0
    """Median basket value at list price, in currency."""
    sigma: Annotated[float, Field(ge=0.0, le=3.0)] = 0.6
    """Standard deviation of the log basket value."""
    units_mean: Annotated[float, Field(ge=1.0)] = 2.0
    """Mean units per basket (1 + Poisson)."""


class Funnel(Model):
    """Step probabilities of the session funnel for a shopper with no promotion pull."""

    cart: Share = 0.35
    """Browse -> add to cart."""
    checkout: Share = 0.6
    """Cart -> checkout: the purchase decision's baseline acceptance (its logit intercept)."""
    pay: Share = 0.92
    """Checkout -> payment completed."""


class Segment(Model):
    """A group of shoppers the planners treat alike."""

    name: Name
    """Segment name (referred to by coupons, channels, messages)."""
    share: Share
    """Share of the population."""
    visit_rate: Annotated[float, Field(ge=0.0, le=100.0)] = 0.3
    """Visits per day at traffic 1 and an average hour."""
    activity_dispersion: Annotated[float, Field(ge=0.0, le=3.0)] = 0.8
    """Log-sd of individual activity (lognormal with mean 1) around the segment's rate."""
    price_sensitivity: NonNeg = 1.0
    """How strongly price and discounts move the purchase decision (1 = typical)."""
    urgency_response: NonNeg = 1.0
    """Response to countdowns, scarcity and open flash slots (1 = typical)."""
    coupon_affinity: Share = 0.5
    """Probability of claiming an available coupon in a session."""
    flash_affinity: Share = 0.2
    """Probability of trying a flash slot when visiting while one is open."""
    membership_rate: Share = 0.1
    """Share of the segment holding a paid membership (88VIP, PLUS)."""
    new_shoppers: bool = False
    """Whether these shoppers have never bought (their first purchase counts as a new shopper)."""
    basket: Basket = Basket()
    """Basket value distribution."""
    funnel: Funnel = Funnel()
    """Session funnel step probabilities."""
    padding_propensity: Share = 0.4
    """Probability of padding a basket that is within reach of the next threshold tier."""
    padding_reach: Annotated[float, Field(ge=0.0, le=1.0)] = 0.25
    """Largest gap, as a share of the tier's spend, a shopper will pad."""
    deferral_propensity: Share = 0.4
    """Probability of waiting for the peak day when a deeper discount is expected then."""
    return_propensity: Share = 0.08
    """Probability an order is returned (raised for deep discounts and impulse buys)."""
    dormant_share: Share = 0.0
    """Share of the segment dormant at the start (barely visits until woken)."""
    dormant_activity: Share = 0.05
    """Visit-intensity multiplier while dormant."""
    fatigue_per_session: NonNeg = 0.03
    """Fatigue added per session; it lowers the purchase utility."""
    repeat_purchase: Share = 0.3
    """Propensity to buy again in the campaign after a purchase (scales utility after buying)."""


class Region(Model):
    """A delivery region."""

    name: Name
    """Region name (referred to by sites, couriers, faults)."""
    share: Share
    """Share of shoppers living there."""


class Population(Model):
    """How many shoppers, of which kinds, where."""

    shoppers: Annotated[int, BeforeValidator(_integral), Field(ge=1, le=2_000_000_000)]
    """Number of simulated shoppers (agents)."""
    scale: Annotated[float, Field(ge=1.0, le=1e12)] = 1.0
    """Real shoppers each simulated shopper stands for; counts and money are scaled up by it,
    and real-world stock and capacities are scaled down by it."""
    segments: Annotated[tuple[Segment, ...], Field(min_length=1)]
    """Shopper segments; shares sum to 1."""
    regions: Annotated[tuple[Region, ...], Field(min_length=1)] = (
        Region(name="national", share=1.0),
    )
    """Delivery regions; shares sum to 1."""

    @field_validator("segments")
    @classmethod
    def _segment_shares(cls, v: tuple[Segment, ...]) -> tuple[Segment, ...]:
        return _sums_to_one(_unique_names(v, "segment"), "segment")

    @field_validator("regions")
    @classmethod
    def _region_shares(cls, v: tuple[Region, ...]) -> tuple[Region, ...]:
        return _sums_to_one(_unique_names(v, "region"), "region")


class Category(Model):
    """A product category: its share of baskets and its cost of goods."""

    name: Name
    """Category name."""
    share: Share
    """Share of baskets whose main item is in this category."""
    cost_of_goods: Annotated[float, Field(ge=0.0, lt=1.0)] = 0.7
    """Cost of goods as a share of list price (gross margin = 1 - this)."""
    price_index: Positive = 1.0
    """Multiplier on the segment's basket value for this category."""
    return_multiplier: NonNeg = 1.0
    """Multiplier on return propensity for this category."""


# ---------------------------------------------------------------------------
# promotions
# ---------------------------------------------------------------------------


class ThresholdTier(Model):
    """Spend `spend`, get `off` off."""

    spend: Positive
    """Basket value (after quantity discounts) that unlocks the tier."""
    off: Positive
    """Amount taken off."""

    @model_validator(mode="after")
    def _below(self) -> Self:
        if self.off >= self.spend:
            raise ValueError(f"off ({self.off:g}) must be below its spend ({self.spend:g})")
        return self


class Threshold(Window):
    """Threshold discounts (满减), tiered; shoppers pad baskets to reach the next tier."""

    enabled: bool = True
    """Switch the mechanism on or off."""
    tiers: tuple[ThresholdTier, ...] = ()
    """Tiers, spend and off both strictly increasing."""
    mode: Literal["tiered", "per_multiple"] = "tiered"
    """tiered: the best tier reached applies once; per_multiple: the top tier repeats per
    multiple of its spend (每满300减50)."""
    scope: Literal["cross_store", "store"] = "cross_store"
    """cross_store: baskets across shops count together; store: one shop's basket only
    (modelled as a smaller basket reaching the tier less often)."""
    categories: tuple[str, ...] = ()
    """Categories it applies to (empty: all)."""
    stacks_with_coupons: bool = True
    """Whether coupons apply on top of the threshold discount."""

    @model_validator(mode="after")
    def _increasing(self) -> Self:
        if self.enabled and not self.tiers:
            raise ValueError("an enabled threshold discount needs at least one tier")
        for a, b in zip(self.tiers, self.tiers[1:], strict=False):
            if not (b.spend > a.spend and b.off > a.off):
                raise ValueError(
                    "tiers must increase in both spend and off "
                    f"({a.spend:g}/{a.off:g} then {b.spend:g}/{b.off:g})"
                )
        return self


class QuantityTier(Model):
    """Buy at least `units`, get `discount` off the unit price."""

    units: Annotated[int, Field(ge=2, le=2**31 - 1)]
    """Units that unlock the tier."""
    discount: Annotated[float, Field(gt=0.0, lt=1.0)]
    """Fraction off the unit price."""


class PriceCut(Window):
    """A straight price cut: a fraction off every item (the plain alternative in A/B tests)."""

    enabled: bool = True
    """Switch the mechanism on or off."""
    rate: Annotated[float, Field(gt=0.0, lt=1.0)] = 0.1
    """Fraction off the list price."""
    categories: tuple[str, ...] = ()
    """Categories it applies to (empty: all)."""


class Quantity(Window):
    """Quantity tiers: the more units, the lower the unit price (stock-up goods)."""

    enabled: bool = True
    """Switch the mechanism on or off."""
    tiers: tuple[QuantityTier, ...] = ()
    """Tiers, units and discount strictly increasing."""
    categories: tuple[str, ...] = ()
    """Categories it applies to (empty: all)."""

    @model_validator(mode="after")
    def _increasing(self) -> Self:
        if self.enabled and not self.tiers:
            raise ValueError("enabled quantity tiers need at least one tier")
        for a, b in zip(self.tiers, self.tiers[1:], strict=False):
            if not (b.units > a.units and b.discount > a.discount):
                raise ValueError("tiers must increase in both units and discount")
        return self


class Coupon(Model):
    """A coupon: claimed in its claim window, used in its use window."""

    name: Name
    """Coupon name (messages and fission may grant it by name)."""
    enabled: bool = True
    """Switch this coupon on or off."""
    kind: Literal["cross_store", "category", "store", "new_shopper", "repurchase"] = "cross_store"
    """What sort of coupon it is (category coupons need `categories`)."""
    face_value: Positive
    """Amount off."""
    min_spend: NonNeg = 0.0
    """Basket value needed to use it (must exceed the face value)."""
    claim_start: LocalDateTime | None = None
    """Claim window start. Default: campaign start."""
    claim_end: LocalDateTime | None = None
    """Claim window end. Default: campaign end."""
    use_start: LocalDateTime | None = None
    """Use window start. Default: campaign start."""
    use_end: LocalDateTime | None = None
    """Use window end. Default: campaign end."""
    quantity: PosCount | None = None
    """How many can be claimed in all (real-world count; first come, first served)."""
    budget: Positive | None = None
    """Subsidy budget: caps claims at budget / face_value."""
    per_shopper: PerShopper = 1
    """How many one shopper can hold."""
    categories: tuple[str, ...] = ()
    """Categories it can be used on (empty: all)."""
    segments: tuple[str, ...] = ()
    """Segments it is offered to (empty: all)."""
    stacks_with_threshold: bool = True
    """Whether it can be used on top of a threshold discount."""
    claimable: bool = True
    """False for coupons only granted by messages or fission, never claimed freely."""

    @model_validator(mode="after")
    def _windows(self) -> Self:
        if self.min_spend and self.min_spend <= self.face_value:
            raise ValueError(
                f"min_spend ({self.min_spend:g}) must exceed face_value ({self.face_value:g})"
            )
        for a, b, label in (
            (self.claim_start, self.claim_end, "claim"),
            (self.use_start, self.use_end, "use"),
        ):
            if a is not None and b is not None and b <= a:
                raise ValueError(f"{label}_end ({b}) must be after {label}_start ({a})")
        if self.kind == "category" and not self.categories:
            raise ValueError("a category coupon must name its categories")
        if self.budget is not None and self.budget / self.face_value > MAX_COUNT:
            raise ValueError(
                f"budget / face_value allows more than {MAX_COUNT:.0e} coupons; check both"
            )
        return self


class Member(Window):
    """Member discount (88VIP, PLUS): extra off for paying members, on top of the rest."""

    enabled: bool = True
    """Switch the mechanism on or off."""
    rate: Annotated[float, Field(ge=0.0, lt=1.0)] = 0.05
    """Fraction off the price after threshold and coupons."""
    max_off: Positive | None = None
    """Cap per order."""
    utility: NonNeg = 0.2
    """Extra purchase utility members feel from the privilege."""


class RedEnvelope(Window):
    """Expanding red envelope (膨胀红包): tasks grow a balance that multiplies on the peak day."""

    enabled: bool = True
    """Switch the mechanism on or off."""
    initial: NonNeg = 5.0
    """Balance granted at the first task."""
    growth_per_task: NonNeg = 2.0
    """Balance added per task."""
    task_probability: Share = 0.5
    """Probability a session includes a task while the task window is open."""
    max_balance: Positive = 50.0
    """Cap on the balance."""
    peak_multiplier: Annotated[float, Field(ge=1.0)] = 2.0
    """Multiplier on the balance when spent on the peak day."""
    min_spend: NonNeg = 0.0
    """Order value needed to spend the envelope."""
    spend_phases: tuple[str, ...] = ()
    """Phases the balance can be spent in (empty: from the window's end to the campaign end;
    the window is when tasks can be done)."""


class Presale(Model):
    """Presale with deposit inflation (定金膨胀) and a tail-payment window."""

    enabled: bool = True
    """Switch the mechanism on or off."""
    deposit: Positive = 10.0
    """Deposit paid."""
    deposit_value: Positive = 50.0
    """What the deposit counts for against the final price (>= deposit)."""
    deposit_start: LocalDateTime
    """Deposit window start."""
    deposit_end: LocalDateTime
    """Deposit window end."""
    tail_start: LocalDateTime
    """Tail-payment window start (not before the deposit window ends)."""
    tail_end: LocalDateTime
    """Tail-payment deadline."""
    uptake: Share = 0.15
    """Probability a shopper with a cart pays a deposit instead of buying now, in the window."""
    item_price: Positive | None = None
    """List price of the presale item (default: the shopper's basket value)."""
    categories: tuple[str, ...] = ()
    """Categories sold on presale (empty: all)."""
    tail_pay_probability: Share = 0.85
    """Probability a depositor pays the tail when visiting in the tail window."""
    rush_hours: Annotated[float, Field(ge=0.0, le=48.0)] = 2.0
    """Length of the rush (尾款冲刺) before the deadline."""
    rush_gift: NonNeg = 10.0
    """Value of the gift or lottery given for paying during the rush (booked as a cost)."""
    rush_lift: Multiplier = 1.5
    """Visit-intensity multiplier for unpaid depositors during the rush."""
    reminder_lift: Multiplier = 2.0
    """Visit-intensity multiplier for unpaid depositors in the tail window (reminders)."""

    @model_validator(mode="after")
    def _windows(self) -> Self:
        if self.deposit_value < self.deposit:
            raise ValueError(
                f"deposit_value ({self.deposit_value:g}) must be at least the deposit "
                f"({self.deposit:g})"
            )
        if self.deposit_end <= self.deposit_start:
            raise ValueError("deposit_end must be after deposit_start")
        if self.tail_end <= self.tail_start:
            raise ValueError("tail_end must be after tail_start")
        if self.tail_start < self.deposit_end:
            raise ValueError(
                f"the tail window (from {self.tail_start}) cannot open before the deposit "
                f"window closes ({self.deposit_end})"
            )
        if self.rush_hours * 3600 > (self.tail_end - self.tail_start).total_seconds():
            raise ValueError("rush_hours is longer than the tail window")
        return self


class FlashSlot(Model):
    """Hourly flash sales (整点秒杀): limited stock at a very low price, first come first served."""

    name: Name
    """Slot series name."""
    enabled: bool = True
    """Switch this series on or off."""
    hours: Annotated[tuple[HourOfDay, ...], Field(min_length=1)]
    """Hours of day a slot opens."""
    dates: tuple[dt.date, ...] = ()
    """Dates with slots (empty: every day of `phases`, or of the campaign)."""
    phases: tuple[str, ...] = ()
    """Phases with slots (empty: all)."""
    minutes: Annotated[int, Field(ge=1, le=60)] = 60
    """How long a slot stays open (it closes earlier when sold out)."""
    stock: PosCount
    """Units per slot (real-world count)."""
    list_price: Positive
    """List price of the item."""
    price_cut: Annotated[float, Field(gt=0.0, le=1.0)]
    """Fraction off the list price (0.999 sells a 1000 item for 1)."""
    limit_per_shopper: PerShopper = 1
    """Units one shopper may win across the series."""
    category: str | None = None
    """Category of the item (default: the first category)."""
    utility: NonNeg = 1.0
    """Pull of an open slot on visit and purchase (urgency)."""


class FirstN(Model):
    """First-N privileges: the first N buyers (or buyers in the first minutes) get a benefit."""

    name: Name
    """Privilege name."""
    enabled: bool = True
    """Switch this privilege on or off."""
    start: LocalDateTime
    """When the privilege opens."""
    n: PosCount | None = None
    """How many buyers get it (real-world count); first come, first served."""
    minutes: Annotated[int, Field(ge=1, le=1440)] | None = None
    """How long it lasts (default: until n are used, at most 24 h)."""
    discount: Annotated[float, Field(ge=0.0, lt=1.0)] = 0.0
    """Fraction off the order (0.5: half price)."""
    max_off: Positive | None = None
    """Cap on the amount off per order."""
    utility: NonNeg = 0.3
    """Non-price pull (e.g. interest-free instalments)."""
    categories: tuple[str, ...] = ()
    """Categories it applies to (empty: all)."""

    @model_validator(mode="after")
    def _bounded(self) -> Self:
        if self.n is None and self.minutes is None:
            raise ValueError("a first-N privilege needs n (buyers) or minutes (duration)")
        if self.discount == 0.0 and self.utility == 0.0:
            raise ValueError("a first-N privilege needs a discount or a utility")
        return self


class Countdown(Window):
    """Countdown messages ("last 24 hours") before a deadline."""

    name: Name
    """Countdown name."""
    enabled: bool = True
    """Switch it on or off."""
    deadline: LocalDateTime
    """The moment counted down to."""
    hours: Annotated[float, Field(gt=0.0, le=240.0)] = 24.0
    """How long before the deadline it shows."""
    urgency: NonNeg = 0.3
    """Purchase utility added while it shows (times the segment's urgency response)."""
    traffic: Lift = 1.1
    """Visit-intensity multiplier while it shows."""


class Scarcity(Model):
    """Scarcity messages ("only 10 left") on flash items and limited coupons."""

    enabled: bool = True
    """Switch it on or off."""
    below_share: Share = 0.2
    """Shown once remaining stock falls below this share of the initial stock."""
    urgency: NonNeg = 0.4
    """Purchase utility added while it shows (times urgency response)."""


class Message(Model):
    """A re-engagement message (SMS, push, e-mail), optionally carrying a coupon."""

    name: Name
    """Message name."""
    enabled: bool = True
    """Switch it on or off."""
    channel: Literal["sms", "push", "email", "in_app"] = "push"
    """How it is sent."""
    segments: tuple[str, ...] = ()
    """Segments it is sent to (empty: all)."""
    dormant_only: bool = False
    """Send only to shoppers dormant at send time."""
    send_at: LocalDateTime
    """When it is sent."""
    reach: Share = 0.5
    """Share of recipients who see it."""
    wake: Share = 0.3
    """Probability a dormant shopper who sees it becomes active."""
    lift: Lift = 2.0
    """Visit-intensity multiplier for those who see it, for `lift_hours`."""
    lift_hours: Annotated[float, Field(gt=0.0, le=240.0)] = 24.0
    """How long the lift lasts."""
    coupon: str | None = None
    """Name of a coupon granted to those who see it."""
    cost_per_message: NonNeg = 0.0
    """Cost per message sent (real-world)."""


class CartRecall(Model):
    """Cart-abandonment recall messages."""

    enabled: bool = True
    """Switch it on or off."""
    delay_hours: Annotated[float, Field(gt=0.0, le=72.0)] = 2.0
    """Delay after abandonment."""
    recall_rate: Share = 0.15
    """Probability an abandoned cart is brought back to checkout."""
    cost_per_message: NonNeg = 0.01
    """Cost per recall message."""


class Gift(Window):
    """Gifts and bundles: buy-one-get-one, bundle sets, a gift above a spend."""

    name: Name
    """Gift name."""
    enabled: bool = True
    """Switch it on or off."""
    kind: Literal["gift", "bogo", "bundle"] = "gift"
    """gift: an item given above min_spend; bogo: buy one get one; bundle: a set below the parts."""
    min_spend: NonNeg = 0.0
    """Order value needed."""
    value: NonNeg = 0.0
    """Cost to the seller per order (gift) or discount as a fraction for bogo/bundle
    (0.5 for buy-one-get-one)."""
    utility: NonNeg = 0.2
    """Purchase utility added."""
    take_up: Share = 1.0
    """Share of qualifying orders that take it (bundles are chosen, not automatic)."""
    categories: tuple[str, ...] = ()
    """Categories (empty: all)."""

    @model_validator(mode="after")
    def _fraction(self) -> Self:
        if self.kind in ("bogo", "bundle") and self.value > 1.0:
            raise ValueError(
                f"the value of a {self.kind} is the discount as a fraction (0.5 for "
                f"buy-one-get-one), at most 1; got {self.value:g}"
            )
        return self


class Points(Window):
    """Points, doubling and lotteries."""

    enabled: bool = True
    """Switch it on or off."""
    rate: Annotated[float, Field(ge=0.0, le=0.2)] = 0.01
    """Value of points earned per unit of currency paid."""
    multiplier: Annotated[float, Field(ge=1.0)] = 2.0
    """Points multiplier in the window (doubling)."""
    lottery_prob: Share = 0.0
    """Chance an order wins the lottery."""
    lottery_prize: NonNeg = 0.0
    """Prize value."""
    utility: NonNeg = 0.1
    """Purchase utility added."""


class Instalments(Window):
    """Interest-free instalments: the platform pays the fee."""

    enabled: bool = True
    """Switch it on or off."""
    min_spend: NonNeg = 500.0
    """Order value needed."""
    fee_rate: Annotated[float, Field(ge=0.0, le=0.2)] = 0.02
    """Fee paid by the platform, as a share of the order."""
    take_up: Share = 0.3
    """Share of qualifying orders that use it."""
    utility: NonNeg = 0.3
    """Purchase utility added for qualifying baskets."""


class Fission(Window):
    """Social fission: invite friends, get a coupon; invited friends may come."""

    enabled: bool = True
    """Switch it on or off."""
    invites: PosCount = 3
    """Friends to invite."""
    participation: Share = 0.05
    """Probability a session leads to completing the invitations."""
    coupon: str
    """Coupon granted on completion."""
    new_shopper_rate: NonNeg = 0.3
    """New shoppers brought per completion (per simulated shopper; they join the new segment)."""


class Promotions(Model):
    """Every promotion mechanic of the plan. Each has `enabled`."""

    price_cut: PriceCut = PriceCut(enabled=False)
    """Straight price cut."""
    threshold: Threshold = Threshold(enabled=False)
    """Threshold discounts."""
    quantity: Quantity = Quantity(enabled=False)
    """Quantity tiers."""
    coupons: Annotated[tuple[Coupon, ...], Field(max_length=31)] = ()
    """Coupons (at most 31: a shopper's claims of an hour are kept as the bits of a 32-bit
    integer)."""
    member: Member = Member(enabled=False)
    """Member discount."""
    red_envelope: RedEnvelope = RedEnvelope(enabled=False)
    """Expanding red envelope."""
    presale: Presale | None = None
    """Presale deposits and tails."""
    flash: tuple[FlashSlot, ...] = ()
    """Flash slot series."""
    first_n: tuple[FirstN, ...] = ()
    """First-N privileges."""
    countdowns: tuple[Countdown, ...] = ()
    """Countdowns."""
    scarcity: Scarcity = Scarcity(enabled=False)
    """Scarcity messages."""
    messages: Annotated[tuple[Message, ...], Field(max_length=16)] = ()
    """Re-engagement messages (at most 16: the messages a shopper has seen are kept as the
    bits of a 16-bit integer)."""
    cart_recall: CartRecall = CartRecall(enabled=False)
    """Cart-abandonment recall."""
    gifts: tuple[Gift, ...] = ()
    """Gifts and bundles."""
    points: Points = Points(enabled=False)
    """Points and lotteries."""
    instalments: Instalments = Instalments(enabled=False)
    """Interest-free instalments."""
    fission: Fission | None = None
    """Social fission."""

    @model_validator(mode="after")
    def _names(self) -> Self:
        for items, what in (
            (self.coupons, "coupon"),
            (self.flash, "flash slot"),
            (self.first_n, "first-N"),
            (self.countdowns, "countdown"),
            (self.messages, "message"),
            (self.gifts, "gift"),
        ):
            _unique_names(items, what)
        return self


# ---------------------------------------------------------------------------
# marketing
# ---------------------------------------------------------------------------


class BudgetSplit(Model):
    """Shares of the campaign budget; they sum to 1."""

    traffic: Share = 0.40
    """Traffic acquisition (channel spend comes from here)."""
    subsidy: Share = 0.30
    """Platform subsidy (discounts, coupons, envelopes)."""
    technology: Share = 0.15
    """Technology and capacity."""
    reserve: Share = 0.10
    """Risk reserve."""
    logistics: Share = 0.05
    """Logistics (surge staff, overflow)."""

    @model_validator(mode="after")
    def _sum(self) -> Self:
        total = self.traffic + self.subsidy + self.technology + self.reserve + self.logistics
        if abs(total - 1.0) > 1e-6:
            raise ValueError(f"budget split shares must sum to 1 (they sum to {total:.6g})")
        return self


class Response(Model):
    """Saturating (Hill) response of reach to spend: reach = max * s^k / (s^k + half^k)."""

    max_reach: Share = 0.6
    """Largest share of the targeted segments the channel can reach."""
    half_saturation: Positive = 1e8
    """Spend that reaches half of max_reach."""
    shape: Annotated[float, Field(gt=0.0, le=10.0)] = 1.0
    """Hill exponent k (1: concave; >1: S-shaped)."""


class Channel(Window):
    """A marketing channel: its spend reaches shoppers and lifts their visit intensity."""

    name: Name
    """Channel name."""
    kind: Literal[
        "social", "kol", "live_stream", "search", "email", "sms", "push", "offline", "other"
    ] = "other"
    """What sort of channel."""
    spend: NonNeg
    """Spend over the window (real-world)."""
    response: Response = Response()
    """Spend -> reach curve."""
    lift: Lift = 1.5
    """Visit-intensity multiplier for reached shoppers during the window."""
    segments: tuple[str, ...] = ()
    """Segments reached (empty: all)."""
    new_shoppers: NonNeg = 0.0
    """Share of reached shoppers of new-shopper segments acquired (multiplies their visit
    rate only through the lift; reported per channel)."""


class Marketing(Model):
    """The campaign budget, its split and the channels."""

    budget: Money = 0.0
    """Total campaign budget (real-world)."""
    split: BudgetSplit = BudgetSplit()
    """Split of the budget."""
    channels: tuple[Channel, ...] = ()
    """Channels; their spend must fit in the traffic share of the budget."""

    @model_validator(mode="after")
    def _fits(self) -> Self:
        _unique_names(self.channels, "channel")
        spend = sum(c.spend for c in self.channels)
        cap = self.budget * self.split.traffic
        if spend > cap * (1 + 1e-9):
            raise ValueError(
                f"channel spend ({spend:.6g}) exceeds the traffic budget "
                f"(budget {self.budget:.6g} x traffic share {self.split.traffic:g} = {cap:.6g})"
            )
        return self


# ---------------------------------------------------------------------------
# fulfilment
# ---------------------------------------------------------------------------


class Shift(Model):
    """A daily shift: staff on duty and their pick rate."""

    start_hour: HourOfDay
    """Hour of day the shift starts."""
    end_hour: Annotated[int, Field(ge=1, le=24)]
    """Hour of day it ends (24 = midnight); must be after start_hour."""
    staff: Count
    """Workers on the shift."""
    picks_per_worker_hour: Positive = 40.0
    """Orders picked and packed per worker-hour."""

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.end_hour <= self.start_hour:
            raise ValueError(
                f"end_hour ({self.end_hour}) must be after start_hour ({self.start_hour}); "
                "split a night shift in two"
            )
        return self


class Surge(Model):
    """Temporary staff requested when backlog passes a threshold."""

    enabled: bool = True
    """Switch surge staffing on or off."""
    backlog_threshold: Positive = 20_000.0
    """Backlog (orders) that triggers a request."""
    lead_hours: NonNeg = 12.0
    """Hours from request to arrival."""
    staff: Count = 100
    """Workers added per request."""
    max_staff: Count = 500
    """Most surge workers on site at once."""
    cost_per_hour: NonNeg = 40.0
    """Cost per surge worker-hour."""
    picks_per_worker_hour: Positive = 30.0
    """Pick rate of a surge worker."""
    min_hours: Positive = 8.0
    """Hours a surge worker is paid for once arrived."""


class Overflow(Model):
    """Where orders go when storage is full."""

    to: str = "third_party"
    """'third_party' or the name of a neighbouring site."""
    cost_per_order: NonNeg = 3.0
    """Extra cost per overflowed order."""
    delay_hours: NonNeg = 12.0
    """Extra delay of an overflowed order."""
    capacity_per_hour: NonNeg | None = None
    """Orders per hour the overflow can take (default: unlimited)."""


class Site(Model):
    """A warehouse: shifts, surge staff, storage, overflow."""

    name: Name
    """Site name."""
    region: str
    """Region the site is in."""
    serves: tuple[str, ...] = ()
    """Regions whose orders it takes (default: its own region)."""
    shifts: Annotated[tuple[Shift, ...], Field(min_length=1)]
    """Daily shifts (may not overlap)."""
    storage: Positive
    """Orders the site can hold waiting (backlog capacity)."""
    surge: Surge = Surge(enabled=False)
    """Surge staffing."""
    overflow: Overflow = Overflow()
    """Overflow when storage is full."""
    cost_per_order: NonNeg = 2.0
    """Handling cost per order picked."""

    @model_validator(mode="after")
    def _shifts(self) -> Self:
        spans = sorted((s.start_hour, s.end_hour) for s in self.shifts)
        for (_a0, a1), (b0, _b1) in itertools.pairwise(spans):
            if b0 < a1:
                raise ValueError("shifts may not overlap")
        return self


class Prepositioning(Model):
    """Presale orders picked ahead in forward warehouses, released at the peak-day opening."""

    enabled: bool = True
    """Switch it on or off."""
    share: Share = 0.8
    """Share of presale orders picked ahead."""
    release_at: LocalDateTime | None = None
    """When picked-ahead orders are released (default: start of the peak phase)."""


class Linehaul(Model):
    """Scheduled trucks from a site to the last mile."""

    site: str
    """Site name."""
    departures: Annotated[tuple[HourOfDay, ...], Field(min_length=1)]
    """Hours of day trucks leave."""
    capacity: Positive
    """Orders per departure."""
    transit_hours: NonNeg = 12.0
    """Hours on the road."""
    cost_per_departure: NonNeg = 0.0
    """Cost per departure."""


class Couriers(Model):
    """Last-mile couriers of a region."""

    region: str
    """Region served."""
    count: Count
    """Couriers."""
    parcels_per_day: Positive = 150.0
    """Parcels each delivers per working day."""
    start_hour: HourOfDay = 8
    """Working day start."""
    end_hour: Annotated[int, Field(ge=1, le=24)] = 20
    """Working day end."""
    cost_per_parcel: NonNeg = 1.5
    """Cost per parcel delivered."""

    @model_validator(mode="after")
    def _hours(self) -> Self:
        if self.end_hour <= self.start_hour:
            raise ValueError("end_hour must be after start_hour")
        return self


class Fault(Model):
    """A site outage or a courier shortfall."""

    kind: Literal["site_outage", "courier_shortfall"]
    """What fails."""
    site: str | None = None
    """Site (for site_outage)."""
    region: str | None = None
    """Region (for courier_shortfall)."""
    start: LocalDateTime
    """When it starts."""
    end: LocalDateTime
    """When it ends."""
    capacity_factor: Share = 0.0
    """Share of capacity left while it lasts (0: none)."""

    @model_validator(mode="after")
    def _target(self) -> Self:
        if self.end <= self.start:
            raise ValueError("end must be after start")
        if self.kind == "site_outage" and self.site is None:
            raise ValueError("a site_outage needs `site`")
        if self.kind == "courier_shortfall" and self.region is None:
            raise ValueError("a courier_shortfall needs `region`")
        return self


class Returns(Model):
    """Returns flowing back through the sites."""

    delay_hours: NonNeg = 72.0
    """Mean hours from delivery to the return arriving back."""
    handling_picks: NonNeg = 1.5
    """Pick-equivalents of capacity a return takes (inspection, restock)."""
    restock_share: Share = 0.8
    """Share of returns restocked for resale."""
    cost_per_return: NonNeg = 8.0
    """Handling and reverse-logistics cost per return."""


class Fulfilment(Model):
    """Warehouses, linehaul, couriers, faults and returns."""

    promise_hours: Positive = 48.0
    """Delivery promise shown at checkout and used for the on-time share."""
    sites: tuple[Site, ...] = ()
    """Warehouses (none: fulfilment is not modelled)."""
    prepositioning: Prepositioning = Prepositioning(enabled=False)
    """Presale pre-positioning."""
    linehaul: tuple[Linehaul, ...] = ()
    """Linehaul schedules."""
    couriers: tuple[Couriers, ...] = ()
    """Couriers per region."""
    faults: tuple[Fault, ...] = ()
    """Faults."""
    returns: Returns = Returns()
    """Returns handling."""

    @model_validator(mode="after")
    def _names(self) -> Self:
        _unique_names(self.sites, "site")
        return self


# ---------------------------------------------------------------------------
# behaviour
# ---------------------------------------------------------------------------


class Behaviour(Model):
    """Weights of the shoppers' decision model (docs/model.md).

    ASSUMPTIONS: chosen so that the baseline's funnel rates are plausible, not fitted;
    they are the first thing to calibrate against last year's data, and natural
    parameters for a sensitivity sweep.
    """

    depth_weight: NonNeg = 4.0
    """Logit utility per unit of discount depth, times price sensitivity."""
    price_weight: NonNeg = 0.5
    """Utility lost per log-unit of price above the typical basket, times price sensitivity."""
    coupon_weight: NonNeg = 0.3
    """Utility of holding a coupon ("use it or lose it"), times coupon affinity."""
    satiation_weight: NonNeg = 1.5
    """Utility lost right after a purchase, times (1 - repeat_purchase)."""
    satiation_hours: Positive = 72.0
    """Decay time of satiation after a purchase."""
    promise_weight: NonNeg = 0.3
    """Utility lost per day of delivery promise beyond one day."""
    fatigue_hours: Positive = 24.0
    """Decay time of session fatigue."""
    return_depth_weight: NonNeg = 1.0
    """Extra return propensity per unit of discount depth."""
    impulse_return_weight: NonNeg = 0.3
    """Extra return propensity of impulse orders (bought in a spike or a flash slot)."""
    store_scope_share: Share = 0.6
    """Share of a basket counted towards a store-scope threshold."""
    consolation: Share = 0.5
    """Probability a shopper who lost a flash slot goes on shopping."""
    deferral_margin: NonNeg = 0.02
    """Smallest gain in headline discount rate worth waiting for."""
    flash_urgency: NonNeg = 0.5
    """Urgency from an open flash slot, per unit of its utility."""


# ---------------------------------------------------------------------------
# the scenario
# ---------------------------------------------------------------------------


class Scenario(Model):
    """A whole campaign plan, resolved (after `base` and overrides)."""

    campaign: Campaign
    """Name, clock, seed and targets."""
    calendar: Calendar
    """Phases, category days, diurnal profile and spikes."""
    population: Population
    """Shoppers: how many, segments, regions."""
    categories: Annotated[tuple[Category, ...], Field(min_length=1)]
    """Product categories; shares sum to 1."""
    promotions: Promotions = Promotions()
    """Promotion mechanics."""
    marketing: Marketing = Marketing()
    """Budget and channels."""
    fulfilment: Fulfilment = Fulfilment()
    """Warehouses and couriers."""
    behaviour: Behaviour = Behaviour()
    """Weights of the shoppers' decision model (assumptions to calibrate)."""

    @field_validator("categories")
    @classmethod
    def _categories(cls, value: tuple[Category, ...]) -> tuple[Category, ...]:
        # a field validator, not the model validator below, so errors point at `categories`
        _unique_names(value, "category")
        return _sums_to_one(value, "category")

    @model_validator(mode="after")
    def _cross(self) -> Self:
        problems = cross_check(self)
        if problems:
            raise CrossFieldErrors(problems)
        return self


class CrossFieldErrors(Exception):
    """Raised by Scenario validation with every cross-field problem found.

    Deliberately not a ValueError: pydantic lets it through unchanged, so each
    problem keeps its own field path.
    """

    def __init__(self, problems: list[tuple[tuple[str | int, ...], str, Any]]) -> None:
        super().__init__(f"{len(problems)} cross-field problem(s)")
        self.problems = problems


# imported late: cross_check needs the models above
from sim.scenario.checks import cross_check  # noqa: E402
