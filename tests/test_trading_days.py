"""Trading days (protocol 3219): the simulator's calendars, its replies, and ``opend_sessions``."""

import contextlib
import datetime as dt
import importlib
import importlib.util
import io
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from google.protobuf import __version__ as protobuf_version

from futu_buybacks import HostUnsupported, InvalidArgument, ServerError, TransportError
from futu_buybacks._messages import PROTO_TRADE_DATE, request_class, response_class
from futu_buybacks._trading_days import opend_sessions
from futu_buybacks.simulator import Simulator
from futu_buybacks.simulator import _calendar as calendar_module
from futu_buybacks.simulator._calendar import DATA_FILE, MORNING, WHOLE, trading_days

from conftest import SDKS
from fakes import fake_context

D = dt.date


def sessions(market, begin, end):
    return [day for day, _ in trading_days()[market].sessions(begin, end)]


# ---- the shipped calendars -------------------------------------------------------------------

def test_known_holidays_are_not_trading_days_and_ordinary_weekdays_are():
    hk = sessions("HK", D(2024, 2, 8), D(2024, 2, 16))
    assert hk == [D(2024, 2, 8), D(2024, 2, 9), D(2024, 2, 14), D(2024, 2, 15), D(2024, 2, 16)]  # Lunar New Year
    cn = sessions("CN", D(2024, 9, 27), D(2024, 10, 9))
    assert cn == [D(2024, 9, 27), D(2024, 9, 30), D(2024, 10, 8), D(2024, 10, 9)]  # National Day
    assert sessions("HK", D(2024, 10, 1), D(2024, 10, 2)) == [D(2024, 10, 2)]  # HK keeps one day of it
    assert sessions("HK", D(2024, 12, 21), D(2024, 12, 22)) == [] == sessions("CN", D(2024, 12, 21), D(2024, 12, 22))


def test_half_days_are_morning_sessions_in_hk_only():
    hk = dict(trading_days()["HK"].sessions(D(2024, 12, 23), D(2024, 12, 31)))
    assert hk == {D(2024, 12, 23): WHOLE, D(2024, 12, 24): MORNING, D(2024, 12, 27): WHOLE,
                  D(2024, 12, 30): WHOLE, D(2024, 12, 31): MORNING}
    assert dict(trading_days()["HK"].sessions(D(2024, 2, 9), D(2024, 2, 9))) == {D(2024, 2, 9): MORNING}
    assert set(dict(trading_days()["CN"].sessions(D(2015, 1, 1), D(2026, 12, 31))).values()) == {WHOLE}


def test_a_typhoon_closure_stays_a_trading_day_as_in_opend():
    """OpenD leaves in the days closed without notice (the vendor's Qot_RequestTradeDate.proto)."""
    assert sessions("HK", D(2023, 7, 17), D(2023, 7, 17)) == [D(2023, 7, 17)]


def test_coverage():
    assert (trading_days()["HK"].first, trading_days()["HK"].last) == (D(2015, 1, 1), D(2027, 12, 31))
    assert (trading_days()["CN"].first, trading_days()["CN"].last) == (D(2015, 1, 1), D(2026, 12, 31))
    assert len(sessions("HK", D(2023, 1, 1), D(2023, 12, 31))) == 246
    assert len(sessions("CN", D(2023, 1, 1), D(2023, 12, 31))) == 242


def version(text):
    return tuple(int(part) for part in re.findall(r"\d+", text)[:3])


def made_with():
    """The exchange_calendars release the shipped calendars were generated from."""
    about = json.loads((Path(calendar_module.__file__).parent / DATA_FILE).read_text(encoding="utf-8"))["about"]
    return re.search(r"exchange_calendars (\d+(?:\.\d+)+)", about).group(1)


@pytest.mark.skipif(importlib.util.find_spec("exchange_calendars") is None, reason="exchange_calendars not installed")
@pytest.mark.filterwarnings("ignore:Series.values returning an ndarray")  # inside exchange_calendars, pandas 3.1
@pytest.mark.parametrize("market, name", [("HK", "XHKG"), ("CN", "XSHG")])
def test_calendars_agree_with_exchange_calendars(market, name):
    """Every day of the range: the calendar ``make trading-days`` was made from, less the weather
    closures OpenD keeps as trading days; half days are its early closes (noon)."""
    import exchange_calendars
    if version(exchange_calendars.__version__) < version(made_with()):
        # an older release knows fewer holidays (4.5.6 on Python 3.9: XSHG's 2025 ones are wrong)
        pytest.skip(f"exchange_calendars {exchange_calendars.__version__} is older than the {made_with()} "
                    "the simulator's calendars were made from")
    days = trading_days()[market]
    calendar = exchange_calendars.get_calendar(name, start=days.first.isoformat(), end=days.last.isoformat())
    served = dict(days.sessions(days.first, days.last))
    closures = set(served) - set(calendar.sessions.date)
    assert set(calendar.sessions.date) <= set(served)
    assert all(day.weekday() < 5 for day in served)
    assert sorted(closures) == ([D(2016, 8, 2), D(2016, 10, 21), D(2017, 8, 23), D(2020, 10, 13), D(2021, 10, 13),
                                 D(2023, 7, 17), D(2024, 9, 6)] if market == "HK" else [])
    assert {day for day, kind in served.items() if kind == MORNING} == set(calendar.early_closes.date)
    assert len(calendar.sessions_in_range("2023-01-01", "2023-12-31")) == \
        len(sessions(market, D(2023, 1, 1), D(2023, 12, 31))) - (market == "HK")


# ---- the simulator's replies (the handler, without a socket) ---------------------------------

def answer(market=0, begin="2024-01-01", end="2024-01-05", security=None):
    request = request_class(PROTO_TRADE_DATE)()
    request.c2s.market, request.c2s.beginTime, request.c2s.endTime = market, begin, end
    if security is not None:
        request.c2s.security.market, request.c2s.security.code = security
    reply = response_class(PROTO_TRADE_DATE).FromString(
        Simulator()._trade_dates({}, request).SerializeToString())
    if reply.retType != 0:
        return reply.retMsg
    return [(item.time, item.timestamp, item.tradeDateType) for item in reply.s2c.tradeDateList]


def test_reply_items():
    assert answer(1, "2024-12-24 00:00:00", "2024-12-27 23:59:59") == [
        ("2024-12-24", 1734969600.0, MORNING), ("2024-12-27", 1735228800.0, WHOLE)]  # midnight, UTC+8
    assert answer(3, "2024-10-01", "2024-10-07") == []


def test_a_security_picks_its_market_calendar_whatever_market_says():
    assert [t for t, *_ in answer(1, "2024-10-01", "2024-10-08", security=(21, "600519"))] == ["2024-10-08"]
    assert [t for t, *_ in answer(0, "2024-10-01", "2024-10-08", security=(1, "00700"))][0] == "2024-10-02"


@pytest.mark.parametrize("args, message", [
    ((0,), "markets HK (1) and CN (3) only, not of market 0"),
    ((2,), "not of market 2"),
    ((1, "2024-01-01", "2024-01-05", (11, "AAPL")), "HK, SH and SZ securities only, not of market 11"),
    ((1, "2024/01/01"), "beginTime must be a date yyyy-MM-dd, got '2024/01/01'"),
    ((1, "2024-01-05", "2024-01-01"), "beginTime 2024-01-05 is after endTime 2024-01-01"),
    ((3, "2026-12-01", "2027-01-31"), "knows the CN trading days from 2015-01-01 to 2026-12-31, asked for "
                                      "2026-12-01 to 2027-01-31"),
    ((1, "2014-12-31", "2015-01-05"), "knows the HK trading days from 2015-01-01 to 2027-12-31"),
])
def test_error_replies(args, message):
    assert message in answer(*args)


# ---- opend_sessions, the SDK's transport faked -----------------------------------------------

@pytest.fixture
def fake(mocker):
    if not SDKS:
        pytest.skip("no SDK installed")
    sdk = importlib.import_module(SDKS[0])
    ctx, opend = fake_context(mocker, sdk)
    ctx._OpenQuoteContext__security_firm = sdk.SecurityFirm.NONE  # what __init__ sets; 10.x sends it
    opend.ctx = ctx
    return opend


def days_reply(*times):
    reply = response_class(PROTO_TRADE_DATE)()
    reply.retType = 0
    for time in times:
        reply.s2c.tradeDateList.add(time=time, tradeDateType=WHOLE)
    return reply


def test_what_the_sdk_sends_decodes_with_our_proto(fake):
    fake.reply = days_reply("2024-01-03", "2024-01-02", "2024-01-03")
    got = opend_sessions(fake.ctx, "SZ", dt.datetime(2024, 1, 1, 15, 30), np.datetime64("2024-01-05"))
    sent = fake.sent[0]
    assert (sent.market, sent.beginTime, sent.endTime) == (3, "2024-01-01 00:00:00", "2024-01-05 23:59:59")
    assert not sent.HasField("security")
    assert got.equals(pd.DatetimeIndex(["2024-01-02", "2024-01-03"]).as_unit("ns"))  # sorted, unique
    assert got.dtype == "datetime64[ns]" and got.tz is None
    fake.ctx.request_trading_days(code="SH.600519", start="2024-01-01", end="2024-01-02")
    assert (fake.sent[1].security.market, fake.sent[1].security.code) == (21, "600519")
    opend_sessions(fake.ctx, "HK", "2024-01-01", pd.Timestamp("2024-01-01 23:00", tz="Asia/Hong_Kong"))
    assert (fake.sent[2].market, fake.sent[2].endTime) == (1, "2024-01-01 23:59:59")  # its own calendar day


def test_empty_range_is_an_empty_index(fake):
    fake.reply = days_reply()
    got = opend_sessions(fake.ctx, "SH", "2024-10-01", "2024-10-07")
    assert got.empty and got.dtype == "datetime64[ns]"


@pytest.mark.parametrize("message, error", [
    ("Disconnect", TransportError), ("PacketErr.Timeout", TransportError), ("Connect timeout", TransportError),
    ("proto_id:3219 conn_id:1 check sha error!", TransportError),
    ("行情权限不足", ServerError), ("请求频率太高，请稍后再试", ServerError), ("simulated server error", ServerError),
])
def test_failures_raise_transport_or_server_errors(fake, message, error):
    fake.host_error = message
    with pytest.raises(error) as info:
        opend_sessions(fake.ctx, "HK", "2024-01-01", "2024-01-05")
    assert type(info.value) is error and message in str(info.value)


def test_a_reply_the_sdk_could_not_parse_is_a_transport_error(fake):
    """For a body it cannot parse the SDK hands over an empty message: retType -400, no retMsg."""
    fake.reply = response_class(PROTO_TRADE_DATE)()
    with pytest.raises(TransportError, match="got no answer from OpenD: a reply the SDK could not read"):
        opend_sessions(fake.ctx, "HK", "2024-01-01", "2024-01-05")


@pytest.mark.parametrize("args, message", [
    (("US", "2024-01-01", "2024-01-05"), "market must be one of 'HK', 'SH', 'SZ', got 'US'"),
    (("hk", "2024-01-01", "2024-01-05"), "got 'hk'"),
    (("HK", "2024-1-32", "2024-01-05"), "start must be a date: 'yyyy-mm-dd', datetime.date or pandas.Timestamp, "
                                        "got '2024-1-32'"),
    (("HK", "2024-01-01", 20240105), "end must be a date"),
    (("HK", pd.NaT, "2024-01-05"), "start must be a date, got NaT"),
    (("HK", "2024-01-06", "2024-01-05"), "start 2024-01-06 is after end 2024-01-05"),
])
def test_bad_arguments_send_nothing(fake, args, message):
    with pytest.raises(InvalidArgument, match=message.replace("(", r"\(").replace(")", r"\)")):
        opend_sessions(fake.ctx, *args)
    assert fake.sent == []


def test_a_context_without_request_trading_days():
    with pytest.raises(HostUnsupported, match="object has no request_trading_days"):
        opend_sessions(object(), "HK", "2024-01-01", "2024-01-05")


# ---- end to end: the real SDK against the simulator ------------------------------------------

@pytest.fixture
def quote_ctx(sdk, simulator):
    context = sdk.OpenQuoteContext(host=simulator.host, port=simulator.port)
    yield context
    context.close()


def index(market, begin, end):
    return pd.DatetimeIndex(sessions(market, begin, end)).as_unit("ns")


@pytest.mark.e2e
@pytest.mark.parametrize("market, calendar", [("HK", "HK"), ("SH", "CN"), ("SZ", "CN")])
def test_opend_sessions_are_the_simulators_own(quote_ctx, market, calendar):
    got = opend_sessions(quote_ctx, market, "2024-01-01", "2024-12-31")
    assert got.equals(index(calendar, D(2024, 1, 1), D(2024, 12, 31)))
    assert len(got) == (247 if calendar == "HK" else 242)


@pytest.mark.e2e
def test_the_sdks_own_method(sdk, quote_ctx):
    assert quote_ctx.request_trading_days(sdk.TradeDateMarket.HK, start="2024-12-24", end="2024-12-27") == (0, [
        {"time": "2024-12-24", "trade_date_type": "MORNING"}, {"time": "2024-12-27", "trade_date_type": "WHOLE"}])
    ret, data = quote_ctx.request_trading_days(code="SZ.000001", start="2024-09-30", end="2024-10-08")
    assert (ret, [day["time"] for day in data]) == (0, ["2024-09-30", "2024-10-08"])
    assert quote_ctx.request_trading_days(code="US.AAPL", start="2024-09-30", end="2024-10-08") == (
        -1, "the simulator has the trading days of HK, SH and SZ securities only, not of market 11")


@pytest.mark.e2e
def test_opend_errors_through_the_sdk(sdk):
    with Simulator() as sim:
        ctx = sdk.OpenQuoteContext(host=sim.host, port=sim.port)
        try:
            with pytest.raises(ServerError, match="from 2015-01-01 to 2026-12-31, asked for 2026-12-01 to 2027-01-31"):
                opend_sessions(ctx, "SH", "2026-12-01", "2027-01-31")
            sim.inject("error", proto_id=PROTO_TRADE_DATE, message="行情权限不足")
            with pytest.raises(ServerError, match="^行情权限不足$"):
                opend_sessions(ctx, "HK", "2024-01-01", "2024-01-05")
            for fault in ("garbage", "bad_sha1"):
                sim.inject(fault, proto_id=PROTO_TRADE_DATE)
                with pytest.raises(TransportError, match="got no answer from OpenD"):
                    opend_sessions(ctx, "HK", "2024-01-01", "2024-01-05")
            assert len(opend_sessions(ctx, "HK", "2024-01-01", "2024-01-05")) == 4
            assert sim.requests[PROTO_TRADE_DATE] == 5
        finally:
            ctx.close()


JSON_CLIENT = """
import sys
import {sdk} as sdk
from futu_buybacks._trading_days import opend_sessions
sdk.SysConfig.set_proto_fmt(sdk.ProtoFMT.Json)
ctx = sdk.OpenQuoteContext(host=sys.argv[1], port=int(sys.argv[2]))
try:
    print("result:", ctx.request_trading_days("HK", start="2024-12-24", end="2024-12-27"))
    print("result:", list(opend_sessions(ctx, "SH", "2024-09-27", "2024-10-09").strftime("%Y-%m-%d")))
finally:
    ctx.close()
"""


@pytest.mark.e2e
@pytest.mark.skipif(int(protobuf_version.split(".")[0]) >= 7, reason="the SDKs' JSON decoding needs protobuf < 7")
def test_json_format(sdk, simulator):
    result = subprocess.run([sys.executable, "-c", JSON_CLIENT.format(sdk=sdk.__name__), simulator.host,
                             str(simulator.port)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    assert [line for line in result.stdout.splitlines() if line.startswith("result: ")] == [
        "result: (0, [{'time': '2024-12-24', 'trade_date_type': 'MORNING'}, {'time': '2024-12-27', "
        "'trade_date_type': 'WHOLE'}])",
        "result: ['2024-09-27', '2024-09-30', '2024-10-08', '2024-10-09']"]


@pytest.mark.e2e
@pytest.mark.skipif(importlib.util.find_spec("futu") is None, reason="futu-api not installed")
def test_docs_example_prints_what_the_docs_say():
    section = (Path(__file__).resolve().parents[1] / "docs" / "simulator.md").read_text(encoding="utf-8")
    section = section.split("## Trading days (protocol 3219)")[1].split("\n## ")[0]
    code, shown = re.search(r"```python\n(.*?)```\n```\n(.*?)```", section, flags=re.S).groups()
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "docs/simulator.md", "exec"), {})
    assert [line for line in out.getvalue().splitlines() if line.startswith("(")] == shown.splitlines()
