"""``load_buybacks(market=...)`` through the real SDK against the simulator: the list OpenD gives
(``get_stock_basicinfo``, protocol 3202), what a load costs, the day's cache, offline reads."""

import datetime as dt

import pytest
from google.protobuf import __version__ as protobuf_version

from futu_buybacks import Cache, RateLimiter, load_buybacks
from futu_buybacks._cache import CacheUnusable
from futu_buybacks.simulator import Dataset, Listing, Simulator, synthetic_dataset, synthetic_records

from conftest import SDKS

JSON_WORKS = int(protobuf_version.split(".")[0]) < 7  # as in test_e2e.py
pytestmark = [pytest.mark.e2e, pytest.mark.skipif(not SDKS, reason="no SDK installed")]

HK_STOCKS = [f"HK.{n:05d}" for n in range(1, 25)]
UNIVERSE = HK_STOCKS + [
    Listing("HK.02800", "盈富基金", "ETF"), Listing("HK.00030", "已退市", delisted=True),
    Listing("HK.00031", "未上市", listing_date="2999-01-04"), "SH.600000", "SH.600519", "SZ.000001", "SZ.300750"]
HK_LISTED = HK_STOCKS + ["HK.02800"]          # 25 codes: not the delisted one, nor the one not listed yet
A_LISTED = ["SH.600000", "SH.600519", "SZ.000001", "SZ.300750"]
WITH_RECORDS = {"HK.00005": 12, "HK.00011": 30, "SH.600519": 7, "SZ.000001": 5}
DAY = dt.datetime(2026, 3, 2, 10, 0, tzinfo=dt.timezone(dt.timedelta(hours=8))).timestamp()


class CountingLimiter(RateLimiter):
    def __init__(self):
        super().__init__("1000/1")
        self.acquired = 0

    def acquire(self):
        self.acquired += 1
        return super().acquire()


@pytest.fixture
def small(sdk):
    """A simulator listing 31 codes, 4 of them with records, and a context connected to it."""
    dataset = Dataset({code: synthetic_records(code, count) for code, count in WITH_RECORDS.items()})
    sim = Simulator(dataset, universe=UNIVERSE).start()
    ctx = sdk.OpenQuoteContext(host=sim.host, port=sim.port)
    yield sim, ctx
    ctx.close()
    sim.stop()


def test_get_stock_basicinfo_lists_the_simulators_universe(simulator, sdk):
    ctx = sdk.OpenQuoteContext(host=simulator.host, port=simulator.port)
    try:
        ret, stocks = ctx.get_stock_basicinfo(sdk.Market.HK, sdk.SecurityType.STOCK)
        ret_etf, etfs = ctx.get_stock_basicinfo(sdk.Market.SZ, sdk.SecurityType.ETF)
    finally:
        ctx.close()
    assert ret == ret_etf == 0
    want = [e for e in simulator.universe if e.code[:2] == "HK" and e.stock_type == "STOCK"]
    assert list(stocks["code"]) == [e.code for e in want] and len(want) > 2000
    assert list(stocks["name"]) == [e.name for e in want]
    assert list(stocks["listing_date"]) == [e.listing_date for e in want]
    assert list(stocks["delisting"]) == [e.delisted for e in want] and stocks["delisting"].sum() > 0
    assert set(stocks["stock_type"]) == {"STOCK"} and set(etfs["stock_type"]) == {"ETF"}
    assert etfs["code"].str.match(r"SZ\.159\d{3}$").all() and len(etfs) > 50
    row = stocks.set_index("code").loc["HK.00700"]
    assert (row["name"], row["listing_date"], row["exchange_type"]) == ("腾讯控股", "2004-06-16", "HK_MAINBOARD")


def test_a_market_costs_two_listings_and_one_request_per_code_then_the_list_is_reused(small, tmp_path):
    sim, ctx = small
    cache = Cache(tmp_path / "c.sqlite3")
    pages, lists = CountingLimiter(), CountingLimiter()
    clock = [DAY]
    tables = load_buybacks(ctx=ctx, market="HK", cache=cache, limiter=pages, universe_limiter=lists,
                           clock=lambda: clock[0])
    assert tables.ok and tables.codes == HK_LISTED
    assert sorted(tables.hk_buy_back_list["code"].value_counts().items()) == [("HK.00005", 12), ("HK.00011", 30)]
    assert tables.a_buy_back_list.empty
    assert (sim.requests[3202], sim.requests[3235]) == (2, 25)  # stocks and ETFs; one page per code
    assert (lists.acquired, pages.acquired, tables.requests) == (2, 25, 27)  # each protocol its own limiter
    again = load_buybacks(ctx=ctx, market="HK", cache=cache, limiter=pages, universe_limiter=lists,
                          clock=lambda: clock[0] + 3600 * 8)
    assert (sim.requests[3202], again.requests) == (2, 25) and again.codes == HK_LISTED  # same day: cached list
    assert again.hk_buy_back_list.equals(tables.hk_buy_back_list)
    clock[0] += 86400
    load_buybacks(ctx=ctx, market="HK", cache=cache, limiter=pages, universe_limiter=lists, clock=lambda: clock[0])
    assert sim.requests[3202] == 4  # a new day: listed again
    load_buybacks(ctx=ctx, market="HK", cache=cache, limiter=pages, universe_limiter=lists, clock=lambda: clock[0],
                  full=True)
    assert sim.requests[3202] == 6  # full: the list too


def test_market_a_is_sh_and_sz_and_offline_reads_the_cached_list(small, tmp_path):
    sim, ctx = small
    path = tmp_path / "c.sqlite3"
    tables = load_buybacks(ctx=ctx, market="A", cache=path, limiter=RateLimiter("1000/1"))
    assert tables.codes == A_LISTED and sim.requests[3202] == 4
    assert sorted(set(tables.a_buy_back_list["code"])) == ["SH.600519", "SZ.000001"]
    assert len(tables.a_buy_back_list) == 12 and tables.hk_buy_back_list.empty
    before = sum(sim.requests.values())
    offline = load_buybacks(market=["SH", "SZ"], host=sim.host, port=sim.port, cache=path, offline=True)
    assert offline.codes == A_LISTED and offline.requests == 0 and sum(sim.requests.values()) == before
    assert offline.a_buy_back_list.drop(columns="first_seen").equals(tables.a_buy_back_list.drop(columns="first_seen"))
    with pytest.raises(CacheUnusable, match="no list of the HK market from simulator:custom: load with market='HK'"):
        load_buybacks(market="HK", host=sim.host, port=sim.port, cache=path, offline=True)


def test_as_of_reads_the_list_of_that_moment(sdk, tmp_path):
    path = tmp_path / "c.sqlite3"
    dataset = synthetic_dataset(["HK.00001", "HK.00002"], 3)
    loaded_at = []
    for day, universe in ((0, ["HK.00001", "HK.00002", "HK.00003"]), (1, ["HK.00003", "HK.00004"])):
        if day:
            del dataset.records["HK.00001"]  # delisted: no longer listed, its records gone from the server
        with Simulator(dataset, universe=universe) as sim:
            ctx = sdk.OpenQuoteContext(host=sim.host, port=sim.port)
            try:
                tables = load_buybacks(ctx=ctx, market="HK", cache=path, limiter=RateLimiter("1000/1"),
                                       clock=lambda day=day: DAY + day * 86400)
            finally:
                ctx.close()
            loaded_at.append((DAY + day * 86400 + 1, tables))
    assert loaded_at[1][1].codes == ["HK.00002", "HK.00003", "HK.00004"]  # HK.00002 has records: always listed
    moment, first = loaded_at[0]
    past = load_buybacks(market="HK", host=sim.host, port=sim.port, cache=path, as_of=moment)
    assert past.codes == ["HK.00001", "HK.00002", "HK.00003"]
    assert past.hk_buy_back_list.equals(first.hk_buy_back_list) and len(past.hk_buy_back_list) == 6


@pytest.mark.skipif(not JSON_WORKS, reason="the SDKs' JSON decoding does not work on protobuf 7")
def test_the_list_is_the_same_in_json_format(small, sdk):
    sim, ctx = small
    expected = ctx.get_stock_basicinfo("HK", "STOCK")
    sdk.SysConfig.set_proto_fmt(sdk.ProtoFMT.Json)
    try:
        json_ctx = sdk.OpenQuoteContext(host=sim.host, port=sim.port)
        try:
            got = json_ctx.get_stock_basicinfo("HK", "STOCK")
        finally:
            json_ctx.close()
    finally:
        sdk.SysConfig.set_proto_fmt(sdk.ProtoFMT.Protobuf)
    assert sim.formats[1] >= 2  # InitConnect and the listing, at least, in JSON
    assert expected[0] == got[0] == 0 and got[1].equals(expected[1]) and len(got[1]) == 26
