"""Parsing and validation of the method's parameters (no I/O, no SDK imports).

The SDK's own parser (``split_stock_str``) is case-sensitive and strips nothing: it rejects
``"hk.00700"`` and ``" HK.00700"``.  We do the same, but say why and suggest the fix, and we
refuse everything the buyback service cannot answer before a request is sent.
"""

import re
from dataclasses import dataclass
from typing import Optional

from ._errors import InvalidArgument

#: Markets served by protocol 3235, with their Qot_Common.QotMarket numbers.
MARKETS = {"HK": 1, "SH": 21, "SZ": 22}
MARKET_NAMES = {number: name for name, number in MARKETS.items()}

NUM_MIN, NUM_MAX = 1, 50
#: ``next_key`` value meaning "no more pages".
END_KEY = "-1"

_SYMBOL = re.compile(r"[0-9A-Za-z]{1,10}")
_SHOWN = 40  # characters of a bad value quoted back in a message


@dataclass(frozen=True)
class Security:
    """A validated security code: ``market`` is the QotMarket number, ``symbol`` the part after the dot."""

    market: int
    symbol: str

    @property
    def market_name(self) -> str:
        return MARKET_NAMES[self.market]

    def __str__(self) -> str:
        return f"{self.market_name}.{self.symbol}"


@dataclass(frozen=True)
class BuybackQuery:
    """One validated request of protocol 3235."""

    security: Security
    next_key: Optional[str] = None
    num: Optional[int] = None


def _show(value: object) -> str:
    text = repr(value)
    if len(text) <= _SHOWN:
        return text
    size = f"{len(value)} chars" if isinstance(value, str) else f"{len(text)} chars as repr"
    return f"{text[:_SHOWN]}... ({size})"


def parse_code(code: object) -> Security:
    """Parse ``"HK.00700"`` into a :class:`Security`; raise :class:`InvalidArgument` otherwise."""
    accepted = "accepted: 'MARKET.SYMBOL' with MARKET one of HK, SH, SZ, e.g. 'HK.00700', 'SH.600519'"
    if not isinstance(code, str):
        raise InvalidArgument(f"code must be a str, got {type(code).__name__} {_show(code)}; {accepted}")
    if code != code.strip() or any(ch.isspace() for ch in code):
        raise InvalidArgument(f"code must not contain whitespace, got {_show(code)}; {accepted}")
    market, dot, symbol = code.partition(".")
    if not dot or not market or not symbol:
        raise InvalidArgument(f"code {_show(code)} is not of the form MARKET.SYMBOL; {accepted}")
    if market not in MARKETS:
        if market.upper() in MARKETS:
            raise InvalidArgument(
                f"code market must be upper case as in the SDK, got {_show(code)}; "
                f"did you mean '{market.upper()}.{symbol}'?")
        raise InvalidArgument(
            f"code market {_show(market)} is not served by the buyback service; {accepted}")
    if not _SYMBOL.fullmatch(symbol):
        raise InvalidArgument(
            f"code symbol {_show(symbol)} must be 1 to 10 ASCII letters or digits; {accepted}")
    return Security(MARKETS[market], symbol)


def check_num(num: object) -> Optional[int]:
    """``None`` (server default, 10 rows) or an int in 1..50; bool is refused."""
    if num is None:
        return None
    if isinstance(num, bool) or not isinstance(num, int):
        raise InvalidArgument(
            f"num must be an int in {NUM_MIN}..{NUM_MAX} or None, got {type(num).__name__} {_show(num)}")
    if not NUM_MIN <= num <= NUM_MAX:
        raise InvalidArgument(f"num must be an int in {NUM_MIN}..{NUM_MAX}, got {num}")
    return int(num)


def check_next_key(next_key: object) -> Optional[str]:
    """``None`` for the first page, else the ``next_key`` string of the previous reply."""
    if next_key is None:
        return None
    if not isinstance(next_key, str):
        raise InvalidArgument(
            "next_key must be None (first page) or the str next_key of the previous reply, "
            f"got {type(next_key).__name__} {_show(next_key)}")
    if not next_key:
        raise InvalidArgument(
            "next_key must be None (first page) or the str next_key of the previous reply, got ''")
    return next_key


def make_query(code: object, next_key: object = None, num: object = None) -> BuybackQuery:
    """Validate the three parameters of ``get_corporate_actions_buybacks`` together."""
    return BuybackQuery(parse_code(code), check_next_key(next_key), check_num(num))
