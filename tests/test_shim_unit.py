"""The compatibility method with the SDK's transport faked (pytest-mock): what is sent, what comes back.

The seam is the host's synchronous request processor (``_get_sync_query_processor``): the fake
packs the request with the SDK's own framing, decodes it as OpenD would and answers with a
``Response`` the test chose.
"""

import importlib

import pytest

import futu_buybacks
from futu_buybacks import RET_ERROR, RET_OK
from futu_buybacks._messages import response_class
from futu_buybacks.simulator import synthetic_records
from futu_buybacks.simulator._dataset import record_to_item

from conftest import SDKS
from fakes import fake_context

pytestmark = pytest.mark.skipif(not SDKS, reason="no SDK installed")


@pytest.fixture
def fake(mocker):
    ctx, opend = fake_context(mocker, importlib.import_module(SDKS[0]))
    opend.ctx = ctx
    opend.call = lambda *a, **k: futu_buybacks.get_corporate_actions_buybacks(ctx, *a, **k)
    return opend


def hk_reply(count, next_key="-1"):
    reply = response_class(3235)()
    reply.retType = 0
    for record in synthetic_records("HK.00700", count):
        record_to_item(record, reply.s2c.hkBuyBackList.add())
    reply.s2c.nextKey = next_key
    return reply


def test_valid_call_sends_exactly_the_parameters(fake):
    fake.reply = hk_reply(3, next_key="3")
    ret, data = fake.call("HK.00700", next_key="abc", num=3)
    assert ret == RET_OK and data["next_key"] == "3" and len(data["hk_buy_back_list"]) == 3
    (c2s,) = fake.sent
    assert (c2s.security.market, c2s.security.code, c2s.nextKey, c2s.num) == (1, "00700", "abc", 3)


def test_defaults_leave_next_key_and_num_unset(fake):
    fake.reply = hk_reply(0)
    assert fake.call("SH.600519")[0] == RET_OK
    (c2s,) = fake.sent
    assert not c2s.HasField("nextKey") and not c2s.HasField("num")


@pytest.mark.parametrize("args, kwargs, expected", [
    ((None,), {}, "code must be a str"),
    (("hk.00700",), {}, "did you mean"),
    (("US.AAPL",), {}, "not served"),
    (("HK.00700",), {"num": 0}, "num must be an int in 1..50, got 0"),
    (("HK.00700",), {"num": False}, "num must be an int in 1..50, got False (int(num) = 0)"),
    (("HK.00700",), {"next_key": 5}, "next_key must be None"),
])
def test_bad_input_sends_nothing(fake, args, kwargs, expected):
    ret, message = fake.call(*args, **kwargs)
    assert ret == RET_ERROR and expected in message
    assert fake.sent == [] and not fake.ctx._get_sync_query_processor.called


def test_next_key_minus_one_answers_without_a_request(fake):
    ret, data = fake.call("HK.00700", next_key="-1")
    assert ret == RET_OK and data["next_key"] == "-1"
    assert data["hk_buy_back_list"].empty and data["a_buy_back_list"].empty
    assert fake.sent == []


def test_server_error_message_passes_through(fake):
    reply = response_class(3235)()
    reply.retType = -1
    reply.retMsg = "未知股票"
    fake.reply = reply
    assert fake.call("HK.99999") == (RET_ERROR, "未知股票")


def test_host_failure_passes_through(fake):
    fake.host_error = "Timeout"
    assert fake.call("HK.00700") == (RET_ERROR, "Timeout")


def test_not_an_sdk_context_is_an_error_not_an_exception():
    ret, message = futu_buybacks.get_corporate_actions_buybacks(object(), "HK.00700")
    assert ret == RET_ERROR and "not a futu-api or moomoo-api OpenQuoteContext" in message
