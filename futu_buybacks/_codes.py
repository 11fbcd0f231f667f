"""Parsing and validation of the method's parameters (no I/O, no SDK imports).

The rule: accept every call the vendor's method (futu-api / moomoo-api 10.6+) completes and send
what it sends; refuse, before sending and with a message saying what is accepted, every call it
fails or OpenD rejects.  The native method checks nothing itself: it parses ``str(code)`` with
``split_stock_str``, sets ``nextKey = next_key`` on the protobuf message (which takes a ``str``
or UTF-8 ``bytes``) and ``num = int(num)``; OpenD then refuses markets other than HK/SH/SZ, codes
it does not know and ``num`` outside 1..50.  So ``num=numpy.int64(50)``, ``50.0``, ``"10"``,
``next_key=b"3"`` and ``next_key=""`` (the first page) go through exactly as natively, and
``num=7.9`` sends 7 as ``int()`` does.  ``split_stock_str`` is case-sensitive and strips nothing:
``"hk.00700"`` and ``" HK.00700"`` fail natively; we refuse them too, but say why and suggest the
fix.  docs/api.md tabulates every case; tests/test_vendor_inputs.py checks each against the SDK.
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
    try:
        text = repr(value)
    except Exception:  # an int past sys.get_int_max_str_digits(), a broken __repr__
        return f"a {type(value).__name__} that cannot be shown"
    if len(text) <= _SHOWN:
        return text
    size = f"{len(value)} chars" if isinstance(value, str) else f"{len(text)} chars as repr"
    return f"{text[:_SHOWN]}... ({size})"


def parse_code(code: object) -> Security:
    """Parse ``"HK.00700"`` into a :class:`Security`; raise :class:`InvalidArgument` otherwise."""
    accepted = "accepted: 'MARKET.SYMBOL' with MARKET one of HK, SH, SZ, e.g. 'HK.00700', 'SH.600519'"
    if not isinstance(code, str):  # bytes too: the SDK parses str(b"HK.00700"), "b'HK.00700'"
        raise InvalidArgument(f"code must be a str, got {type(code).__name__} {_show(code)}; {accepted}")
    code = str(code)  # what the SDK parses; a str subclass (numpy.str_) as its plain str
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
    """``None`` (server default, 10 rows), else ``int(num)`` as the SDK sends it, if in 1..50.

    Whatever ``int()`` converts is accepted, as natively: numpy integers, ``50.0``, ``"10"``,
    ``True`` (1), ``7.9`` (7).
    """
    if num is None:
        return None
    try:
        value = int(num)  # exactly what the SDK sends
    except Exception:
        raise InvalidArgument(
            f"num must be an int in {NUM_MIN}..{NUM_MAX} or None (a value int() converts, as the SDK "
            f"sends int(num)), got {type(num).__name__} {_show(num)}") from None
    if not NUM_MIN <= value <= NUM_MAX:
        shown = _show(value) if type(num) is int else f"{_show(num)} (int(num) = {_show(value)})"
        raise InvalidArgument(f"num must be an int in {NUM_MIN}..{NUM_MAX}, got {shown}")
    return value


def check_next_key(next_key: object) -> Optional[str]:
    """``None`` or ``""`` for the first page, else the ``next_key`` of the previous reply.

    A ``str``, or UTF-8 ``bytes`` (read as the str they encode): what the protobuf field takes.
    """
    accepted = "next_key must be None (first page) or the str next_key of the previous reply"
    if next_key is None:
        return None
    if isinstance(next_key, str):
        try:
            next_key.encode("utf-8")
        except UnicodeEncodeError:
            raise InvalidArgument(
                f"{accepted}, got {_show(next_key)}, which has no UTF-8 form (a lone surrogate)") from None
        return next_key
    if isinstance(next_key, bytes):
        try:
            return next_key.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidArgument(
                f"{accepted} (or its UTF-8 bytes), got {_show(next_key)}, which is not UTF-8") from None
    raise InvalidArgument(f"{accepted}, got {type(next_key).__name__} {_show(next_key)}")


def make_query(code: object, next_key: object = None, num: object = None) -> BuybackQuery:
    """Validate the three parameters of ``get_corporate_actions_buybacks`` together."""
    return BuybackQuery(parse_code(code), check_next_key(next_key), check_num(num))
