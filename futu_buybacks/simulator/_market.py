"""A synthetic market of share buybacks, dated by session, to research on and to serve.

``SyntheticMarket(codes, start=, end=, seed=)`` simulates every code once, deterministically
(each code from its own random stream, so a code's records do not depend on which other codes
are simulated with it), and then answers what was known at any session:

- ``records_until(date)``: every code's records as known at the end of ``date``, newest first,
  each record in the version it had then (amendments published by then applied);
- ``changes(date)``: what became known on that session (new records and amendments), the step a
  world advancing session by session applies;
- ``dataset()``: a :class:`Dataset` of the records known at the end of the period, for the
  simulator; ``synthetic_market(...)`` is ``SyntheticMarket(...).dataset()``.

The model, each rule and parameter (:class:`MarketModel`), is documented in docs/simulator.md,
"The synthetic market".  ``programmes`` (HK) and ``plans`` (A-share) hold the ground truth the
records were drawn from.
"""

import bisect
import dataclasses
import datetime as dt
import functools
import hashlib
from dataclasses import dataclass
from typing import Dict, Iterable, List, Mapping, NamedTuple, Optional, Sequence, Tuple, Union

import numpy as np
import pandas as pd

from .._cache import IDENTITY
from .._codes import MARKETS, parse_code
from .._schema import SCHEMA_BY_MARKET
from ._dataset import Dataset, Record

#: The HK share class of every synthetic record.
HK_SHARE_TYPE = "普通股"
A_SHARE_TYPE = "A股"
A_MODE = "集中竞价"
#: ``event_proce_desc`` of each A-share stage, in the order a plan moves through them.
PLAN, APPROVAL, IMPLEMENTING, COMPLETED, STOPPED = "董事会预案", "股东大会通过", "实施", "完成", "停止实施"
STAGES = (PLAN, APPROVAL, IMPLEMENTING, COMPLETED, STOPPED)
#: Month-days that are never sessions in the default calendar (besides weekends).
DEFAULT_HOLIDAYS = ((1, 1), (5, 1), (10, 1), (12, 25))
#: HK board lots a synthetic company trades in.
HK_LOTS = (100, 200, 400, 500, 1000, 2000)
#: HKEX spread table: (price from, tick).
HK_TICKS = ((0.0, 0.001), (0.25, 0.005), (0.5, 0.01), (10.0, 0.02), (20.0, 0.05), (100.0, 0.1),
            (200.0, 0.2), (500.0, 0.5), (1000.0, 1.0))
_ZONE = 8 * 3600  # HK and A-share midnight is 16:00 UTC the day before
_EPOCH = dt.date(1970, 1, 1).toordinal()


@dataclass(frozen=True)
class MarketModel:
    """The synthetic market's parameters.  Pairs ``(low, high)`` are ranges a company draws its
    own value from (log-uniformly for sizes, prices and means, uniformly for fractions)."""

    active: float = 0.3               # share of companies that buy back at some time; the rest never do
    amended: float = 0.02             # share of records with amounts whose first version is corrected later
    amendment_delay: float = 5.0      # mean sessions from a record to its correction (geometric)
    market_vol: float = 0.012         # daily volatility of the market factor (one per market)
    beta: Tuple[float, float] = (0.6, 1.4)
    vol: Tuple[float, float] = (0.012, 0.03)           # a company's own daily volatility
    dip: float = 3.0                  # buying scales with exp(-dip * trailing return), within 0.5..2 (0.3..3 for plans)
    # Hong Kong
    hk_issued: Tuple[float, float] = (1e8, 2e10)       # issued shares
    hk_price: Tuple[float, float] = (0.5, 600.0)       # HK$; the walk is reflected at both ends
    hk_turnover: Tuple[float, float] = (0.0005, 0.003)  # daily volume / issued shares (median; lognormal days)
    hk_fraction: Tuple[float, float] = (0.05, 0.25)    # a buying day's shares / that day's volume
    hk_mandate_use: float = 0.6       # chance an active company buys under a given year's mandate
    hk_mandate_limit: float = 0.10    # the general mandate: this share of the issued shares at the AGM
    hk_quiet: float = 40.0            # mean sessions before a programme (after the AGM or the last one)
    hk_programme: float = 120.0       # mean sessions a programme lasts
    hk_streak: Tuple[float, float] = (2.0, 12.0)       # a company's mean streak of buying sessions
    hk_gap: Tuple[float, float] = (3.0, 40.0)          # a company's mean gap between streaks
    hk_blackout_days: int = 30        # no buying this many calendar days before results
    # A-share
    a_shares: Tuple[float, float] = (5e7, 5e9)         # total shares
    a_price: Tuple[float, float] = (2.0, 200.0)        # CNY; the walk is reflected at both ends
    a_turnover: Tuple[float, float] = (0.005, 0.03)
    a_fraction: Tuple[float, float] = (0.02, 0.10)
    a_plan_rate: float = 0.35         # plans a year an active idle company announces (before the dip factor)
    a_meeting: float = 0.35           # share of plans that need the shareholders' approval
    a_meeting_sessions: Tuple[int, int] = (15, 30)     # board plan to shareholders' meeting
    a_period_months: Tuple[Tuple[int, float], ...] = ((3, 0.15), (6, 0.25), (12, 0.60))
    a_size: Tuple[float, float] = (0.003, 0.02)        # planned amount ceiling / market value at the plan
    a_price_cap: Tuple[float, float] = (1.3, 1.6)      # price ceiling / price at the plan
    a_price_floor: float = 0.1        # share of plans that also set a price floor
    a_start: float = 10.0             # mean sessions from the period's start to the first purchase
    a_streak: Tuple[float, float] = (2.0, 8.0)
    a_gap: Tuple[float, float] = (2.0, 15.0)
    a_stop: float = 0.08              # share of plans stopped by the board before they end
    a_limit: float = 0.10             # a plan buys at most this share of the total shares
    a_cooldown: int = 20              # sessions after a plan ends before the next can be announced
    a_blackout_sessions: int = 10     # no buying this many sessions before a periodic report


class Amendment(NamedTuple):
    """A record's new version: on session ``date`` the record of ``code`` with ``identity``
    (:meth:`SyntheticMarket.identity`) gets ``fields``; ``previous`` are the values it had (None:
    absent).  Two kinds: a correction of ``buy_back_money``, and an A-share plan's record
    approved by the shareholders (its stage, ``meet_pass_date`` and period)."""

    date: pd.Timestamp
    code: str
    identity: tuple
    fields: Dict[str, object]
    previous: Dict[str, object]


class Change(NamedTuple):
    """What became known on session ``date``: a ``"new"`` record or an ``"amended"`` one (the
    record in its new version)."""

    date: pd.Timestamp
    code: str
    kind: str
    record: Record


@dataclass
class Programme:
    """HK ground truth: purchases under one mandate round (AGM to AGM) of ``code``."""

    code: str
    round_start: pd.Timestamp
    round_end: pd.Timestamp           # the last session of the round
    issued: int                       # issued shares at the round's start
    streaks: List[Tuple[pd.Timestamp, pd.Timestamp]]   # first and last session of each run of purchases
    shares: int                       # bought in the round


@dataclass
class Plan:
    """A-share ground truth: one buyback plan of ``code`` and what became of it."""

    code: str
    announced: pd.Timestamp
    approved: Optional[pd.Timestamp]  # shareholders' meeting, for plans that need one
    period: Optional[Tuple[pd.Timestamp, pd.Timestamp]]   # None while the shareholders have not approved it
    value: Tuple[float, float]
    price_ceiling: float
    target: float                     # the money the company means to spend
    outcome: Optional[str]            # COMPLETED, STOPPED, or None when still running at the end
    closed: Optional[pd.Timestamp]    # the session the outcome was announced
    shares: int
    money: float
    purchases: List[pd.Timestamp]


def weekday_sessions(start: object, end: object, holidays: Iterable[Tuple[int, int]] = DEFAULT_HOLIDAYS
                     ) -> pd.DatetimeIndex:
    """Weekdays from ``start`` to ``end`` except the month-days in ``holidays`` (the default
    calendar of both markets)."""
    days = pd.bdate_range(pd.Timestamp(start).normalize(), pd.Timestamp(end).normalize())
    off = {(m, d) for m, d in holidays}
    return days[[(m, d) not in off for m, d in zip(days.month, days.day)]]


def synthetic_codes(hk: int, a: int) -> List[str]:
    """``hk`` HK codes (HK.00001, HK.00002, ...) and ``a`` A-share codes, half Shanghai
    (SH.600000, ...) and a quarter each Shenzhen main board (SZ.000001, ...) and ChiNext (SZ.300001, ...)."""
    sh, sz = (a + 1) // 2, a - (a + 1) // 2
    return ([f"HK.{i:05d}" for i in range(1, hk + 1)] + [f"SH.{600000 + i}" for i in range(sh)]
            + [f"SZ.{i:06d}" for i in range(1, (sz + 1) // 2 + 1)]
            + [f"SZ.{300001 + i}" for i in range(sz // 2)])


#: The universe of ``codes=None``: a few hundred codes of each market.
DEFAULT_UNIVERSE = (300, 300)


class _Calendar:
    """One market's sessions with what the simulation reads per session."""

    def __init__(self, sessions: pd.DatetimeIndex):
        self.dates = sessions
        self.stamps: List[pd.Timestamp] = list(sessions)
        self.n = len(sessions)
        self.ordinals: List[int] = sessions.values.astype("datetime64[D]").astype(np.int64).tolist()  # days since 1970
        self.ts: List[int] = [day * 86400 - _ZONE for day in self.ordinals]
        self.text: List[str] = [str(day) for day in sessions.values.astype("datetime64[D]")]
        self.doy = sessions.day_of_year.to_numpy()
        self.years = sorted(set(sessions.year.tolist()))
        month = sessions.year.to_numpy() * 12 + sessions.month.to_numpy()
        self.month_start: List[int] = np.flatnonzero(np.r_[False, month[1:] != month[:-1]]).tolist()

    def day(self, at: int) -> dt.date:
        return dt.date.fromordinal(self.ordinals[at] + _EPOCH)

    def index_on_or_after(self, day: dt.date) -> int:
        return bisect.bisect_left(self.ordinals, day.toordinal() - _EPOCH)

    def index_on_or_before(self, day: dt.date) -> int:
        """The last session on or before ``day`` (-1 if none)."""
        return bisect.bisect_right(self.ordinals, day.toordinal() - _EPOCH) - 1


def _add_months(day: dt.date, months: int) -> dt.date:
    """The same day ``months`` later (the month's last day where it has no such day)."""
    month = day.month - 1 + months
    year, month = day.year + month // 12, month % 12 + 1
    for last in (31, 30, 29, 28):
        try:
            return dt.date(year, month, min(day.day, last))
        except ValueError:
            continue
    raise AssertionError("unreachable")


def _between(pair: Tuple[float, float], u: float) -> float:
    return pair[0] + (pair[1] - pair[0]) * u


def _weighted(choices: Sequence[Tuple[int, float]], u: float) -> int:
    total = sum(weight for _, weight in choices)
    for value, weight in choices:
        u -= weight / total
        if u < 0:
            return value
    return choices[-1][0]


def _loguniform(rng: np.random.Generator, pair: Tuple[float, float]) -> float:
    return float(np.exp(rng.uniform(np.log(pair[0]), np.log(pair[1]))))


def _geometric(rng: np.random.Generator, mean: float) -> int:
    """A length of at least 1 with the given mean."""
    return int(rng.geometric(1.0 / max(mean, 1.0)))


def _walk(rng: np.random.Generator, factor: np.ndarray, bounds: Tuple[float, float], model: MarketModel
          ) -> np.ndarray:
    """Daily prices: a random walk of log price (beta on the market factor plus the company's
    own noise) from a log-uniform start, reflected into ``bounds``."""
    low, high = np.log(bounds[0]), np.log(bounds[1])
    beta, vol = rng.uniform(*model.beta), rng.uniform(*model.vol)
    path = rng.uniform(low, high) + np.cumsum(beta * factor + rng.normal(0.0, vol, len(factor)))
    width = high - low
    folded = np.mod(path - low, 2 * width)
    return np.exp(low + np.where(folded > width, 2 * width - folded, folded))


def _trailing(prices: np.ndarray, sessions: int) -> np.ndarray:
    """Log return over the last ``sessions`` sessions (since the first, for the first ones)."""
    logs = np.log(prices)
    back = np.full_like(logs, logs[0])
    if sessions < len(logs):
        back[sessions:] = logs[:-sessions]
    return logs - back


def _streaks(rng: np.random.Generator, length: int, streak: float, gap: float) -> np.ndarray:
    """Positions 0..length-1 on which a company buys: streaks and gaps of geometric lengths
    with means ``streak`` and ``gap``, starting with a streak."""
    pairs = max(4, int(2 * length / (streak + gap)) + 4)
    while True:
        lengths = rng.geometric(1.0 / np.array([max(streak, 1.0), max(gap, 1.0)]), (pairs, 2))
        if lengths.sum() >= length:
            break
        pairs *= 2
    buying = np.repeat(np.tile([True, False], pairs), lengths.ravel())[:length]
    return np.flatnonzero(buying)


def _runs(positions: Sequence[int]) -> List[Tuple[int, int]]:
    """Maximal runs of consecutive integers, as (first, last)."""
    found: List[Tuple[int, int]] = []
    for p in positions:
        if found and p == found[-1][1] + 1:
            found[-1] = (found[-1][0], p)
        else:
            found.append((p, p))
    return found


def _hk_tick(prices: np.ndarray) -> np.ndarray:
    edges = np.array([edge for edge, _ in HK_TICKS])
    ticks = np.array([tick for _, tick in HK_TICKS])
    return ticks[np.searchsorted(edges, prices, side="right") - 1]


def _to_tick(prices: np.ndarray) -> np.ndarray:
    tick = _hk_tick(prices)
    return np.round(np.maximum(np.round(prices / tick), 1) * tick, 3)


def _nice(amount: float) -> float:
    """An amount as a board writes it: two significant figures, at least a million."""
    if amount < 1e6:
        return 1e6
    scale = 10 ** (int(np.floor(np.log10(amount))) - 1)
    return float(round(amount / scale) * scale)


class _Entry:
    """One record of a code: the session it became known, its latest version, and, for an
    amended record, its first version's differing fields (None: absent) and the session of the
    amendment."""

    __slots__ = ("known", "record", "first", "amended")

    def __init__(self, known: int, record: Record):
        self.known = known
        self.record = record
        self.first: Optional[Dict[str, object]] = None
        self.amended: Optional[int] = None

    def first_version(self) -> Record:
        if self.first is None:
            return dict(self.record)
        merged = {**self.record, **self.first}
        return {k: v for k, v in merged.items() if v is not None}


def _amend(rng: np.random.Generator, entries: List[_Entry], calendar: _Calendar, model: MarketModel) -> None:
    """Give some records with amounts a first version whose money was wrong, corrected later
    (only corrections published within the period)."""
    if model.amended <= 0 or not entries:
        return
    draws = rng.random(len(entries))
    for entry, draw in zip(entries, draws.tolist()):
        money = entry.record.get("buy_back_money")
        if draw >= model.amended or money is None or entry.first is not None:
            continue
        when = entry.known + _geometric(rng, model.amendment_delay)
        if when >= calendar.n:
            continue
        error = float(rng.choice((-1.0, 1.0)) * rng.uniform(0.01, 0.10))
        entry.first = {"buy_back_money": round(float(money) * (1.0 + error), 2)}
        entry.amended = when


def _simulate_hk(code: str, rng: np.random.Generator, cal: _Calendar, factor: np.ndarray, model: MarketModel
                 ) -> Tuple[List[_Entry], List[Programme]]:
    n = cal.n
    issued = int(round(_loguniform(rng, model.hk_issued), -3))
    lot = int(rng.choice(HK_LOTS))
    prices = _walk(rng, factor, model.hk_price, model)
    volume = issued * _loguniform(rng, model.hk_turnover) * np.exp(rng.normal(0.0, 0.5, n) - 0.125)
    fraction = rng.uniform(*model.hk_fraction)
    streak, gap = _loguniform(rng, model.hk_streak), _loguniform(rng, model.hk_gap)
    agm_doy = int(rng.integers(110, 182))                        # 20 April .. 30 June
    results = (int(rng.integers(69, 91)), int(rng.integers(222, 244)))   # March and August
    days = model.hk_blackout_days
    blackout = np.zeros(n, dtype=bool)
    for when in results:
        blackout |= (cal.doy >= when - days) & (cal.doy < when)
    dip = np.clip(np.exp(-model.dip * _trailing(prices, 20)), 0.5, 2.0)
    # mandate rounds: from each AGM (the first session on or after the company's AGM day) to the next
    bounds = [0]
    for year in cal.years:
        at = cal.index_on_or_after(dt.date(year, 1, 1) + dt.timedelta(days=agm_doy - 1))
        if 0 < at < n and at > bounds[-1]:
            bounds.append(at)
    bounds.append(n)
    rounds = list(zip(bounds[:-1], bounds[1:]))
    used = rng.random(len(rounds)) < model.hk_mandate_use
    if not used.any():
        used[int(rng.integers(len(rounds)))] = True
    entries: List[_Entry] = []
    programmes: List[Programme] = []
    for (first, stop), use in zip(rounds, used.tolist()):
        if not use:
            continue
        buys: List[np.ndarray] = []
        at = first + _geometric(rng, model.hk_quiet) - 1
        while at < stop:
            length = min(_geometric(rng, model.hk_programme), stop - at)
            buys.append(at + _streaks(rng, length, streak, gap))
            at += length + _geometric(rng, model.hk_quiet)
        days_bought = np.concatenate(buys) if buys else np.empty(0, dtype=np.int64)
        days_bought = days_bought[~blackout[days_bought]]
        if len(days_bought) == 0:
            continue
        shares = np.maximum(np.floor(volume[days_bought] * fraction * dip[days_bought] / lot), 1) * lot
        limit = int(issued * model.hk_mandate_limit) // lot * lot
        cumulative = np.cumsum(shares)
        over = np.flatnonzero(cumulative > limit)
        if len(over):
            cut = int(over[0])
            rest = limit - (int(cumulative[cut - 1]) if cut else 0)
            shares, days_bought = shares[:cut + 1].copy(), days_bought[:cut + 1]
            shares[cut] = rest
            if rest <= 0:
                shares, days_bought = shares[:cut], days_bought[:cut]
            cumulative = np.cumsum(shares)
        price = prices[days_bought]
        spread = np.abs(rng.normal(0.0, 0.008, (2, len(days_bought))))
        low = _to_tick(price * (1 - spread[0]))
        high = np.maximum(_to_tick(price * (1 + spread[1])), low)
        average = low + (high - low) * rng.beta(2.0, 2.0, len(days_bought))
        money = np.round(shares * average, 2)
        percentage = np.round(shares / issued * 100, 6).tolist()
        cumulative_percentage = np.round(cumulative / issued * 100, 5).tolist()
        ts, text = cal.ts, cal.text
        for s, sh, mo, pc, lo, hi, cum, cpc in zip(
                days_bought.tolist(), shares.astype(np.int64).tolist(), money.tolist(), percentage, low.tolist(),
                high.tolist(), cumulative.astype(np.int64).tolist(), cumulative_percentage):
            if s + 1 >= n:
                break  # disclosed the session after the period
            entries.append(_Entry(s + 1, {
                "publ_date": ts[s + 1], "publ_date_str": text[s + 1], "end_date": ts[s], "end_date_str": text[s],
                "buy_back_money": mo, "buy_back_sum": sh, "percentage": pc, "high_price": hi, "low_price": lo,
                "cumulative_sum": cum, "cumulative_percentage": cpc, "share_type": HK_SHARE_TYPE,
            }))
        programmes.append(Programme(code, cal.stamps[first], cal.stamps[stop - 1], issued,
                                    [(cal.stamps[a], cal.stamps[b]) for a, b in _runs(days_bought.tolist())],
                                    int(cumulative[-1])))
        issued -= int(cumulative[-1])  # bought back and cancelled before the next round
    return entries, programmes


class _Company(NamedTuple):
    """What a simulated A-share company's plans read: its shares, prices, what it can buy each
    session (shares, before the plan's own limits), its blackout sessions and buying rhythm."""

    total: int
    prices: np.ndarray
    capacity: np.ndarray
    blackout: np.ndarray
    streak: float
    gap: float


def _a_blackout(rng: np.random.Generator, cal: _Calendar, model: MarketModel) -> np.ndarray:
    """Sessions before the company's periodic reports (annual with Q1 in late April, interim in
    late August, Q3 in late October)."""
    blackout = np.zeros(cal.n, dtype=bool)
    report_days = (int(rng.integers(105, 121)), int(rng.integers(227, 244)), int(rng.integers(288, 305)))
    for year in cal.years:
        for doy in report_days:
            at = cal.index_on_or_after(dt.date(year, 1, 1) + dt.timedelta(days=doy - 1))
            blackout[max(0, at - model.a_blackout_sessions):min(at, cal.n)] = True
    return blackout


def _simulate_a(code: str, rng: np.random.Generator, cal: _Calendar, factor: np.ndarray, model: MarketModel
                ) -> Tuple[List[_Entry], List[Plan]]:
    n = cal.n
    total = int(round(_loguniform(rng, model.a_shares), -4))
    prices = _walk(rng, factor, model.a_price, model)
    volume = total * _loguniform(rng, model.a_turnover) * np.exp(rng.normal(0.0, 0.5, n) - 0.125)
    dip = np.clip(np.exp(-model.dip * _trailing(prices, 20)), 0.5, 2.0)
    capacity = np.maximum(np.floor(volume * rng.uniform(*model.a_fraction) * dip / 100), 1) * 100
    company = _Company(total, prices, capacity, _a_blackout(rng, cal, model),
                       _loguniform(rng, model.a_streak), _loguniform(rng, model.a_gap))
    chance = model.a_plan_rate / 250 * np.clip(np.exp(-model.dip * _trailing(prices, 60)), 0.3, 3.0)
    candidates = np.flatnonzero(rng.random(n) < chance).tolist()
    if not candidates:
        candidates = [int(rng.integers(0, max(1, int(n * 0.9))))]
    entries: List[_Entry] = []
    plans: List[Plan] = []
    ready = 0
    for board in candidates:
        if board < ready:
            continue
        plan, records, last = _a_plan(code, rng, cal, board, company, model)
        plans.append(plan)
        entries.extend(records)
        if last >= n:
            break
        ready = last + model.a_cooldown
    return entries, plans


def _a_purchases(rng: np.random.Generator, company: _Company, first: int, stop: int, cap: float, target: float,
                 limit: float) -> Tuple[np.ndarray, np.ndarray, np.ndarray, bool]:
    """Sessions bought from ``first`` to before ``stop``, with shares and money of each, and
    whether the plan ended by reaching ``target`` money (or ``limit`` shares)."""
    if first >= stop:
        empty = np.empty(0)
        return empty.astype(np.int64), empty, empty, False
    days = first + _streaks(rng, stop - first, company.streak, company.gap)
    price = np.round(company.prices[days] * (1 + rng.uniform(-0.01, 0.01, len(days))), 2)
    allowed = ~company.blackout[days] & (price * 1.01 <= cap)
    days, price = days[allowed], price[allowed]
    shares = company.capacity[days]
    money = np.cumsum(shares * price)
    bought = np.cumsum(shares)
    reached = np.flatnonzero((money >= target) | (bought > limit))
    if not len(reached):
        return days, shares, shares * price, False
    cut = int(reached[0])
    before_money = float(money[cut - 1]) if cut else 0.0
    before_shares = float(bought[cut - 1]) if cut else 0.0
    need = min(np.ceil((target - before_money) / price[cut] / 100) * 100, (limit - before_shares) // 100 * 100)
    shares = shares[:cut + 1].copy()
    shares[cut] = max(100.0, min(shares[cut], need))
    return days[:cut + 1], shares, shares * price[:cut + 1], True


def _a_plan(code: str, rng: np.random.Generator, cal: _Calendar, board: int, company: _Company,
            model: MarketModel) -> Tuple[Plan, List[_Entry], int]:
    """One plan announced on session ``board``: its ground truth, its records, and the session
    its outcome is announced (``cal.n`` or more when that is after the period)."""
    n = cal.n
    u = rng.random(9).tolist()
    price = float(company.prices[board])
    ceiling = _nice(company.total * price * _between(model.a_size, u[0]))
    floor = ceiling / 2 if u[1] < 0.75 else _nice(ceiling * (0.3 + 0.5 * u[2]))
    cap = round(price * _between(model.a_price_cap, u[3]), 2)
    terms: Record = {
        "advance_date": cal.ts[board], "advance_date_str": cal.text[board],
        "buy_back_mode": A_MODE, "share_type": A_SHARE_TYPE,
        "value_floor": floor, "value_ceiling": ceiling, "price_ceiling": cap,
        "volume_floor": float(int(floor / cap) // 100 * 100), "volume_ceiling": float(int(ceiling / cap) // 100 * 100),
    }
    if u[4] < model.a_price_floor:
        terms["price_floor"] = round(price * (0.5 + 0.3 * u[5]), 2)
    low, high = model.a_meeting_sessions
    meeting = board + low + int(u[6] * (high - low + 1)) if u[7] < model.a_meeting else None
    entries = [_Entry(board, {"event_proce_desc": PLAN, **terms})]
    if meeting is not None and meeting >= n:  # the meeting is after the period: only the plan is known
        return Plan(code, cal.stamps[board], None, None, (floor, ceiling), cap, 0.0, None, None, 0, 0.0, []), \
            entries, meeting
    begin = board if meeting is None else meeting
    months = _weighted(model.a_period_months, u[8])
    period_end = _add_months(cal.day(begin), months) - dt.timedelta(days=1)
    period = {"start_date": cal.ts[begin], "start_date_str": cal.text[begin],
              "end_date": int(period_end.toordinal() - _EPOCH) * 86400 - _ZONE, "end_date_str": period_end.isoformat()}
    last = cal.index_on_or_before(period_end)
    if meeting is None:
        entries[0].record.update(period)
    stop = int(rng.integers(begin + 1, last + 1)) if rng.random() < model.a_stop and last > begin else None
    target = floor + (ceiling - floor) * float(rng.beta(1.5, 3.0))
    first = begin + _geometric(rng, model.a_start)
    days, shares, money, done = _a_purchases(rng, company, first, min(last + 1, n, n if stop is None else stop), cap,
                                             target, company.total * model.a_limit)
    bought = days.tolist()
    cum_shares, cum_money = np.cumsum(shares).astype(np.int64).tolist(), np.round(np.cumsum(money), 2).tolist()
    if done:
        outcome, closed = COMPLETED, bought[-1] + 1
    elif stop is not None:
        outcome, closed = STOPPED, stop
    else:
        outcome, closed = (COMPLETED if bought else STOPPED), last + 1
    # progress reports: the session after the first purchase, after each whole percent of the
    # total shares, and the first session of every month; each covers purchases to the session before
    reports = set()
    if bought:
        reports.add(bought[0] + 1)
        percent = np.floor(np.asarray(cum_shares) / company.total * 100)
        reports.update((days[1:][percent[1:] > percent[:-1]] + 1).tolist())
        reports.update(cal.month_start[bisect.bisect_right(cal.month_start, bought[0] + 1):])
    shown = min(closed, n)

    def amounts(upto: int) -> Record:
        count = bisect.bisect_right(bought, upto)
        if not count:
            return {}
        return {"buy_back_sum": cum_shares[count - 1], "buy_back_money": cum_money[count - 1],
                "percentage": round(cum_shares[count - 1] / company.total * 100, 4)}

    approval = {} if meeting is None else {"meet_pass_date": cal.ts[meeting], "meet_pass_date_str": cal.text[meeting]}
    if meeting is not None:
        # the plan's record (it has no change_date) becomes the approved plan's: the same record
        # in a new version, as the loader's cache identifies records
        plan_record = entries[0]
        plan_record.record = {"event_proce_desc": APPROVAL, **terms, **approval, **period}
        plan_record.first = {"event_proce_desc": PLAN, **{k: None for k in (*approval, *period)}}
        plan_record.amended = meeting
    for at in sorted(r for r in reports if r < shown):
        entries.append(_Entry(at, {"event_proce_desc": IMPLEMENTING, **terms, **approval, **period,
                                   "change_date": cal.ts[at], "change_date_str": cal.text[at], **amounts(at - 1)}))
    if closed < n:
        # the end: the last purchase of a completed plan, the board's stop, or the period's planned end
        end = bought[-1] if outcome == COMPLETED else stop
        ended = period if end is None else {"end_date": cal.ts[end], "end_date_str": cal.text[end]}
        entries.append(_Entry(closed, {"event_proce_desc": outcome, **terms, **approval, **period, **ended,
                                       "change_date": cal.ts[closed], "change_date_str": cal.text[closed],
                                       **amounts(closed - 1)}))
    count = bisect.bisect_right(bought, shown - 1)
    plan = Plan(code, cal.stamps[board], cal.stamps[meeting] if meeting is not None else None,
                (cal.stamps[begin], pd.Timestamp(period_end)), (floor, ceiling), cap, target,
                outcome if closed < n else None, cal.stamps[closed] if closed < n else None,
                cum_shares[count - 1] if count else 0, cum_money[count - 1] if count else 0.0,
                [cal.stamps[d] for d in bought[:count]])
    return plan, entries, closed


def _stream(seed: int, name: str) -> np.random.Generator:
    """The random stream of one code (or one market's factor), the same whatever else is simulated."""
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=tuple(name.encode())))


SessionSource = Union[None, pd.DatetimeIndex, Mapping[str, pd.DatetimeIndex]]


def _session_days(given: pd.DatetimeIndex) -> pd.DatetimeIndex:
    days = pd.DatetimeIndex(given)
    if days.tz is not None:
        days = days.tz_localize(None)
    return days.normalize().unique().sort_values()


class SyntheticMarket:
    """The synthetic market of ``codes`` from ``start`` to ``end`` (see the module docstring).

    - ``codes``: an iterable of codes, an int (that many: half HK, half A-share, by
      :func:`synthetic_codes`), or None (300 HK and 300 A-share codes).
    - ``sessions``: the trading days, a ``DatetimeIndex`` for every market or a mapping from
      ``"HK"``, ``"SH"``, ``"SZ"`` to one (a market left out gets the default); by default
      :func:`weekday_sessions`.  Only sessions from ``start`` to ``end`` are used.
    - ``seed``: the same seed, model and sessions give each code the same records.
    - ``model`` and keyword ``parameters``: :class:`MarketModel` fields (``active=0.5``).
    """

    def __init__(self, codes: Union[None, int, Iterable[str]] = None, *, start: object = "2016-01-01",
                 end: object = "2025-12-31", seed: int = 0, sessions: SessionSource = None,
                 model: Optional[MarketModel] = None, **parameters: object):
        self.model = dataclasses.replace(model or MarketModel(), **parameters)  # type: ignore[arg-type]
        if codes is None:
            codes = synthetic_codes(*DEFAULT_UNIVERSE)
        elif isinstance(codes, int):
            codes = synthetic_codes((codes + 1) // 2, codes // 2)
        self.codes: List[str] = list(dict.fromkeys(str(parse_code(code)) for code in codes))
        self.start, self.end = pd.Timestamp(start).normalize(), pd.Timestamp(end).normalize()
        if self.end < self.start:
            raise ValueError(f"end {self.end.date()} is before start {self.start.date()}")
        self.seed = seed
        if isinstance(sessions, Mapping) and set(sessions) - set(MARKETS):
            raise ValueError(f"sessions has markets {sorted(set(sessions) - set(MARKETS))}; accepted: HK, SH, SZ")
        self._calendars: Dict[str, _Calendar] = {}
        for market in sorted({code[:2] for code in self.codes}):
            given = sessions.get(market) if isinstance(sessions, Mapping) else sessions
            days = weekday_sessions(self.start, self.end) if given is None else _session_days(given)
            days = days[(days >= self.start) & (days <= self.end)]
            if len(days) < 2:
                raise ValueError(f"{market}: fewer than 2 sessions from {self.start.date()} to {self.end.date()}")
            self._calendars[market] = _Calendar(days)
        self._entries: Dict[str, List[_Entry]] = {}
        self.programmes: List[Programme] = []
        self.plans: List[Plan] = []
        factors = {market: _stream(seed, "factor:" + market).normal(0.0, self.model.market_vol, cal.n)
                   for market, cal in self._calendars.items()}
        for code in self.codes:
            rng = _stream(seed, code)
            cal = self._calendars[code[:2]]
            entries: List[_Entry] = []
            if rng.random() < self.model.active:
                if code.startswith("HK"):
                    entries, programmes = _simulate_hk(code, rng, cal, factors[code[:2]], self.model)
                    self.programmes.extend(programmes)
                else:
                    entries, plans = _simulate_a(code, rng, cal, factors[code[:2]], self.model)
                    self.plans.extend(plans)
                entries.sort(key=lambda e: e.known)
                _amend(rng, entries, cal, self.model)
            self._entries[code] = entries
        self.amendments: List[Amendment] = sorted(
            (Amendment(self._calendars[code[:2]].stamps[e.amended], code, self.identity(code, e.record),
                       {k: e.record[k] for k in e.first}, dict(e.first))
             for code, entries in self._entries.items() for e in entries if e.first is not None),
            key=lambda a: (a.date, a.code))
        self._changes: Optional[Dict[pd.Timestamp, List[Change]]] = None

    # ---- what is known when ------------------------------------------------------------------
    @property
    def name(self) -> str:
        """The dataset's name (what the simulator announces, the loader's cache source):
        ``market-SEED-DIGEST``, the digest of the period, sessions, model and codes."""
        digest = hashlib.sha1(repr((self.start, self.end, self.model, self.codes,
                                    [(m, c.ts[0], c.ts[-1], c.n) for m, c in sorted(self._calendars.items())])
                                   ).encode()).hexdigest()[:8]
        return f"market-{self.seed}-{digest}"

    def calendar(self, market: str) -> pd.DatetimeIndex:
        """The sessions of ``market`` (``"HK"``, ``"SH"``, ``"SZ"``) the records are dated on."""
        return self._calendars[market].dates

    def sessions(self) -> pd.DatetimeIndex:
        """Every session of any of its markets, in order: the steps of a world advancing by
        session (:meth:`Simulator.advance <futu_buybacks.simulator.Simulator.advance>`)."""
        dates = [calendar.dates for _, calendar in sorted(self._calendars.items())]
        return functools.reduce(pd.DatetimeIndex.union, dates[1:], dates[0])

    @staticmethod
    def identity(code: str, record: Mapping[str, object]) -> tuple:
        """What names a record across its versions, as the loader's cache identifies records:
        the values of ``end_date``, ``share_type`` for HK; ``advance_date``, ``change_date``,
        ``share_type``, ``seller`` for A-share (None where absent)."""
        return tuple(record.get(name) for name in IDENTITY[SCHEMA_BY_MARKET[code[:2]].key])

    def _position(self, market: str, date: object) -> int:
        """Index of the last session of ``market`` on or before ``date`` (-1 before the first)."""
        return self._calendars[market].index_on_or_before(pd.Timestamp(date).date())

    def records(self, code: str, until: object = None) -> List[Record]:
        """``code``'s records known at the end of session ``until`` (default: the end), newest first."""
        entries = self._entries[code]
        at = self._calendars[code[:2]].n - 1 if until is None else self._position(code[:2], until)
        known = bisect.bisect_right([e.known for e in entries], at)
        out: List[Record] = []
        for entry in reversed(entries[:known]):
            if entry.first is not None and entry.amended > at:  # type: ignore[operator]
                out.append(entry.first_version())
            else:
                out.append(dict(entry.record))
        return out

    def records_until(self, date: object) -> Dict[str, List[Record]]:
        """Every code's records known at the end of ``date`` (a code with none yet: ``[]``)."""
        return {code: self.records(code, date) for code in self.codes}

    def changes(self, date: object) -> List[Change]:
        """What became known on the session ``date`` (nothing on a day that is no session)."""
        if self._changes is None:
            by_day: Dict[pd.Timestamp, List[Change]] = {}
            for code, entries in self._entries.items():
                dates = self._calendars[code[:2]].stamps
                for entry in entries:
                    by_day.setdefault(dates[entry.known], []).append(
                        Change(dates[entry.known], code, "new", entry.first_version()))
                    if entry.amended is not None:
                        by_day.setdefault(dates[entry.amended], []).append(
                            Change(dates[entry.amended], code, "amended", dict(entry.record)))
            self._changes = by_day
        return list(self._changes.get(pd.Timestamp(date).normalize(), []))

    def dataset(self, until: object = None) -> Dataset:
        """The records known at the end of ``until`` (default: the end) as a :class:`Dataset`;
        codes without records are in it with none, so the simulator answers them with an empty list."""
        return Dataset({code: self.records(code, until) for code in self.codes}, name=self.name)


def synthetic_market(codes: Union[None, int, Iterable[str]] = None, *, start: object = "2016-01-01",
                     end: object = "2025-12-31", seed: int = 0, sessions: SessionSource = None,
                     model: Optional[MarketModel] = None, **parameters: object) -> Dataset:
    """The synthetic market's records as known at ``end``, each code's newest first, as a
    :class:`Dataset` (``SyntheticMarket(...).dataset()``; the parameters are its)."""
    return SyntheticMarket(codes, start=start, end=end, seed=seed, sessions=sessions, model=model,
                           **parameters).dataset()
