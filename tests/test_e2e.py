"""The real futu-api / moomoo-api OpenQuoteContext over TCP against the simulator."""

import re
import subprocess
import sys

import pytest
from google.protobuf import __version__ as protobuf_version

import futu_buybacks
from futu_buybacks import RET_ERROR, RET_OK
from futu_buybacks.simulator import Dataset, Simulator, synthetic_records

from conftest import all_pages, assert_same_result, has_native, shim_context_class

pytestmark = pytest.mark.e2e

# The SDKs' own JSON decoding reads FieldDescriptor.label, which protobuf 7 removed.
JSON_WORKS = int(protobuf_version.split(".")[0]) < 7


def test_documented_rows(ctx):
    ret, data = ctx.get_corporate_actions_buybacks("HK.00700", num=3)
    assert ret == RET_OK
    frame = data["hk_buy_back_list"]
    assert frame["publ_date"].tolist() == [1775664000, 1775577600, 1775059200]
    assert frame["buy_back_money"].tolist() == [1000880717.6, 1000761103.7, 300715258.5]
    assert frame["share_type"].tolist() == ["普通股"] * 3
    assert data["next_key"] == "3" and data["a_buy_back_list"].empty


@pytest.mark.parametrize("code, num", [("HK.00700", 7), ("SZ.000001", 50), ("HK.01810", 50), ("SH.601318", 1)])
def test_every_record_exactly_once_across_pages(ctx, simulator, code, num):
    pages = all_pages(ctx, code, num)
    key = "hk_buy_back_list" if code.startswith("HK") else "a_buy_back_list"
    got = [row for page in pages for row in page[key].to_dict("records")]
    expected = simulator.dataset.records[code]
    assert len(got) == len(expected)
    assert len(pages) == max(1, -(-len(expected) // num))
    for row, record in zip(got, expected):
        for column, value in record.items():
            assert row[column] == value


def test_error_replies_come_back_as_ret_error(ctx):
    assert ctx.get_corporate_actions_buybacks("HK.99999") == (RET_ERROR, "unknown stock HK.99999")
    ret, message = ctx.get_corporate_actions_buybacks("HK.00700", next_key="nonsense")
    assert ret == RET_ERROR and "invalid nextKey" in message
    # the context is still usable
    assert ctx.get_corporate_actions_buybacks("HK.00700", num=1)[0] == RET_OK


def test_bad_input_is_refused_before_sending(ctx, simulator):
    before = simulator.requests[3235]
    for args in [("US.AAPL",), ("HK.00700", None, 0), ("HK.00700", None, 51), (None,)]:
        assert ctx.get_corporate_actions_buybacks(*args)[0] == RET_ERROR
    assert simulator.requests[3235] == before


def test_injected_error_reply(sdk):
    with Simulator() as sim:
        ctx = shim_context_class(sdk)(host=sim.host, port=sim.port)
        try:
            sim.inject("error", message="服务器繁忙")
            assert ctx.get_corporate_actions_buybacks("HK.00700") == (RET_ERROR, "服务器繁忙")
            assert ctx.get_corporate_actions_buybacks("HK.00700")[0] == RET_OK
        finally:
            ctx.close()


@pytest.fixture
def opend_process():
    """The simulator in a process of its own, as an OpenD is: nothing of it lives in the client."""
    proc = subprocess.Popen([sys.executable, "-m", "futu_buybacks.simulator", "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        line = proc.stdout.readline()
        address = re.search(r"listening on ([\d.]+):(\d+)", line)
        assert address, line
        yield address.group(1), int(address.group(2))
    finally:
        proc.terminate()
        proc.communicate(timeout=10)


JSON_CLIENT = """
import gc, sys
import pandas as pd
import {sdk} as sdk
from futu_buybacks import BuybacksMixin
host, port = sys.argv[1], int(sys.argv[2])
Ctx = type("Ctx", (BuybacksMixin, sdk.OpenQuoteContext), {{}})
calls = [("SZ.000001", None, 10), ("SZ.000001", "10", 10), ("HK.00700", None, 3), ("SH.600519", None, 50)]

def run_all(proto_fmt):
    sdk.SysConfig.set_proto_fmt(proto_fmt)
    ctx = Ctx(host=host, port=port)
    if hasattr(ctx, "_query_timeout"):
        ctx._query_timeout = 3  # a dropped reply fails in 3 s, not 12
    else:
        ctx._net_mgr._sync_req_timeout = 3
    try:
        results = []
        for call in calls * 2:
            gc.collect()
            results.append(ctx.get_corporate_actions_buybacks(*call))
        return results
    finally:
        ctx.close()

expected, got = run_all(sdk.ProtoFMT.Protobuf), run_all(sdk.ProtoFMT.Json)
for (ret, data), (want_ret, want) in zip(got, expected):
    assert ret == want_ret == 0, (ret, data)
    assert data["next_key"] == want["next_key"]
    for key in ("hk_buy_back_list", "a_buy_back_list"):
        pd.testing.assert_frame_equal(data[key], want[key], check_exact=True)
sys.stdout.write(f"result: {{len(got)}} identical\\n")
"""


@pytest.mark.skipif(not JSON_WORKS, reason="the SDKs' JSON decoding does not work on protobuf 7")
def test_json_format(sdk, opend_process):
    """JSON format gives what protobuf gives, with a full garbage collection before every call, in a
    client process that holds no message of ours between calls (as against a real OpenD): the SDK's
    JSON decoder needs our nested message classes alive; once collected, every reply was dropped."""
    result = subprocess.run([sys.executable, "-c", JSON_CLIENT.format(sdk=sdk.__name__), *map(str, opend_process)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "result: 8 identical" in result.stdout, result.stdout[-3000:]


def test_sparse_and_all_missing_columns_round_trip(sdk):
    records = synthetic_records("SZ.000002", 6)
    for record in records[::2]:
        record.pop("buy_back_sum")
    with Simulator(Dataset({"SZ.000002": records})) as sim:
        ctx = shim_context_class(sdk)(host=sim.host, port=sim.port)
        try:
            ret, data = ctx.get_corporate_actions_buybacks("SZ.000002", num=50)
        finally:
            ctx.close()
    frame = data["a_buy_back_list"]
    assert frame["buy_back_sum"].isna().tolist() == [True, False] * 3
    assert frame["seller"].isna().all()


def test_shim_and_native_coexist_on_one_connection(sdk, simulator):
    if not has_native(sdk.__name__):
        pytest.skip(f"{sdk.__name__} {sdk.__version__} has no native method")

    class Ctx(futu_buybacks.BuybacksMixin, sdk.OpenQuoteContext):
        pass

    ctx = Ctx(host=simulator.host, port=simulator.port)
    try:
        native = sdk.OpenQuoteContext.__dict__["get_corporate_actions_buybacks"]
        assert not getattr(native, "__futu_buybacks__", False), "install() must keep the native method"
        for code, num in [("HK.00700", 3), ("SZ.000001", 50), ("SH.600519", 5), ("HK.99999", None)]:
            for next_key in (None, "2"):
                assert_same_result(native(ctx, code, next_key=next_key, num=num),
                                   ctx.get_corporate_actions_buybacks(code, next_key=next_key, num=num))
    finally:
        ctx.close()


def test_mixin_on_any_sdk(sdk, simulator):
    class Ctx(futu_buybacks.BuybacksMixin, sdk.OpenQuoteContext):
        pass

    assert Ctx.get_corporate_actions_buybacks is futu_buybacks.get_corporate_actions_buybacks
    ctx = Ctx(host=simulator.host, port=simulator.port)
    try:
        assert ctx.get_corporate_actions_buybacks("SH.600519", num=2)[1]["next_key"] == "2"
    finally:
        ctx.close()


def test_other_sdk_methods_still_work(ctx):
    ret, state = ctx.get_global_state()
    assert ret == RET_OK and state["qot_logined"] is True
