"""Daily panels of buyback events, by trading session: what was known at each session's open.

A record counts at the first session of its market whose open is at or after its ``known_at``:
that is the session at whose open it was first known (it was not known at the open before).
``daily_panel`` sums, per (session, code), the records that became known at that session, and
over the last W sessions; ``market_series`` aggregates per market and session.

Sessions per market come from exchange_calendars (the default; an optional extra), from OpenD
through the SDK's ``request_trading_days`` (``calendar="opend", ctx=ctx``), or from a
``DatetimeIndex`` of dates.  Everything is computed on (session x code) matrices per market with
numpy: no loop over records or codes.
"""

import datetime as dt
from typing import Any, Dict, Iterable, List, Mapping, NamedTuple, Optional, Sequence, Tuple, Union

import numpy as np
import pandas as pd

from ._codes import parse_code
from ._errors import InvalidArgument
from ._events import ZONES
from ._schema import DATASET_MARKETS, MARKET_SERIES_AMOUNTS, PANEL_AMOUNTS, windowed_columns

DEFAULT_WINDOWS = (20, 60, 250)
#: exchange_calendars' calendar of each market.  Shanghai and Shenzhen keep the same trading
#: days, and exchange_calendars has the Shanghai one only: "XSHE" is read as "XSHG".
DEFAULT_CALENDARS = {"HK": "XHKG", "SH": "XSHG", "SZ": "XSHG"}
CALENDAR_ALIASES = {"XSHE": "XSHG"}
#: When continuous trading opens, local time, from each date on: HKEX moved its morning session
#: from 10:00 to 09:30 on 7 March 2011; Shanghai and Shenzhen open at 09:30 (call auction 09:15).
OPENS = {
    "HK": ((dt.date.min, dt.time(10, 0)), (dt.date(2011, 3, 7), dt.time(9, 30))),
    "SH": ((dt.date.min, dt.time(9, 30)),),
    "SZ": ((dt.date.min, dt.time(9, 30)),),
}
_MISSING_CALENDARS = ("daily_panel's calendars come from exchange_calendars, which is not installed: "
                      "pip install 'futu-buybacks[calendars]' (or pass calendar= a DatetimeIndex of sessions, "
                      "or calendar='opend' with ctx= an OpenQuoteContext)")
CalendarSpec = Union[None, str, pd.DatetimeIndex, Mapping[str, Union[str, pd.DatetimeIndex]]]


def daily_panel(events: pd.DataFrame, start: Any, end: Any, calendar: CalendarSpec = None, *, ctx: Any = None,
                windows: Sequence[int] = DEFAULT_WINDOWS, dense: bool = False,
                codes: Optional[Iterable[str]] = None) -> pd.DataFrame:
    """Per trading session and code, the buybacks that became known by that session's open.

    ``events``: the frame :func:`events` returns.  Rows: the sessions from ``start`` to ``end``
    (dates, both included) of each code's market; by default only the rows where something is
    non-zero (a record in that session or in one of its windows), every (session, code) with
    ``dense=True``.  ``codes``: the codes to cover (default: those in ``events``; a code without
    records gives zero rows when dense).

    Index: (``date``: the session's date, tz-naive; ``code``), sorted.  Columns: ``shares``,
    ``money``, ``percentage`` (float64) and ``records`` (int64) of the records that became known
    at that session (first known at its open), then for each W in ``windows`` the same summed
    over the last W sessions of the code's market, this one included (``shares_20``, ...).  An
    amount the vendor left unset adds nothing; the record still counts in ``records``.

    ``calendar``: where each market's sessions come from; docs/datasets.md says more.

    - None (default): exchange_calendars (``pip install 'futu-buybacks[calendars]'``): XHKG for
      HK codes, XSHG for SH and SZ codes;
    - a name exchange_calendars knows (``"XHKG"``, ``"XSHG"``; ``"XSHE"`` reads as ``"XSHG"``),
      or a ``DatetimeIndex`` of session dates: those sessions for every code;
    - ``"opend"`` with ``ctx=`` an ``OpenQuoteContext``: each market's trading days from OpenD;
    - a mapping from market (``"HK"``, ``"SH"``, ``"SZ"``) to any of the above.

    Windows at the first sessions count the sessions before ``start`` too: exchange_calendars and
    OpenD are asked for enough of them; a ``DatetimeIndex`` gives those it holds.  Records known
    before the first session's date that the calendar gives are not counted.
    """
    windows = _windows(windows)
    if not isinstance(dense, bool):
        raise InvalidArgument(f"dense must be True or False, got {dense!r}")
    grids = _grids(events, start, end, calendar, ctx, windows, codes)
    layout = _layout(grids, dense)
    data: Dict[str, np.ndarray] = {}
    scratch: Dict[Tuple[int, str], np.ndarray] = {}  # a window's matrix, copied out before the next
    for column in windowed_columns(PANEL_AMOUNTS, windows):
        parts = []
        for number, (grid, kept) in enumerate(zip(grids, layout.cells)):
            out = scratch.setdefault((number, column.dtype), np.empty(grid.shape, column.dtype)) \
                if "_" in column.name else None
            flat = grid.column(column.name, out).reshape(-1)
            parts.append(flat if kept is None else flat[kept])
        data[column.name] = np.concatenate([parts[g][a:b] for g, a, b in layout.segments]).astype(column.dtype,
                                                                                                  copy=False) \
            if layout.segments else np.zeros(0, dtype=column.dtype)
    codes_level = pd.Index([c for grid in grids for c in grid.codes], dtype=str)
    index = pd.MultiIndex(levels=[layout.dates, codes_level], codes=[layout.date_codes, layout.code_codes],
                          names=["date", "code"], verify_integrity=False)
    return pd.DataFrame(data, index=index, copy=False)


def market_series(events: pd.DataFrame, start: Any, end: Any, calendar: CalendarSpec = None, *, ctx: Any = None,
                  windows: Sequence[int] = DEFAULT_WINDOWS) -> pd.DataFrame:
    """Per market and trading session, how many companies' buybacks became known, and the money.

    Index: (``date``, ``market``) for every session from ``start`` to ``end`` of each market in
    ``events`` (HK, SH, SZ), sorted.  Columns: ``companies`` (codes with a record of shares or
    money bought back that became known at that session), ``records`` and ``money`` (in the
    market's currency), then for each W in ``windows`` the same over the last W sessions
    (``companies_20``: codes with such a record in the last 20 sessions).  ``calendar`` and
    ``ctx`` as for :func:`daily_panel`.
    """
    windows = _windows(windows)
    grids = _grids(events, start, end, calendar, ctx, windows, None)
    columns = windowed_columns(MARKET_SERIES_AMOUNTS, windows)
    frames = []
    for grid in grids:
        data = {c.name: grid.market_column(c.name).astype(c.dtype) for c in columns}
        index = pd.MultiIndex.from_arrays([grid.dates, np.full(len(grid.dates), grid.market, dtype=object)],
                                          names=["date", "market"])
        frames.append(pd.DataFrame(data, index=index))
    if not frames:
        empty = pd.MultiIndex.from_arrays([pd.DatetimeIndex([], dtype="datetime64[ns]"), pd.Index([], dtype=str)],
                                          names=["date", "market"])
        return pd.DataFrame({c.name: np.empty(0, dtype=c.dtype) for c in columns}, index=empty)
    return pd.concat(frames).sort_index()


# ---- arguments --------------------------------------------------------------------------------

def _windows(windows: Any) -> Tuple[int, ...]:
    try:
        out = tuple(windows)
    except TypeError:
        out = None
    if out is None or any(isinstance(w, bool) or not isinstance(w, (int, np.integer)) or w < 1 for w in out) \
            or len(set(out)) != len(out):
        raise InvalidArgument(f"windows must be distinct ints >= 1 (sessions), e.g. (20, 60, 250), got {windows!r}")
    return tuple(int(w) for w in out)


def _day(value: Any, name: str) -> pd.Timestamp:
    try:
        day = pd.Timestamp(value)
    except (TypeError, ValueError):
        day = pd.NaT
    if day is pd.NaT:
        raise InvalidArgument(f"{name} must be a date (a str like '2024-01-31', a date or a Timestamp), got {value!r}")
    if day.tz is not None:
        day = day.tz_localize(None)
    return day.normalize().as_unit("ns")


def _check_events(events: Any) -> pd.DataFrame:
    needed = ("code", "market", "known_at", "shares", "money", "percentage")
    if not isinstance(events, pd.DataFrame) or any(c not in events.columns for c in needed):
        raise InvalidArgument(f"events must be the frame futu_buybacks.events() returns (columns {', '.join(needed)})")
    if not isinstance(events["known_at"].dtype, pd.DatetimeTZDtype):
        raise InvalidArgument("events' known_at must be timezone-aware, as events() returns it")
    return events


# ---- sessions ---------------------------------------------------------------------------------

def _calendar_for(calendar: CalendarSpec, market: str) -> Union[None, str, pd.DatetimeIndex]:
    if isinstance(calendar, Mapping):
        unknown = sorted(set(calendar) - set(DATASET_MARKETS))
        if unknown:
            raise InvalidArgument(f"calendar has markets {unknown}; accepted keys: {', '.join(DATASET_MARKETS)}")
        if market not in calendar:
            raise InvalidArgument(f"calendar has no sessions for market {market}, which the events hold")
        value = calendar[market]
        if isinstance(value, Mapping) or value is None:
            raise InvalidArgument(f"calendar[{market!r}] must be a calendar name or a DatetimeIndex, got {value!r}")
        return value
    return calendar


def _calendar_key(spec: Union[None, str, pd.DatetimeIndex], market: str) -> Tuple[str, Any]:
    if isinstance(spec, pd.DatetimeIndex):
        return "dates", id(spec)
    if spec == "opend":
        return "opend", "HK" if market == "HK" else "mainland"
    return "exchange", DEFAULT_CALENDARS[market] if spec is None else CALENDAR_ALIASES.get(spec, spec)


def sessions(calendar: Union[None, str, pd.DatetimeIndex], market: str, start: pd.Timestamp, end: pd.Timestamp,
             ctx: Any, before: int) -> pd.DatetimeIndex:
    """Session dates of ``market`` up to ``end``, from ``before`` sessions before ``start`` on
    (as many as the source has)."""
    if isinstance(calendar, pd.DatetimeIndex):
        days = calendar if calendar.tz is None else calendar.tz_localize(None)
        days = pd.DatetimeIndex(days.normalize().unique()).sort_values().as_unit("ns")
    elif calendar is None or isinstance(calendar, str):
        # about 245 sessions a year on both markets, and holidays of up to ten days
        first = start - pd.Timedelta(days=before * 7 // 5 + 30)
        if calendar == "opend":
            days = _opend(ctx, market, first, end)
        else:
            days = _exchange(DEFAULT_CALENDARS[market] if calendar is None else calendar, first, end)
    else:
        raise InvalidArgument(f"calendar must be None, a calendar name, 'opend', a DatetimeIndex or a mapping from "
                              f"market to one, got {type(calendar).__name__} {calendar!r}")
    days = days[days <= end]
    lead = int(np.searchsorted(days.to_numpy(), start.to_datetime64()))
    return days[max(lead - before, 0):]


def _exchange(name: str, first: pd.Timestamp, end: pd.Timestamp) -> pd.DatetimeIndex:
    try:
        import exchange_calendars
    except ImportError:
        raise ImportError(_MISSING_CALENDARS) from None
    name = CALENDAR_ALIASES.get(name, name)
    if name not in exchange_calendars.get_calendar_names(include_aliases=True):
        raise InvalidArgument(f"calendar {name!r} is not an exchange_calendars name; for these markets: XHKG, XSHG "
                              "(XSHE reads as XSHG)")
    # exchange_calendars keeps the calendar it makes for its default years (about 20 years to
    # the next one), which then costs nothing; other years make another one
    calendar = exchange_calendars.get_calendar(name)
    if not calendar.first_session <= first or not end <= calendar.last_session:
        # it records holidays for some years only: XSHG's end with the current year's, so an end
        # after that is cut there
        low, high = (pd.Timestamp(bound()).tz_localize(None) if bound() is not None else None
                     for bound in (calendar.bound_min, calendar.bound_max))
        first = first if low is None else max(first, low)
        end = end if high is None else min(end, high)
        if first > end:
            return pd.DatetimeIndex([], dtype="datetime64[ns]")
        calendar = exchange_calendars.get_calendar(name, start=first, end=end)
    days = calendar.sessions
    return pd.DatetimeIndex(days.tz_localize(None) if days.tz is not None else days).as_unit("ns")


def _opend(ctx: Any, market: str, first: pd.Timestamp, end: pd.Timestamp) -> pd.DatetimeIndex:
    if ctx is None:
        raise InvalidArgument("calendar='opend' reads the trading days from OpenD: pass ctx= an OpenQuoteContext")
    try:
        from ._trading_days import opend_sessions
    except ImportError:
        raise InvalidArgument("calendar='opend' needs futu_buybacks._trading_days, which this installation lacks; "
                              "use exchange_calendars (calendar=None) or a DatetimeIndex") from None
    days = pd.DatetimeIndex(opend_sessions(ctx, market, first, end))
    days = days if days.tz is None else days.tz_localize(None)
    return pd.DatetimeIndex(days.normalize().unique()).sort_values().as_unit("ns")


def _midnight_utc(day: pd.Timestamp, market: str) -> np.datetime64:
    return pd.Timestamp(day).tz_localize(ZONES[market]).tz_convert("UTC").tz_localize(None).to_datetime64()


def opens_utc(days: pd.DatetimeIndex, market: str) -> np.ndarray:
    """The moment each session opens, as UTC ``datetime64[ns]``."""
    times = np.zeros(len(days), dtype="timedelta64[ns]")
    for since, time in OPENS[market]:
        after = days >= pd.Timestamp(max(since, dt.date(1677, 9, 22)))
        times[after] = np.timedelta64(dt.timedelta(hours=time.hour, minutes=time.minute), "ns")
    local = pd.DatetimeIndex(days.to_numpy() + times)
    return local.tz_localize(ZONES[market]).tz_convert("UTC").tz_localize(None).to_numpy("datetime64[ns]")


# ---- per-market grids -------------------------------------------------------------------------

class _Grid:
    """One market's (session x code) matrices; its panel rows are the sessions from ``first`` on.

    Sums over a window are differences of running totals per code: exact for counts and shares
    (integers below 2**53), within about 1e-16 of the code's running total for money and
    percentages, and exactly zero where the window holds no record (the total did not move).
    """

    def __init__(self, market: str, days: pd.DatetimeIndex, first: int, codes: np.ndarray, known: np.ndarray,
                 column: np.ndarray, values: Dict[str, np.ndarray], windows: Tuple[int, ...]):
        self.market, self.codes, self.windows, self.first = market, codes, windows, first
        self.dates = days[first:]
        self.shape = (len(days), len(codes))
        row = np.searchsorted(opens_utc(days, market), known, side="left")
        # a record known before the first session's day may belong to a session before it
        earliest = _midnight_utc(days[0], market) if len(days) else np.datetime64("NaT", "ns")
        kept = (row < len(days)) & (known >= earliest)
        self.cell = row[kept] * len(codes) + column[kept]
        self.values = {name: np.nan_to_num(v[kept]) for name, v in values.items()}
        self.buying = (self.values["shares"] > 0) | (self.values["money"] > 0)
        self._totals: Dict[str, np.ndarray] = {}

    def _per_cell(self, weights: Optional[np.ndarray], cells: np.ndarray) -> np.ndarray:
        size = self.shape[0] * self.shape[1]
        flat = np.bincount(cells, weights, minlength=size)  # int64 counts; float64 sums (of no record too)
        return flat.astype(np.int64 if weights is None else np.float64, copy=False).reshape(self.shape)

    def _base(self, name: str) -> np.ndarray:
        if name == "records":
            return self._per_cell(None, self.cell)
        if name == "buying":
            return self._per_cell(None, self.cell[self.buying])
        return self._per_cell(self.values[name], self.cell)

    def _total(self, name: str) -> np.ndarray:
        """Running total per code over the sessions (cached: every window reads it)."""
        if name not in self._totals:
            total = self._base(name)
            if self.shape[1] >= 64:  # a wide row at a time runs faster than numpy's cumsum down columns
                for i in range(1, len(total)):
                    total[i] += total[i - 1]
            else:
                np.cumsum(total, axis=0, out=total)
            self._totals[name] = total
        return self._totals[name]

    def matrix(self, name: str, window: int = 0, out: Optional[np.ndarray] = None) -> np.ndarray:
        """Per cell, ``name`` (records, buying, shares, money, percentage) of the records known at
        that session, or over the last ``window`` sessions (written into ``out`` if given, of
        the grid's shape and type); the panel's rows only."""
        if not window:
            return self._base(name)[self.first:]
        total = self._total(name)
        out = np.empty_like(total) if out is None else out
        out[:window] = total[:window]
        np.subtract(total[window:], total[:-window], out=out[window:])
        return out[self.first:]

    def column(self, name: str, out: Optional[np.ndarray] = None) -> np.ndarray:
        base, _, window = name.partition("_")
        return self.matrix(base, int(window) if window else 0, out)

    def market_column(self, name: str) -> np.ndarray:
        base, _, window = name.partition("_")
        if base == "companies":
            return (self.matrix("buying", int(window) if window else 0) > 0).sum(axis=1)
        return self.column(name).sum(axis=1)

    def active(self) -> np.ndarray:
        """Cells (panel rows, flattened) where something is non-zero: a record in the session or
        one of its windows (the longest holds them all)."""
        return self.matrix("records", max(self.windows, default=0)).reshape(-1) > 0


def _grids(events: Any, start: Any, end: Any, calendar: CalendarSpec, ctx: Any, windows: Tuple[int, ...],
           codes: Optional[Iterable[str]]) -> List[_Grid]:
    events = _check_events(events)
    start, end = _day(start, "start"), _day(end, "end")
    if start > end:
        raise InvalidArgument(f"start {start.date()} is after end {end.date()}")
    code_of = events["code"].to_numpy(dtype=object, na_value=None)
    if codes is None:
        wanted = pd.unique(code_of)
    else:
        wanted = np.array([codes] if isinstance(codes, str) else list(codes), dtype=object)
        for code in wanted:
            parse_code(code)
    wanted = np.sort(pd.unique(wanted)).astype(object)
    # codes sort by market (HK. < SH. < SZ.): each market's codes are one slice of them
    position = pd.Index(wanted, dtype=object).get_indexer(code_of)
    known = pd.DatetimeIndex(events["known_at"]).tz_convert("UTC").tz_localize(None).to_numpy("datetime64[ns]")
    values = {name: events[name].to_numpy(dtype="float64", na_value=np.nan) for name in ("shares", "money",
                                                                                         "percentage")}
    prefixes = np.array([code.partition(".")[0] for code in wanted], dtype=object)
    grids: List[_Grid] = []
    asked: Dict[Tuple[str, Any], pd.DatetimeIndex] = {}
    before = max(windows, default=0)
    for market in DATASET_MARKETS:
        low, high = np.searchsorted(prefixes, market, side="left"), np.searchsorted(prefixes, market, side="right")
        if low == high:
            continue
        spec = _calendar_for(calendar, market)
        key = _calendar_key(spec, market)  # SH and SZ share one calendar: ask once
        if key not in asked:
            asked[key] = sessions(spec, market, start, end, ctx, before)
        days = asked[key]
        first = int(np.searchsorted(days.to_numpy(), start.to_datetime64()))
        mine = (position >= low) & (position < high)
        grids.append(_Grid(market, days, first, wanted[low:high], known[mine], position[mine] - low,
                           {name: v[mine] for name, v in values.items()}, windows))
    return grids


class _Layout(NamedTuple):
    """Where each grid's panel cells go: rows sorted by date, then code.  Markets' codes sort
    apart (HK. < SH. < SZ.), so each date's rows are the markets' rows one after the other."""

    dates: pd.DatetimeIndex              # the union of the markets' session dates
    cells: List[Optional[np.ndarray]]    # per grid, its cells kept (None: all of them)
    segments: List[Tuple[int, int, int]]  # (grid, first, last) slices of the kept cells, in output order
    date_codes: np.ndarray               # per output row, its date's position in ``dates``
    code_codes: np.ndarray               # per output row, its code's position among every grid's codes


def _layout(grids: List[_Grid], dense: bool) -> _Layout:
    dates = pd.DatetimeIndex(np.unique(np.concatenate([g.dates.to_numpy() for g in grids]))
                             if grids else np.array([], dtype="datetime64[ns]")).as_unit("ns")
    cells, keys, code_parts, offset = [], [], [], 0
    for number, grid in enumerate(grids):
        k = len(grid.codes)
        kept = None if dense else np.flatnonzero(grid.active())
        counts = np.full(len(grid.dates), k, dtype=np.int64) if dense else \
            np.bincount(kept // k, minlength=len(grid.dates)).astype(np.int64)
        ends = np.cumsum(counts)
        where = np.searchsorted(dates.to_numpy(), grid.dates.to_numpy())
        keys.append(np.stack([where, np.full(len(where), number), ends - counts, ends]))
        code_parts.append((np.tile(np.arange(k), len(grid.dates)) if dense else kept % k) + offset)
        cells.append(kept)
        offset += k
    table = np.concatenate(keys, axis=1) if keys else np.zeros((4, 0), dtype=np.int64)
    table = table[:, np.lexsort((table[1], table[0]))]
    table = table[:, table[3] > table[2]]
    segments = [(int(g), int(a), int(b)) for g, a, b in zip(table[1], table[2], table[3])]
    date_codes = np.repeat(table[0], table[3] - table[2])
    code_codes = np.concatenate([code_parts[g][a:b] for g, a, b in segments]) if segments else \
        np.zeros(0, dtype=np.int64)
    return _Layout(dates, cells, segments, date_codes, code_codes)
