"""One frame of buyback events for both markets, each with the moment it became public.

``events(tables)`` turns what :func:`load_buybacks` returns (or a :class:`Cache`) into one row
per record: ``code``, ``market``, the normalised ``stage``, ``event_date``, ``known_at``, the
amounts, then the vendor's columns.  The rule behind ``known_at`` (per market, with its sources)
is written in docs/datasets.md; this module is that rule, vectorised.  In short:

- HK (Listing Rules 10.06(4)(a), 13.25A): a day's buybacks are published by 08:30 of the next
  business day, so a record is public from 08:30 of the day after its trade date (``end_date``),
  and not before its announcement date (``publ_date``); a return published later than the first
  weekday after the trade date was published at an unknown hour, and counts from the next day.
- A-share: the record's stage says which announcement it reports.  A board plan is public on its
  announcement date (``advance_date``), a shareholders' approval on the day after the meeting
  (``meet_pass_date``); the amounts of the later stages come from progress and result
  announcements whose dates the record does not carry, so those records are public from the
  moment they were fetched.
- Never after the fetch: a record was public when we fetched it (``first_seen``, else
  ``fetched_at``), and a date after the fetch day (a planned deadline) is not a fact yet.
"""

import datetime as dt
from typing import Any, Mapping, Optional, Union

import numpy as np
import pandas as pd

from ._errors import InvalidArgument
from ._schema import EVENT_COLUMNS, FIRST_SEEN, HK, KNOWN_AT_DTYPE, A, event_vendor_columns
from ._tidy import MARKET_ZONES, tidy_dtypes

#: The zone of the ``known_at`` column (see ``_schema.KNOWN_AT_DTYPE``).
KNOWN_AT_ZONE = dt.timezone(dt.timedelta(hours=8))
#: Each market's own zone, in which its dates and rules are read.
ZONES = {"HK": MARKET_ZONES[HK.key], "SH": MARKET_ZONES[A.key], "SZ": MARKET_ZONES[A.key]}
#: How long after the midnight starting a record's publication day it counts as public, per market:
#: HK returns are out by 08:30 (30 minutes before the pre-opening session at 09:00); an A-share
#: announcement of a day may come out until that evening, so it counts from the end of the day.
DEFAULT_LAG = {"HK": dt.timedelta(hours=8, minutes=30), "SH": dt.timedelta(days=1), "SZ": dt.timedelta(days=1)}

#: ``event_proce_desc`` texts and the stage each means; any other text is ``other``.
STAGES = {
    "董事会预案": "board_plan", "董事会通过": "board_plan", "预案": "board_plan",
    "股东大会通过": "shareholders_approved",
    "实施": "implementing", "实施中": "implementing", "正在实施": "implementing",
    "完成": "completed", "完成实施": "completed", "实施完成": "completed", "实施完毕": "completed",
    "停止实施": "stopped", "终止实施": "stopped", "终止": "stopped", "失效": "stopped",
    "股东大会否决": "stopped", "股东大会未通过": "stopped",
}
#: The stage of every HK record: one day's executed buybacks.
HK_STAGE = "execution"
#: A-share stages public from their own date: the date column, and the days from it to publication.
_DATED_STAGES = {"board_plan": ("advance_date", 0), "shareholders_approved": ("meet_pass_date", 1)}
_A_DATES = ("advance_date", "meet_pass_date", "start_date", "end_date", "change_date", "pay_date",
            "change_reg_date")
_DAY = np.timedelta64(1, "D")


def event_dtypes() -> "dict[str, Any]":
    """Column -> pandas dtype of the frame :func:`events` returns, in order."""
    out = {}
    for column in EVENT_COLUMNS:
        out[column.name] = pd.DatetimeTZDtype("ns", KNOWN_AT_ZONE) if column.dtype == KNOWN_AT_DTYPE \
            else column.dtype
    vendor = {**tidy_dtypes(A), **tidy_dtypes(HK)}
    out.update({c.name: vendor[c.name] for c in event_vendor_columns()})
    out[FIRST_SEEN.name] = FIRST_SEEN.dtype
    return out


def events(tables: Any, *, lag: Union[None, dt.timedelta, str, Mapping[str, Any]] = None,
           fetched_at: Any = None, source: Optional[str] = None, as_of: Any = None) -> pd.DataFrame:
    """Every buyback record of ``tables``, both markets in one frame, with the moment each became
    public (``known_at``), rows in ``known_at`` order (then ``code``).

    - ``tables``: what :func:`load_buybacks` returns (any object with the ``hk_buy_back_list``
      and ``a_buy_back_list`` frames), or a :class:`Cache`, whose records of ``source`` are read
      (by default its only source; a cache of several sources needs ``source=``).
    - ``lag``: how long after the midnight starting a record's publication day it is public, as a
      ``timedelta`` (or a string ``pandas.Timedelta`` reads) for every market, or a mapping from
      ``"HK"``, ``"SH"``, ``"SZ"`` to one (markets left out keep the default): 08:30 for HK,
      one day (the end of the day) for SH and SZ.  Never negative.
    - ``fetched_at``: when the records were fetched, a timezone-aware moment, for records whose
      frame has no ``first_seen`` (frames read elsewhere, or versions without it); by default
      the moment of this call.  ``known_at`` is never after the fetch, and no date after the fetch
      day is used (A-share records carry planned deadlines).
    - ``as_of``: with a :class:`Cache`, the records as a load at that moment returned them (a
      timezone-aware datetime or Unix seconds; ``load_buybacks(..., as_of=)`` says more).

    Columns: ``code``, ``market``, ``stage``, ``stage_raw``, ``event_date``, ``known_at``,
    ``shares``, ``money``, ``percentage``, ``price_low``, ``price_high``, then the vendor's
    columns of either market (``*_date`` in Unix seconds, as in the loader's frames), then
    ``first_seen``.  docs/datasets.md says what each means and the rule behind ``known_at``.
    """
    hk, a = _frames(tables, source, as_of)
    lags = _lags(lag)
    fallback = _fetched_at(fetched_at)
    parts = [_hk_events(hk, lags["HK"], fallback), _a_events(a, lags, fallback)]
    known = np.concatenate([pd.DatetimeIndex(p["known_at"]).asi8 for p in parts])
    codes = pd.factorize(np.concatenate([p["code"].to_numpy(dtype=object) for p in parts]), sort=True)[0]
    order = np.lexsort((codes, known))
    # each column is taken once, in the rows' order; a market's missing column is filled there
    rows = [np.where(order < len(hk), order, -1), np.where(order >= len(hk), order - len(hk), -1)]
    columns = {}
    for name, dtype in event_dtypes().items():
        held = [i for i, part in enumerate(parts) if name in part]
        if len(held) == 2:
            value = pd.concat([parts[0][name], parts[1][name]], ignore_index=True).array.take(order)
        elif held:
            value = parts[held[0]][name].array.take(rows[held[0]], allow_fill=True)
        else:
            value = None
        columns[name] = pd.Series(value, dtype=dtype, index=pd.RangeIndex(len(order)))
    return pd.DataFrame(columns, copy=False)


# ---- inputs -----------------------------------------------------------------------------------

def _frames(tables: Any, source: Optional[str], as_of: Any) -> "tuple[pd.DataFrame, pd.DataFrame]":
    from ._cache import Cache
    if isinstance(tables, Cache):
        return _cache_frames(tables, source, as_of)
    if source is not None:
        raise InvalidArgument("source= chooses the records of a Cache; these tables are one source already")
    if as_of is not None:
        raise InvalidArgument("as_of= reads a Cache as it was; for tables, load them with "
                              "load_buybacks(..., as_of=T)")
    try:
        hk, a = tables.hk_buy_back_list, tables.a_buy_back_list
    except AttributeError:
        raise InvalidArgument(f"events() takes what load_buybacks returns (a BuybackTables) or a Cache, "
                              f"got {type(tables).__name__}") from None
    for schema, frame in ((HK, hk), (A, a)):
        if not isinstance(frame, pd.DataFrame):
            raise InvalidArgument(f"{schema.key} must be a DataFrame, got {type(frame).__name__}")
        missing = [n for n in ("code", *schema.names) if n not in frame.columns]
        if missing:
            raise InvalidArgument(f"{schema.key} lacks the columns {missing}: events() reads the loader's "
                                  "frames (a code column, then the vendor's)")
    return hk, a


def _cache_frames(cache: Any, source: Optional[str], as_of: Any) -> "tuple[pd.DataFrame, pd.DataFrame]":
    from ._loader import moment_of
    sources = [s.source for s in cache.summary()]
    if source is None:
        if len(sources) != 1:
            raise InvalidArgument(f"the cache {cache.path} holds {len(sources)} data sources "
                                  f"({', '.join(sources) or 'none'}): pass source= to choose one")
        source = sources[0]
    elif source not in sources:
        raise InvalidArgument(f"the cache {cache.path} has no source {source!r}; "
                              f"it has: {', '.join(sources) or 'none'}")
    moment = moment_of(as_of)
    return tuple(cache.frame(schema, source, as_of=moment) for schema in (HK, A))


def _lags(lag: Any) -> "dict[str, np.timedelta64]":
    if lag is None:
        lag = {}
    elif not isinstance(lag, Mapping):
        lag = dict.fromkeys(DEFAULT_LAG, lag)
    unknown = sorted(set(lag) - set(DEFAULT_LAG))
    if unknown:
        raise InvalidArgument(f"lag has markets {unknown}; accepted: {', '.join(DEFAULT_LAG)}")
    out = {}
    for market, default in DEFAULT_LAG.items():
        value = lag.get(market, default)
        try:
            delta = pd.Timedelta(value)
        except (TypeError, ValueError):
            delta = pd.NaT
        if isinstance(value, bool) or delta is pd.NaT or delta < pd.Timedelta(0):
            raise InvalidArgument(f"lag must be a timedelta >= 0 (or a mapping from HK, SH, SZ to one), "
                                  f"got {value!r} for {market}")
        out[market] = np.timedelta64(delta.value, "ns")
    return out


def _fetched_at(fetched_at: Any) -> np.datetime64:
    if fetched_at is None:
        return np.datetime64(pd.Timestamp.now(tz="UTC").value, "ns")
    try:
        moment = pd.Timestamp(fetched_at)
    except (TypeError, ValueError):
        moment = pd.NaT
    if moment is pd.NaT or moment.tz is None:
        raise InvalidArgument(f"fetched_at must be a timezone-aware moment (e.g. pd.Timestamp.now(tz='UTC')), "
                              f"got {fetched_at!r}")
    return np.datetime64(moment.tz_convert("UTC").as_unit("ns").value, "ns")


# ---- the rule ---------------------------------------------------------------------------------

def _fetches(frame: pd.DataFrame, fallback: np.datetime64) -> np.ndarray:
    """Per row, the UTC moment it was fetched (``datetime64[ns]``, naive UTC)."""
    if FIRST_SEEN.name in frame.columns:
        seen = pd.to_datetime(frame[FIRST_SEEN.name], utc=True).dt.tz_localize(None).to_numpy("datetime64[ns]")
        return np.where(np.isnat(seen), fallback, seen)
    return np.full(len(frame), fallback, dtype="datetime64[ns]")


def _local_days(seconds: pd.Series, zone: str) -> np.ndarray:
    """Unix seconds of local midnights -> local dates (``datetime64[ns]``, NaT where missing)."""
    values = pd.to_numeric(seconds, errors="coerce").astype("float64").to_numpy()
    stamps = pd.to_datetime(values, unit="s", utc=True).tz_convert(zone).tz_localize(None).normalize()
    return stamps.to_numpy("datetime64[ns]")


def _fetch_days(fetches: np.ndarray, zone: str) -> np.ndarray:
    return pd.DatetimeIndex(fetches).tz_localize("UTC").tz_convert(zone).tz_localize(None).normalize() \
        .to_numpy("datetime64[ns]")


def _past(days: np.ndarray, fetch_days: np.ndarray) -> np.ndarray:
    """``days`` with those after the fetch day made NaT (a date not reached yet is a plan)."""
    return np.where(days > fetch_days, np.datetime64("NaT", "ns"), days)


def _known_at(publication: np.ndarray, lag: np.timedelta64, zone: str, fetches: np.ndarray) -> np.ndarray:
    """``publication`` (local midnights) + ``lag``, in UTC, never after the fetch; the fetch where
    there is no publication day."""
    local = pd.DatetimeIndex(publication + lag)
    moments = local.tz_localize(zone, ambiguous=False, nonexistent="shift_forward").tz_convert("UTC") \
        .tz_localize(None).to_numpy("datetime64[ns]")
    return np.where(np.isnat(moments) | (moments > fetches), fetches, moments)


def _common(frame: pd.DataFrame, market: Any, stage: Any, stage_raw: Any, event_date: np.ndarray,
            known_at: np.ndarray, low: str, high: str) -> "dict[str, pd.Series]":
    """The columns of :func:`events` one market's frame has, typed."""
    index = pd.RangeIndex(len(frame))
    given = {
        "code": frame["code"], "market": market, "stage": stage, "stage_raw": stage_raw, "event_date": event_date,
        "known_at": pd.DatetimeIndex(known_at).tz_localize("UTC").tz_convert(KNOWN_AT_ZONE),
        "shares": frame["buy_back_sum"], "money": frame["buy_back_money"], "price_low": frame[low],
        "price_high": frame[high]}
    columns = {}
    for name, dtype in event_dtypes().items():
        value = given.get(name, frame[name] if name in frame.columns else None)
        if value is None:
            continue
        column = value.reset_index(drop=True) if isinstance(value, pd.Series) else pd.Series(value, index=index)
        columns[name] = column if column.dtype == dtype else column.astype(dtype)
    return columns


def _hk_events(frame: pd.DataFrame, lag: np.timedelta64, fallback: np.datetime64) -> pd.DataFrame:
    zone = ZONES["HK"]
    fetches = _fetches(frame, fallback)
    fetch_days = _fetch_days(fetches, zone)
    trade = _past(_local_days(frame["end_date"], zone), fetch_days)
    announced = _past(_local_days(frame["publ_date"], zone), fetch_days)
    has_trade, has_announced = ~np.isnat(trade), ~np.isnat(announced)
    # The first weekday after the trade date: the latest day a timely return is published on (a
    # holiday makes that day later, so a return after a holiday counts as late: later, never early).
    next_weekday = np.full(len(frame), np.datetime64("NaT", "ns"), dtype="datetime64[ns]")
    next_weekday[has_trade] = np.busday_offset(trade[has_trade].astype("datetime64[D]"), 1, roll="backward")
    late = has_trade & has_announced & (announced > next_weekday)
    day_after = trade + _DAY
    publication = np.where(has_announced & (announced > day_after), announced, day_after)
    publication = np.where(late | ~has_trade, announced + _DAY, publication)
    return _common(frame, "HK", HK_STAGE, None, trade, _known_at(publication, lag, zone, fetches),
                   "low_price", "high_price")


def _a_events(frame: pd.DataFrame, lags: "dict[str, np.timedelta64]", fallback: np.datetime64) -> pd.DataFrame:
    zone = ZONES["SH"]
    fetches = _fetches(frame, fallback)
    fetch_days = _fetch_days(fetches, zone)
    raw = frame["event_proce_desc"].astype("string")
    stage = raw.str.strip().map(STAGES).fillna("other").to_numpy(dtype=object)
    dates = {name: _past(_local_days(frame[name], zone), fetch_days) for name in _A_DATES}
    # NaT is the least int64, so the greatest of the int64 views skips it (and is NaT if all are)
    event_date = np.stack([dates[name] for name in _A_DATES]).view("int64").max(axis=0, initial=np.iinfo("int64").min) \
        .view("datetime64[ns]")
    publication = np.full(len(frame), np.datetime64("NaT", "ns"), dtype="datetime64[ns]")
    for name, (column, days) in _DATED_STAGES.items():
        mine = stage == name
        event_date[mine] = dates[column][mine]
        publication[mine] = dates[column][mine] + np.timedelta64(days, "D")
    market = frame["code"].astype("string").str.slice(0, 2).to_numpy(dtype=object)
    lag = np.where(market == "SZ", lags["SZ"], lags["SH"])
    known = _known_at(publication, lag, zone, fetches)
    return _common(frame, market, stage, raw.to_numpy(dtype=object), event_date, known, "price_floor",
                   "price_ceiling")
