"""Bad input through the compatibility method: (RET_ERROR, message) or the documented result,
never an exception, nothing sent (transport faked with pytest-mock)."""

import importlib

import pytest

import futu_buybacks
from futu_buybacks import RET_ERROR, RET_OK

from conftest import SDKS
from fakes import fake_context

pytestmark = pytest.mark.skipif(not SDKS, reason="no SDK installed")

CASES = [
    # (args, kwargs, words the message must contain)
    ((None,), {}, ["code", "str"]), ((700,), {}, ["code", "str"]), ((b"HK.00700",), {}, ["code", "str"]),
    ((1.5,), {}, ["code", "str"]), ((["HK.00700"],), {}, ["code", "str"]), (("",), {}, ["code", "MARKET.SYMBOL"]),
    (("HK.",), {}, ["code", "MARKET.SYMBOL"]), ((".00700",), {}, ["code", "MARKET.SYMBOL"]),
    (("00700",), {}, ["code", "MARKET.SYMBOL"]), (("hk.00700",), {}, ["code", "HK.00700"]),
    (("Hk.00700",), {}, ["code", "HK.00700"]), ((" HK.00700",), {}, ["code", "whitespace"]),
    (("HK.00700\t",), {}, ["code", "whitespace"]), (("HK. 00700",), {}, ["code", "whitespace"]),
    (("US.AAPL",), {}, ["code", "HK, SH, SZ"]), (("HK_FUTURE.999010",), {}, ["code", "HK, SH, SZ"]),
    (("JP.7203",), {}, ["code", "HK, SH, SZ"]), (("CC.BTCUSD",), {}, ["code", "HK, SH, SZ"]),
    (("HK." + "0" * 10_000,), {}, ["code", "ASCII"]), (("X" * 10_000,), {}, ["code"]),
    (("HK.腾讯控股",), {}, ["code", "ASCII"]), (("ＨＫ.00700",), {}, ["code"]),
    (("HK.00700",), {"num": 0}, ["num", "1..50", "got 0"]), (("HK.00700",), {"num": 51}, ["num", "1..50"]),
    (("HK.00700",), {"num": -1}, ["num", "1..50"]), (("HK.00700",), {"num": False}, ["num", "int(num) = 0"]),
    (("HK.00700",), {"num": "abc"}, ["num", "int()", "str"]), (("HK.00700",), {"num": 0.5}, ["num", "int(num) = 0"]),
    (("HK.00700",), {"num": float("nan")}, ["num", "float nan"]), (("HK.00700",), {"num": [10]}, ["num", "list"]),
    (("HK.00700",), {"num": 2**70}, ["num", "1..50"]), (("HK.00700",), {"num": 10**5000}, ["num", "1..50"]),
    (("HK.00700",), {"next_key": 10}, ["next_key", "str"]), (("HK.00700",), {"next_key": ["10"]}, ["next_key"]),
    (("HK.00700",), {"next_key": b"\xff"}, ["next_key", "UTF-8"]),
    (("HK.00700",), {"next_key": "\ud800"}, ["next_key", "UTF-8"]),
    (("HK.00700",), {"next_key": bytearray(b"10")}, ["next_key", "bytearray"]),
    ((10**200,), {}, ["code", "str", "chars as repr"]), (("HK.00700",), {"next_key": 10**200}, ["next_key", "int"]),
    ((10**5000,), {}, ["code", "str"]),
]


@pytest.fixture
def fake(mocker):
    ctx, opend = fake_context(mocker, importlib.import_module(SDKS[0]))
    return ctx, opend


@pytest.mark.parametrize("args, kwargs, words", CASES)
def test_refused_before_sending(fake, args, kwargs, words):
    ctx, opend = fake
    ret, message = futu_buybacks.get_corporate_actions_buybacks(ctx, *args, **kwargs)
    assert ret == RET_ERROR and isinstance(message, str)
    for word in words:
        assert word in message
    assert len(message) < 400
    assert opend.sent == []


def test_at_least_thirty_cases():
    assert len(CASES) >= 30


def test_num_none_and_next_key_minus_one_are_the_documented_results(fake):
    ctx, opend = fake
    for next_key in ("-1", b"-1"):
        ret, data = futu_buybacks.get_corporate_actions_buybacks(ctx, "HK.00700", next_key=next_key, num=None)
        assert ret == RET_OK and data["next_key"] == "-1" and opend.sent == []
