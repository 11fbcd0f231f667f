"""The trading days the simulator serves (protocol 3219), from ``trading_days.json``.

Per market (``"HK"``, and ``"CN"`` for the mainland, whose SH and SZ securities share it) the file
gives the range it covers, the weekdays that are not trading days and the half days with a morning
session only; every other weekday in the range is a whole trading day, and weekends never are.
It was made once from exchange_calendars by ``tools/trading_days.py`` (``make trading-days``),
so the simulator needs no calendar package at run time.
"""

import datetime as dt
import functools
import json
import pkgutil
from dataclasses import dataclass
from typing import Dict, FrozenSet, List, Tuple

DATA_FILE = "trading_days.json"
#: Qot_Common.TradeDateType
WHOLE, MORNING = 0, 1


@dataclass(frozen=True)
class MarketDays:
    """One market's trading days: weekdays in ``first..last`` less ``holidays``."""

    market: str
    first: dt.date
    last: dt.date
    holidays: FrozenSet[dt.date]
    morning: FrozenSet[dt.date]

    def covers(self, begin: dt.date, end: dt.date) -> bool:
        return self.first <= begin and end <= self.last

    def sessions(self, begin: dt.date, end: dt.date) -> List[Tuple[dt.date, int]]:
        """``(day, TradeDateType)`` of each trading day from ``begin`` to ``end`` inclusive."""
        days = []
        day = begin
        while day <= end:
            if day.weekday() < 5 and day not in self.holidays:
                days.append((day, MORNING if day in self.morning else WHOLE))
            day += dt.timedelta(days=1)
        return days


def _dates(values: List[str]) -> FrozenSet[dt.date]:
    return frozenset(dt.date.fromisoformat(value) for value in values)


@functools.cache
def trading_days() -> Dict[str, MarketDays]:
    """The shipped calendars by market (read once)."""
    data = pkgutil.get_data(__name__.rpartition(".")[0], DATA_FILE)
    assert data is not None, f"{DATA_FILE} is missing from the package"
    markets = json.loads(data.decode("utf-8"))["markets"]
    return {market: MarketDays(market, dt.date.fromisoformat(days["first"]), dt.date.fromisoformat(days["last"]),
                               _dates(days["holidays"]), _dates(days["morning"]))
            for market, days in markets.items()}
