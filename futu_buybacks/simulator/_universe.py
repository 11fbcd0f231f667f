"""The simulator's universe: the securities it lists on protocol 3202 (Qot_GetStaticInfo, the
SDK's ``get_stock_basicinfo``), and the codes it knows on 3235 even without records.

:func:`synthetic_universe` makes a realistic one, deterministic for a seed: about 2,600 HK stocks
and ETFs and 5,300 A-shares in the code ranges the exchanges use, with gaps, plus A-share ETFs,
listing dates, and a few delisted codes.  A handful of well-known codes carry their real names
(:data:`KNOWN_NAMES`) and some their real listing dates (:data:`KNOWN_LISTING_DATES`); every
other name and date is made up.

:func:`static_info_reply` answers a 3202 request from a list of :class:`Listing`; it is the
whole protocol, so the server only routes to it.
"""

import datetime as dt
import functools
import random
import zlib
from typing import Any, Dict, Iterable, List, NamedTuple, Optional, Sequence, Tuple, Union

from .._codes import MARKET_NAMES, MARKETS, parse_code
from .._messages import PROTO_STATIC_INFO, response_class

#: The SDK's ``SecurityType`` names the simulator lists, with their wire numbers (Qot_Common
#: SecurityType: 3 Eqty, 4 Trust, which covers ETFs and other funds).
SECURITY_TYPES = {"STOCK": 3, "ETF": 4}
_EXCH_HK_MAIN, _EXCH_HK_GEM, _EXCH_SH, _EXCH_SZ, _EXCH_STAR = 1, 2, 14, 15, 16

#: Real names of a few codes the docs and the sample dataset use.
KNOWN_NAMES = {
    "HK.00001": "长和", "HK.00005": "汇丰控股", "HK.00388": "香港交易所", "HK.00700": "腾讯控股",
    "HK.01810": "小米集团-W", "HK.09988": "阿里巴巴-W", "HK.02800": "盈富基金", "HK.02828": "恒生中国企业",
    "HK.03033": "南方恒生科技", "HK.03067": "安硕恒生科技", "HK.03188": "华夏沪深三百",
    "SH.600000": "浦发银行", "SH.600519": "贵州茅台", "SH.601318": "中国平安", "SZ.000001": "平安银行",
    "SH.510050": "上证50ETF", "SH.510300": "沪深300ETF", "SZ.159915": "创业板ETF", "SZ.159919": "沪深300ETF",
}
#: Their listing dates, where the exchange's record is well known; the others' dates are made up.
KNOWN_LISTING_DATES = {
    "HK.00700": "2004-06-16", "HK.01810": "2018-07-09", "HK.09988": "2019-11-26", "HK.02800": "1999-11-12",
    "SH.600000": "1999-11-10", "SH.600519": "2001-08-27", "SH.601318": "2007-03-01", "SZ.000001": "1991-04-03",
    "SH.510050": "2005-02-23",
}
_KNOWN_ETFS = {"HK.02800", "HK.02828", "HK.03033", "HK.03067", "HK.03188",
               "SH.510050", "SH.510300", "SZ.159915", "SZ.159919"}


DEFAULT_LISTING_DATE = "2000-01-03"


class Listing(NamedTuple):
    """One security the simulator lists: what the SDK's ``get_stock_basicinfo`` shows of it."""

    code: str                       # "HK.00700"
    name: str
    stock_type: str = "STOCK"       # "STOCK" or "ETF" (the SDK's SecurityType names)
    listing_date: str = "2000-01-03"  # DEFAULT_LISTING_DATE
    delisted: bool = False
    lot_size: int = 100


def listing(code: str, **fields: Any) -> Listing:
    """A :class:`Listing` of ``code`` with its known or a made-up name unless given."""
    code = str(parse_code(code))
    name = fields.pop("name", None) or KNOWN_NAMES.get(code) or _made_up_name(random.Random(code), code)
    fields.setdefault("listing_date", KNOWN_LISTING_DATES.get(code, DEFAULT_LISTING_DATE))
    return Listing(code, name, **fields)


def as_listings(universe: Iterable[Union[Listing, str]]) -> Tuple[Listing, ...]:
    """``universe`` as listings: a code (``"HK.00700"``) becomes a listed stock; a code given
    twice is listed once (the first)."""
    seen: Dict[str, Listing] = {}
    for item in universe:
        entry = item if isinstance(item, Listing) else listing(item)
        if entry.stock_type not in SECURITY_TYPES:
            raise ValueError(f"{entry.code}: stock_type must be one of {sorted(SECURITY_TYPES)}, "
                             f"got {entry.stock_type!r}")
        seen.setdefault(entry.code, entry)
    return tuple(seen.values())


# ---- the synthetic universe -------------------------------------------------------------------
# (first, last, share of the market's stocks): the boards' code ranges, with shares close to the
# exchanges' own (HKEX main board and GEM; SSE main board and STAR; SZSE main board and ChiNext).
_HK_STOCKS = ((1, 1999, 0.55), (2000, 2799, 0.15), (3300, 3999, 0.10), (6000, 6999, 0.07),
              (8001, 8699, 0.09), (9600, 9999, 0.04))
_HK_ETFS = ((2800, 2849), (3000, 3199), (7200, 7399))
_HK_ETF_SHARE = 0.06
_A_STOCKS = (("SH", 600000, 605999, 0.33), ("SH", 688000, 689999, 0.11),
             ("SZ", 1, 3999, 0.29), ("SZ", 300000, 301999, 0.27))
_A_ETFS = (("SH", 510000, 519999, 0.6), ("SZ", 159000, 159999, 0.4))
_DELISTED_SHARE = 0.005
#: Earliest listing date per board (the exchange's or the board's opening).
_FIRST_DAY = {"HK": dt.date(1986, 4, 2), "HK.ETF": dt.date(1999, 11, 12), "SH": dt.date(1990, 12, 19),
              "SH.688": dt.date(2019, 7, 22), "SZ": dt.date(1991, 7, 3), "SZ.30": dt.date(2009, 10, 30),
              "SH.ETF": dt.date(2005, 2, 23), "SZ.ETF": dt.date(2006, 3, 1)}
_LAST_DAY = dt.date(2025, 12, 31)
_NAME_HEADS = "华中国新东恒金宏安海天永长信盛泰联嘉德百光明正通达丰瑞广汇"
_NAME_TAILS = ("科技", "控股", "集团", "银行", "地产", "能源", "医药", "电子", "实业", "股份", "环保", "传媒",
               "汽车", "食品", "材料", "电力", "物流", "证券", "保险", "软件")
_ETF_INDEXES = ("沪深300", "中证500", "中证1000", "创业板", "科创50", "恒生科技", "恒生指数", "红利", "医药",
                "半导体", "券商", "黄金", "国债", "纳指", "消费", "新能源", "银行", "军工")


@functools.lru_cache(maxsize=8)
def synthetic_universe(seed: int = 0, hk: int = 2600, a: int = 5300, a_etfs: int = 300) -> Tuple[Listing, ...]:
    """A realistic universe, the same for the same arguments, sorted by code.

    - ``hk`` HK listings: stocks in HK.00001-01999, 02000-02799, 03300-03999, 06000-06999, GEM
      08001-08699 and 09600-09999, and about 6% ETFs (HK.02800-02849, 03000-03199, 07200-07399);
    - ``a`` A-share stocks: SH.600000-605999 and STAR 688000-689999, SZ.000001-003999 and
      ChiNext 300000-301999, in about the exchanges' proportions;
    - ``a_etfs`` A-share ETFs: SH.51xxxx and SZ.159xxx.

    Codes within a range are drawn at random (the gaps are where nothing is listed); the codes of
    :data:`KNOWN_NAMES` are always in.  About 0.5% of each market is delisted (still listed by
    3202, with ``delisting`` set: the SDK's frame has the column, so a client has to filter).
    Listing dates are weekdays from the board's opening to 2025.
    """
    if min(hk, a, a_etfs) < 0:
        raise ValueError(f"counts must be >= 0, got hk={hk}, a={a}, a_etfs={a_etfs}")
    rng = random.Random(f"futu-buybacks universe/{seed}")
    hk_etfs = round(hk * _HK_ETF_SHARE)
    picked: List[Tuple[str, str]] = []  # (code, stock_type)
    picked += _draw(rng, [("HK", lo, hi, share) for lo, hi, share in _HK_STOCKS], hk - hk_etfs, "STOCK", 5)
    etf_ranges = [("HK", lo, hi, float(hi - lo + 1)) for lo, hi in _HK_ETFS]  # shares by the ranges' sizes
    picked += _draw(rng, etf_ranges, hk_etfs, "ETF", 5)
    picked += _draw(rng, list(_A_STOCKS), a, "STOCK", 6)
    picked += _draw(rng, list(_A_ETFS), a_etfs, "ETF", 6)
    listings = []
    for code, kind in sorted(picked):
        day = _listing_day(rng, code, kind).isoformat()
        listings.append(Listing(code, KNOWN_NAMES.get(code) or _made_up_name(rng, code, kind), kind,
                                KNOWN_LISTING_DATES.get(code, day), False, _lot_size(rng, code, kind)))
    for market in ("HK", "SH", "SZ"):
        candidates = [i for i, entry in enumerate(listings) if entry.code[:2] == market
                      and entry.code not in KNOWN_NAMES]
        for i in rng.sample(candidates, min(len(candidates), max(1, round(len(candidates) * _DELISTED_SHARE)))):
            listings[i] = listings[i]._replace(delisted=True)
    return tuple(listings)


def _draw(rng: random.Random, ranges: Sequence[Tuple[str, int, int, float]], count: int, kind: str,
          digits: int) -> List[Tuple[str, str]]:
    """``count`` distinct codes spread over ``ranges`` by their shares, the known ones of this
    kind first."""
    known = [code for code in KNOWN_NAMES if (code in _KNOWN_ETFS) == (kind == "ETF")
             and any(code[:2] == m and lo <= int(code[3:]) <= hi for m, lo, hi, _ in ranges)]
    known = known[:count]
    taken = set(known)
    wanted = count - len(known)
    total = sum(share for *_, share in ranges)
    out = [(code, kind) for code in known]
    drawn = 0
    for number, (market, lo, hi, share) in enumerate(ranges):
        quota = wanted - drawn if number == len(ranges) - 1 else round(wanted * share / total)
        known_here = {int(code[3:]) for code in taken if code[:2] == market}
        pool = [n for n in range(lo, hi + 1) if n not in known_here]
        if quota > len(pool):
            raise ValueError(f"cannot list {count} {kind} codes of {market} in these ranges; ask for fewer")
        out += [(f"{market}.{n:0{digits}d}", kind) for n in rng.sample(pool, quota)]
        drawn += quota
    return out


def _listing_day(rng: random.Random, code: str, kind: str) -> dt.date:
    market, symbol = code[:2], code[3:]
    key = f"{market}.ETF" if kind == "ETF" else (
        "SH.688" if symbol.startswith("68") and market == "SH" else
        "SZ.30" if symbol.startswith("30") and market == "SZ" else market)
    first = _FIRST_DAY[key]
    day = first + dt.timedelta(days=rng.randrange((_LAST_DAY - first).days + 1))
    return day + dt.timedelta(days=max(0, 7 - day.weekday()) if day.weekday() >= 5 else 0)


def _lot_size(rng: random.Random, code: str, kind: str) -> int:
    if code[:2] != "HK":
        return 100  # A-shares trade in lots of 100 (STAR: 200 to buy, shown here as 100)
    return rng.choice((100, 200, 400, 500, 1000, 2000)) if kind == "STOCK" else rng.choice((100, 200, 500))


def _made_up_name(rng: random.Random, code: str, kind: str = "STOCK") -> str:
    if kind == "ETF":
        return rng.choice(_ETF_INDEXES) + "ETF"
    name = rng.choice(_NAME_HEADS) + rng.choice(_NAME_HEADS) + rng.choice(_NAME_TAILS)
    return name + "-W" if code[:2] == "HK" and rng.random() < 0.03 else name


# ---- protocol 3202 ------------------------------------------------------------------------------
def static_info_reply(listings: Sequence[Listing], c2s: Any) -> Any:
    """The Response to a Qot_GetStaticInfo request: the listings of ``c2s.market`` of type
    ``c2s.secType``, or of the codes of ``c2s.securityList`` (then market and type are ignored,
    as the vendor documents).  A market the simulator does not list (US, ...) and a code it does
    not know are error replies; a type it has none of is an empty list."""
    reply = response_class(PROTO_STATIC_INFO)()
    if len(c2s.securityList):
        by_code = {entry.code: entry for entry in listings}
        chosen = []
        for security in c2s.securityList:
            code = f"{MARKET_NAMES.get(security.market, security.market)}.{security.code}"
            if code not in by_code:
                return _error(reply, f"unknown stock {code}")
            chosen.append(by_code[code])
    else:
        market = MARKET_NAMES.get(c2s.market)
        if market is None:
            return _error(reply, f"the simulator lists markets {', '.join(MARKETS)} only, not market {c2s.market}")
        chosen = [entry for entry in listings
                  if entry.code[:2] == market and SECURITY_TYPES[entry.stock_type] == c2s.secType]
    reply.retType = 0
    items = reply.s2c.staticInfoList
    for entry in chosen:
        _fill(items.add().basic, entry)
    return reply


def _fill(basic: Any, entry: Listing) -> None:
    market, symbol = entry.code.split(".", 1)
    basic.security.market = MARKETS[market]
    basic.security.code = symbol
    basic.id = zlib.crc32(entry.code.encode())  # stable per code, as OpenD's stock ids are
    basic.lotSize = entry.lot_size
    basic.secType = SECURITY_TYPES[entry.stock_type]
    basic.name = entry.name
    basic.listTime = entry.listing_date
    basic.delisting = entry.delisted
    basic.exchType = _exchange(market, symbol)


def _exchange(market: str, symbol: str) -> int:
    if market == "HK":
        return _EXCH_HK_GEM if symbol.startswith("08") and len(symbol) == 5 else _EXCH_HK_MAIN
    if market == "SH":
        return _EXCH_STAR if symbol.startswith(("688", "689")) else _EXCH_SH
    return _EXCH_SZ


def _error(reply: Any, message: str) -> Any:
    reply.retType = -1
    reply.retMsg = message
    return reply


def served(universe: Optional[Iterable[Union[Listing, str]]], dataset_codes: Iterable[str]) -> Tuple[Listing, ...]:
    """What a simulator lists: ``universe`` (None: :func:`synthetic_universe`), plus every code of
    its dataset it lacks (as a stock), since a code with records is always listed."""
    base = synthetic_universe() if universe is None else as_listings(universe)
    known = {entry.code for entry in base}
    missing = [listing(code) for code in dataset_codes if code not in known]
    return base + tuple(missing) if missing else base
