"""Universes without a network: the simulator's synthetic universe and its protocol 3202 answer,
the loader's market names, filtering and retries, and the cache's lists over time."""

import collections
import datetime as dt

import numpy as np
import pandas as pd
import pytest
from test_ratelimit import FakeClock

from futu_buybacks import Cache, InvalidArgument, RateLimiter, ServerError, TransportError, load_buybacks
from futu_buybacks._messages import PROTO_STATIC_INFO, request_class
from futu_buybacks._universe import Listed, fetch_universe, listed, market_day, parse_markets
from futu_buybacks.simulator import Listing, Simulator, synthetic_dataset, synthetic_universe
from futu_buybacks.simulator._universe import KNOWN_NAMES, static_info_reply


def in_ranges(code, ranges):
    return any(code[:2] == market and lo <= int(code[3:]) <= hi for market, lo, hi in ranges)


def test_synthetic_universe_has_the_exchanges_counts_and_code_ranges():
    universe = synthetic_universe()
    kinds = collections.Counter((entry.code[:2], entry.stock_type) for entry in universe)
    assert kinds[("HK", "STOCK")] + kinds[("HK", "ETF")] == 2600
    assert kinds[("SH", "STOCK")] + kinds[("SZ", "STOCK")] == 5300
    assert kinds[("SH", "ETF")] + kinds[("SZ", "ETF")] == 300
    assert 100 < kinds[("HK", "ETF")] < 200 and kinds[("SH", "ETF")] > kinds[("SZ", "ETF")] > 0
    codes = [entry.code for entry in universe]
    assert codes == sorted(set(codes))
    for entry in universe:
        ranges = {
            ("HK", "STOCK"): [("HK", 1, 1999), ("HK", 2000, 2799), ("HK", 3300, 3999), ("HK", 6000, 6999),
                              ("HK", 8001, 8699), ("HK", 9600, 9999)],
            ("HK", "ETF"): [("HK", 2800, 2849), ("HK", 3000, 3199), ("HK", 7200, 7399)],
            ("SH", "STOCK"): [("SH", 600000, 605999), ("SH", 688000, 689999)],
            ("SZ", "STOCK"): [("SZ", 1, 3999), ("SZ", 300000, 301999)],
            ("SH", "ETF"): [("SH", 510000, 519999)], ("SZ", "ETF"): [("SZ", 159000, 159999)],
        }[(entry.code[:2], entry.stock_type)]
        assert len(entry.code) == (8 if entry.code[:2] == "HK" else 9) and in_ranges(entry.code, ranges), entry
        day = dt.date.fromisoformat(entry.listing_date)
        assert day.weekday() < 5 and dt.date(1986, 4, 2) <= day <= dt.date(2026, 1, 2)
        if entry.code.startswith("SH.688"):
            assert day >= dt.date(2019, 7, 22)  # STAR opened then
    main_board = [c for c in codes if in_ranges(c, [("HK", 1, 1999)])]
    assert 1000 < len(main_board) < 1999  # dense, with gaps
    sh_main = [c for c in codes if in_ranges(c, [("SH", 600000, 605999)])]
    assert 1000 < len(sh_main) < 3000


def test_known_codes_have_their_names_and_types_and_a_few_are_delisted():
    by_code = {entry.code: entry for entry in synthetic_universe()}
    for code, name in KNOWN_NAMES.items():
        assert by_code[code].name == name and not by_code[code].delisted
    assert by_code["HK.00700"].listing_date == "2004-06-16" and by_code["HK.00700"].stock_type == "STOCK"
    assert {by_code[c].stock_type for c in ("HK.02800", "HK.03033", "SH.510300", "SZ.159915")} == {"ETF"}
    for market in ("HK", "SH", "SZ"):
        entries = [e for e in by_code.values() if e.code[:2] == market]
        delisted = sum(e.delisted for e in entries)
        assert 1 <= delisted <= len(entries) // 100


def test_synthetic_universe_is_deterministic_per_seed_and_sized_by_its_arguments():
    make = synthetic_universe.__wrapped__  # past the cache: made again
    assert make(3, hk=200, a=300, a_etfs=20) == make(3, hk=200, a=300, a_etfs=20) != make(4, hk=200, a=300, a_etfs=20)
    small = make(seed=1, hk=40, a=60, a_etfs=10)
    kinds = collections.Counter(entry.code[:2] + ("E" if entry.stock_type == "ETF" else "") for entry in small)
    assert kinds["HK"] + kinds["HKE"] == 40 and kinds["SH"] + kinds["SZ"] == 60 and kinds["SHE"] + kinds["SZE"] == 10
    with pytest.raises(ValueError, match="ask for fewer"):
        make(hk=100_000)


def test_simulator_lists_its_dataset_and_most_listed_codes_have_no_records():
    sim = Simulator()  # the sample dataset, the default universe (not started: nothing listens)
    listed_codes = {entry.code for entry in sim.universe}
    assert set(sim.dataset.records) <= listed_codes and len(listed_codes) >= 8200
    with_records = [code for code in listed_codes if sim.dataset.records.get(code)]
    assert len(with_records) / len(listed_codes) < 0.01
    own = Simulator(synthetic_dataset(["HK.99991"], 2), universe=["HK.00001", Listing("SZ.000002", "万科A")])
    assert [entry.code for entry in own.universe] == ["HK.00001", "SZ.000002", "HK.99991"]  # the dataset's too
    assert [entry.name for entry in own.universe[:2]] == ["长和", "万科A"]
    assert [e.code for e in Simulator(synthetic_dataset(["HK.00700"], 1), universe=()).universe] == ["HK.00700"]


def request(**c2s):
    message = request_class(PROTO_STATIC_INFO)()
    for name, value in c2s.items():
        if name == "securityList":
            for market, code in value:
                security = message.c2s.securityList.add()
                security.market, security.code = market, code
        else:
            setattr(message.c2s, name, value)
    return message.c2s


LISTINGS = (Listing("HK.00700", "腾讯控股", listing_date="2004-06-16"), Listing("HK.02800", "盈富基金", "ETF"),
            Listing("HK.08001", "GEM", delisted=True), Listing("SH.688001", "华兴源创"),
            Listing("SZ.000001", "平安银行"))


def test_static_info_reply_lists_a_market_of_one_type():
    reply = static_info_reply(LISTINGS, request(market=1, secType=3))
    assert reply.retType == 0
    basics = [item.basic for item in reply.s2c.staticInfoList]
    assert [(b.security.market, b.security.code, b.name, b.listTime, b.delisting, b.exchType) for b in basics] == [
        (1, "00700", "腾讯控股", "2004-06-16", False, 1), (1, "08001", "GEM", "2000-01-03", True, 2)]
    assert [b.secType for b in basics] == [3, 3] and basics[0].lotSize == 100 and basics[0].id > 0
    etfs = static_info_reply(LISTINGS, request(market=1, secType=4)).s2c.staticInfoList
    assert [item.basic.security.code for item in etfs] == ["02800"]
    star = static_info_reply(LISTINGS, request(market=21, secType=3)).s2c.staticInfoList
    assert [(i.basic.security.code, i.basic.exchType) for i in star] == [("688001", 16)]
    warrants = static_info_reply(LISTINGS, request(market=1, secType=5))
    assert warrants.retType == 0 and len(warrants.s2c.staticInfoList) == 0


def test_static_info_reply_by_codes_and_its_errors():
    by_codes = static_info_reply(LISTINGS, request(market=1, secType=3, securityList=[(22, "000001"), (1, "02800")]))
    assert [item.basic.name for item in by_codes.s2c.staticInfoList] == ["平安银行", "盈富基金"]  # market ignored
    unknown = static_info_reply(LISTINGS, request(securityList=[(1, "99999")]))
    assert (unknown.retType, unknown.retMsg) == (-1, "unknown stock HK.99999")
    us = static_info_reply(LISTINGS, request(market=11, secType=3))
    assert us.retType == -1 and "HK, SH, SZ only" in us.retMsg


@pytest.mark.parametrize("market, expected", [
    ("HK", ("HK",)), ("A", ("SH", "SZ")), ("SZ", ("SZ",)), ("HK,A", ("HK", "SH", "SZ")),
    (["SZ", "A"], ("SZ", "SH")), (("SH", "SH"), ("SH",)), (" HK , SH ", ("HK", "SH"))])
def test_market_names(market, expected):
    assert parse_markets(market) == expected


@pytest.mark.parametrize("market, message", [
    ("hk", "did you mean 'HK'"), ("US", "'US' is not one protocol 3235 serves"), ("", "is not one"),
    ([], "names no market"), (5, "must be a str or an iterable"), (["HK", 1], "1 in it"),
    (b"HK", "must be a str")])
def test_bad_market_names_say_what_is_accepted(market, message):
    with pytest.raises(InvalidArgument, match=message) as info:
        parse_markets(market)
    assert "accepted: HK, SH, SZ, A" in str(info.value)


@pytest.mark.parametrize("kwargs, message", [
    ({}, "neither"), ({"codes": ["HK.00700"], "market": "HK"}, "both"), ({"market": "NASDAQ"}, "NASDAQ"),
    ({"market": "HK", "universe_limiter": "10/30"}, "universe_limiter must be a RateLimiter")])
def test_load_refuses_bad_universe_arguments_before_connecting(kwargs, message):
    with pytest.raises(InvalidArgument, match=message):
        load_buybacks(port=1, cache=False, **kwargs)  # nothing listens on port 1: a connection would fail


def test_a_market_name_given_as_a_code_is_reported_with_a_hint():
    tables = load_buybacks(["HK", ["HK.00700"]], port=1, cache=False)  # nothing valid: no connection
    assert tables.errors["HK"].endswith("(every code OpenD lists there: market='HK')")
    assert "market=" not in tables.errors["['HK.00700']"]


def test_listed_keeps_listed_codes_of_the_market():
    frame = pd.DataFrame([
        {"code": "HK.00001", "name": "长和", "stock_type": "STOCK", "listing_date": "2015-03-18", "delisting": False},
        {"code": "HK.00002", "name": "gone", "stock_type": "STOCK", "listing_date": "1980-01-02", "delisting": True},
        {"code": "HK.00003", "name": "np", "stock_type": "STOCK", "listing_date": "1980-01-02", "delisting": np.True_},
        {"code": "HK.00004", "name": "soon", "stock_type": "STOCK", "listing_date": "2026-03-03", "delisting": False},
        {"code": "HK.00005", "name": "today", "stock_type": "STOCK", "listing_date": "2026-03-02", "delisting": "N/A"},
        {"code": "HK.00006", "name": "no date", "stock_type": "ETF", "listing_date": "", "delisting": None},
        {"code": "HK.00007", "name": None, "stock_type": "STOCK", "listing_date": "N/A", "delisting": float("nan")},
        {"code": "SZ.000001", "name": "other market", "stock_type": "STOCK", "listing_date": "", "delisting": False},
        {"code": "US.AAPL", "name": "not served", "stock_type": "STOCK", "listing_date": "", "delisting": False},
    ])
    assert listed(frame, "HK", "2026-03-02") == [
        Listed("HK.00001", "长和", "STOCK", "2015-03-18"), Listed("HK.00005", "today", "STOCK", "2026-03-02"),
        Listed("HK.00006", "no date", "ETF", ""), Listed("HK.00007", None, "STOCK", "N/A")]
    assert market_day(dt.datetime(2026, 3, 1, 16, 30, tzinfo=dt.timezone.utc).timestamp()) == "2026-03-02"


def frame(*codes):
    return pd.DataFrame([{"code": c, "name": c, "stock_type": "STOCK", "listing_date": "2001-01-02",
                          "delisting": False} for c in codes])


def test_fetch_universe_waits_out_refusals_retries_and_merges_both_types():
    answers = {"STOCK": [(-1, "请求频率太高"), (-1, "Timeout"), (0, frame("HK.00002", "HK.00001"))],
               "ETF": [(0, frame("HK.02800", "HK.00001"))]}
    calls, clock = [], FakeClock()
    requests = []

    def call(market, stock_type):
        calls.append((market, stock_type))
        return answers[stock_type].pop(0)

    limiter = RateLimiter("10/30", clock=clock, sleep=clock.sleep)
    got = fetch_universe(call, "HK", "2026-03-02", limiter=limiter, sleep=clock.sleep,
                         on_request=lambda: requests.append(1))
    assert [entry.code for entry in got] == ["HK.00001", "HK.00002", "HK.02800"]
    assert calls == [("HK", "STOCK")] * 3 + [("HK", "ETF")] and len(requests) == 4
    assert limiter.waits == 1  # the refusal: half a window


@pytest.mark.parametrize("message, error", [("行情权限不足", ServerError), ("Timeout", TransportError)])
def test_fetch_universe_says_which_list_failed(message, error):
    calls = []

    def call(market, stock_type):
        calls.append(stock_type)
        return -1, message

    with pytest.raises(error, match=f"did not list the SZ market's STOCK securities .*: {message}"):
        fetch_universe(call, "SZ", "2026-03-02", limiter=RateLimiter("1000/1"), retries=2, sleep=lambda s: None)
    assert len(calls) == (1 if error is ServerError else 3)


def entries(*codes):
    return [Listed(code, f"name of {code}", "STOCK", "2001-01-02") for code in codes]


def test_cached_lists_keep_their_history(tmp_path):
    with Cache(tmp_path / "c.sqlite3") as cache:
        assert cache.universe("opend:1", "HK") is None
        cache.store_universe("opend:1", "HK", entries("HK.00002", "HK.00001", "HK.00003"), day="2026-03-02", now=100.0)
        cache.store_universe("opend:2", "HK", entries("HK.00009"), day="2026-03-02", now=100.0)
        assert cache.universe("opend:1", "HK") == ("2026-03-02", ["HK.00001", "HK.00002", "HK.00003"])
        # the next day: HK.00001 delisted, HK.00004 new
        cache.store_universe("opend:1", "HK", entries("HK.00002", "HK.00003", "HK.00004"), day="2026-03-03", now=200.0)
        assert cache.universe("opend:1", "HK") == ("2026-03-03", ["HK.00002", "HK.00003", "HK.00004"])
        assert cache.universe("opend:1", "HK", as_of=150.0) == (None, ["HK.00001", "HK.00002", "HK.00003"])
        assert cache.universe("opend:1", "HK", as_of=50.0) is None
        assert cache.universe("opend:1", "SZ") is None and cache.universe("opend:2", "HK")[1] == ["HK.00009"]
        # listed again at the same moment it was dropped (a fake clock): one row again, current
        cache.store_universe("opend:1", "HK", entries("HK.00002"), day="2026-03-03", now=200.0)
        cache.store_universe("opend:1", "HK", entries("HK.00002", "HK.00004"), day="2026-03-03", now=200.0)
        assert cache.universe("opend:1", "HK")[1] == ["HK.00002", "HK.00004"]
        cache.clear("opend:1", ["HK.00002"])  # forgetting codes' records keeps the lists
        assert cache.universe("opend:1", "HK") is not None
        cache.clear("opend:1")
        assert cache.universe("opend:1", "HK") is None and cache.universe("opend:2", "HK") is not None
