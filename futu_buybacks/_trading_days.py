"""Trading sessions from OpenD, through the SDK's own ``request_trading_days`` (protocol 3219).

``OpenQuoteContext.request_trading_days(market=None, start=None, end=None, code=None)`` has the
same signature, request and reply in every SDK we support (futu-api 9.6.5608, 10.5.6508,
10.11.7108, moomoo-api 9.6.5608): ``market`` is a ``TradeDateMarket`` value, a plain string
(``"HK"``, ``"CN"`` for the A-share market; the SDKs have no SH or SZ calendar), ``start`` and
``end`` are ``"yyyy-MM-dd"`` strings, both days included, and the result is ``(RET_OK, [{"time":
"2024-01-02", "trade_date_type": "WHOLE"}, ...])`` or ``(RET_ERROR, message)``.  A half day
(``"MORNING"``) is a session like any other here.

The vendor notes that OpenD makes its trading days from weekends and holidays and does not leave
out days the market closed without notice (a typhoon).  The whole range goes in one request (the
SDKs do not limit its span), and nothing is cached: a caller wants each market once.
"""

import datetime as dt
from typing import Any, Union

import numpy as np
import pandas as pd

from ._errors import HostUnsupported, InvalidArgument, ServerError, TransportError
from ._failures import is_transport_failure
from ._protocol import RET_OK

#: Our market -> the SDK's ``TradeDateMarket`` value; SH and SZ share the mainland calendar.
SDK_MARKETS = {"HK": "HK", "SH": "CN", "SZ": "CN"}

DateLike = Union[str, dt.date, np.datetime64]


def opend_sessions(ctx: Any, market: str, start: DateLike, end: DateLike) -> pd.DatetimeIndex:
    """The trading days of ``market`` (``"HK"``, ``"SH"`` or ``"SZ"``) from ``start`` to ``end``
    inclusive, as OpenD gives them to ``ctx`` (an ``OpenQuoteContext`` of futu-api or moomoo-api).

    ``start`` and ``end`` are dates: ``"2024-01-31"``, ``datetime.date``, ``datetime.datetime`` or
    ``pandas.Timestamp`` (its own calendar day; the time is dropped).  Returns a tz-naive
    ``DatetimeIndex`` of midnights (``datetime64[ns]``), sorted, without duplicates, empty when the
    range holds no trading day.  One request to OpenD per call.

    Raises :class:`InvalidArgument` for a market or date not of those forms, or ``start`` after
    ``end`` (nothing is sent); :class:`ServerError` with OpenD's message when it refuses (a range
    it does not cover, its rate limit); :class:`TransportError` when the request got no answer
    (timeout, disconnection, an unreadable reply); :class:`HostUnsupported` when ``ctx`` has no
    ``request_trading_days``.
    """
    if market not in SDK_MARKETS:
        raise InvalidArgument(f"market must be one of 'HK', 'SH', 'SZ', got {market!r}")
    first, last = _day(start, "start"), _day(end, "end")
    if first > last:
        raise InvalidArgument(f"start {first} is after end {last}")
    request = getattr(ctx, "request_trading_days", None)
    if not callable(request):
        raise HostUnsupported(f"{type(ctx).__name__} has no request_trading_days: "
                              f"pass a futu-api or moomoo-api OpenQuoteContext")
    ret, data = request(market=SDK_MARKETS[market], start=first.isoformat(), end=last.isoformat())
    if ret != RET_OK:
        if is_transport_failure(data):
            raise TransportError(f"the {market} trading days from {first} to {last} got no answer from "
                                 f"OpenD: {data or 'a reply the SDK could not read'}")
        raise ServerError(str(data))
    days = pd.DatetimeIndex(pd.to_datetime([item["time"] for item in data], format="%Y-%m-%d"))
    return days.as_unit("ns").unique().sort_values()


def _day(value: Any, name: str) -> dt.date:
    """A date given as ``"yyyy-mm-dd"``, a date, a datetime (its calendar day) or a datetime64."""
    if isinstance(value, np.datetime64):
        value = pd.Timestamp(value)
    if value is pd.NaT:
        raise InvalidArgument(f"{name} must be a date, got NaT")
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.datetime.strptime(value, "%Y-%m-%d").date()
        except ValueError:
            pass
    raise InvalidArgument(f"{name} must be a date: 'yyyy-mm-dd', datetime.date or pandas.Timestamp, "
                          f"got {value!r}")
