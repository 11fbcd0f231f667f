"""Universes: the stocks and funds of a market, as OpenD lists them, for ``load_buybacks(market=...)``.

The list comes through the context's own ``get_stock_basicinfo(market, stock_type)`` (public in
every SDK version: futu-api and moomoo-api 9.6.5608, 10.5.6508, 10.11.7108 take the same
arguments and return the same columns), which sends protocol 3202, Qot_GetStaticInfo.

- **Markets**: ``"HK"``, ``"SH"``, ``"SZ"``, and ``"A"`` for SH and SZ together (the markets
  protocol 3235 serves).
- **Types**: ``SecurityType.STOCK`` (Qot_Common ``Eqty``) and ``SecurityType.ETF`` (``Trust``:
  exchange-traded and other listed funds), one request each: the issue's "stocks and funds".
  Not ``WARRANT`` (HK warrants, CBBCs, inline warrants: issued by banks, never bought back, and
  more codes than all stocks together), nor ``BOND``, ``BWRT``, ``IDX``, ``PLATE``, ``DRVT``,
  ``FUTURE``.
- **Kept**: a code that is not delisted (``delisting`` not True) and not listing later than the
  day it was fetched (``listing_date``, when it is a date: the vendor documents the field as no
  longer maintained, so an empty or malformed one keeps the code).
- **Rate**: we found no published limit for protocol 3202 (neither the SDKs' docstring nor the
  pages of the vendor's documentation we could read give one), so :data:`UNIVERSE_RATE`, 10
  per 30 s, a third of protocol 3235's, is a conservative choice; a load sends at most four (two
  per market), and a cached list is reused for the rest of the day.  Its limiter is not 3235's.
- **Day**: HK, SH and SZ all keep UTC+8 (no daylight saving), so "the day" is one calendar for all.
"""

import datetime as dt
import logging
import math
import time
from typing import Any, Callable, Iterable, List, NamedTuple, Optional, Tuple, Union

from ._codes import parse_code
from ._errors import BuybacksError, InvalidArgument, ServerError, TransportError
from ._failures import Failure, classify
from ._protocol import RET_OK
from ._ratelimit import RateLimiter

#: What ``market=`` accepts, and the markets each stands for.
MARKET_GROUPS = {"HK": ("HK",), "SH": ("SH",), "SZ": ("SZ",), "A": ("SH", "SZ")}
#: The SDK's ``SecurityType`` names a universe holds.
STOCK_TYPES = ("STOCK", "ETF")
#: Requests/seconds for protocol 3202: no published figure found, so a conservative one.
UNIVERSE_RATE = "10/30"
MARKET_ZONE = dt.timezone(dt.timedelta(hours=8))  # Hong Kong and China: UTC+8 all year
MAX_REFUSALS = 20
log = logging.getLogger("futu_buybacks")

ListCall = Callable[[str, str], Tuple[int, Any]]


class Listed(NamedTuple):
    """One code of a universe, as cached."""

    code: str
    name: Optional[str]
    stock_type: Optional[str]
    listing_date: Optional[str]


def parse_markets(market: Union[str, Iterable[str]]) -> Tuple[str, ...]:
    """``"HK"``, ``"A"``, ``"HK,SZ"`` or an iterable of those -> the markets, each once, in order."""
    accepted = f"accepted: {', '.join(MARKET_GROUPS)} (A = SH and SZ), or several, e.g. 'HK,A' or ['HK', 'SZ']"
    names = market.split(",") if isinstance(market, str) else market
    if isinstance(names, (bytes, dict)) or not isinstance(names, Iterable):
        raise InvalidArgument(f"market must be a str or an iterable of str, got {type(market).__name__} "
                              f"{market!r:.40}; {accepted}")
    markets: List[str] = []
    for name in names:
        if not isinstance(name, str):
            raise InvalidArgument(f"market must be a str or an iterable of str, got {name!r:.40} in it; {accepted}")
        group = MARKET_GROUPS.get(name.strip())
        if group is None:
            hint = (f"; did you mean {name.strip().upper()!r}?" if name.strip().upper() in MARKET_GROUPS else "")
            raise InvalidArgument(f"market {name!r:.40} is not one protocol 3235 serves{hint}; {accepted}")
        markets += [m for m in group if m not in markets]
    if not markets:
        raise InvalidArgument(f"market names no market, got {market!r:.40}; {accepted}")
    return tuple(markets)


def market_day(now: float) -> str:
    """The calendar day (``YYYY-MM-DD``, UTC+8) of Unix time ``now``: what ``listed_on`` holds."""
    return dt.datetime.fromtimestamp(now, MARKET_ZONE).date().isoformat()


def listed(frame: Any, market: str, day: str) -> List[Listed]:
    """The codes of one ``get_stock_basicinfo`` frame that are listed on ``day`` and not delisted."""
    out = []
    for row in frame.to_dict("records"):
        try:
            code = str(parse_code(row.get("code")))
        except BuybacksError:
            continue  # not a code protocol 3235 serves
        # True, or numpy's True in a bool column; the SDK shows an unset field as "N/A"
        if code[:2] != market or str(row.get("delisting")) == "True":
            continue
        listing_date = _text(row.get("listing_date"))
        if listing_date is not None and _is_date(listing_date) and listing_date > day:
            continue  # not trading yet
        out.append(Listed(code, _text(row.get("name")), _text(row.get("stock_type")), listing_date))
    return out


def _text(value: Any) -> Optional[str]:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return str(value)


def _is_date(text: str) -> bool:
    try:
        dt.date.fromisoformat(text)
    except ValueError:
        return False
    return len(text) == 10


def fetch_universe(call: ListCall, market: str, day: str, *, limiter: RateLimiter, retries: int = 2,
                   backoff: float = 0.5, sleep: Callable[[float], None] = time.sleep,
                   on_request: Optional[Callable[[], None]] = None) -> List[Listed]:
    """The listed stocks and ETFs of ``market`` (``"HK"``, ``"SH"``, ``"SZ"``), sorted by code.

    ``call`` is ``ctx.get_stock_basicinfo``.  A failure costs what a failed page does
    (``_failures.classify``): a refusal for frequency is waited out, a transient one retried
    ``retries`` times with backoff; then, or at once for a permanent one, :class:`ServerError`
    (OpenD refused) or :class:`TransportError` (it did not answer) says which list failed.
    """
    found = {}
    for stock_type in STOCK_TYPES:
        failures = refusals = 0
        while True:
            limiter.acquire()
            if on_request is not None:
                on_request()
            ret, data = call(market, stock_type)
            if ret == RET_OK:
                break
            failure = classify(data)
            if failure is Failure.FREQUENCY and refusals < MAX_REFUSALS:
                refusals += 1
                log.info("futu_buybacks: OpenD refused listing %s %s for frequency (%s); waiting",
                         market, stock_type, data)
                limiter.penalize(limiter.period / 2)
                continue
            what = f"OpenD did not list the {market} market's {stock_type} securities (get_stock_basicinfo): {data}"
            if failure is not Failure.TRANSIENT:
                raise ServerError(what)
            failures += 1
            if failures > retries:
                raise TransportError(what)
            log.info("futu_buybacks: listing %s %s failed: %s; retry %d of %d", market, stock_type, data,
                     failures, retries)
            sleep(backoff * 2 ** (failures - 1))
        for entry in listed(data, market, day):
            found.setdefault(entry.code, entry)
    return [found[code] for code in sorted(found)]
