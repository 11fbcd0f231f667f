"""Server faults through the real SDK: none raises, none leaves the context unusable."""

import importlib
import subprocess
import sys
import threading
import time

import pytest

from futu_buybacks import RET_ERROR, RET_OK
from futu_buybacks._host import repair_disconnect_handling
from futu_buybacks.simulator import Simulator

from conftest import shim_context_class, shorten_timeout

pytestmark = pytest.mark.e2e


@pytest.fixture
def world(sdk):
    sim = Simulator().start()
    ctx = shim_context_class(sdk)(host=sim.host, port=sim.port)
    ctx.reconnect_interval = 0.3
    yield sim, ctx
    ctx.close()
    sim.stop()


def works(ctx, code="HK.00700"):
    ret, data = ctx.get_corporate_actions_buybacks(code, num=3)
    return ret == RET_OK and len(data["hk_buy_back_list"]) + len(data["a_buy_back_list"]) == 3


def eventually_works(ctx, seconds=20):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if works(ctx):
            return True
        time.sleep(0.2)
    return False


def test_error_reply_message_is_passed_through(world):
    sim, ctx = world
    sim.inject("error", message="行情权限不足")
    assert ctx.get_corporate_actions_buybacks("HK.00700") == (RET_ERROR, "行情权限不足")
    assert works(ctx)


def test_connection_dropped_mid_request(world):
    sim, ctx = world
    sim.inject("drop")
    start = time.time()
    ret, message = ctx.get_corporate_actions_buybacks("HK.00700")
    assert ret == RET_ERROR and message
    assert time.time() - start < 5, "the pending call fails at the disconnect, not at a timeout"
    assert eventually_works(ctx), "the SDK reconnects and the next call succeeds"


def test_body_that_is_not_a_reply(world):
    sim, ctx = world
    sim.inject("garbage")
    ret, message = ctx.get_corporate_actions_buybacks("HK.00700")
    assert ret == RET_ERROR and "could not be decoded" in message
    assert works(ctx)


def test_wrong_sha1(world):
    sim, ctx = world
    sim.inject("bad_sha1")
    ret, message = ctx.get_corporate_actions_buybacks("HK.00700")
    assert ret == RET_ERROR and "sha" in message.lower()
    assert eventually_works(ctx)


def test_no_reply_returns_within_the_sdk_timeout(world):
    sim, ctx = world
    shorten_timeout(ctx, 1.5)
    sim.inject("silence")
    start = time.time()
    ret, message = ctx.get_corporate_actions_buybacks("HK.00700")
    assert ret == RET_ERROR and "timeout" in message.lower()
    assert time.time() - start < 1.5 + 3.0
    assert eventually_works(ctx)


def test_opend_restarting(sdk):
    sim = Simulator().start()
    ctx = shim_context_class(sdk)(host=sim.host, port=sim.port)
    ctx.reconnect_interval = 0.3
    try:
        assert works(ctx)
        port = sim.port
        # While OpenD is down the SDK makes a call wait for the reconnect, without end unless
        # a connect timeout is set (its public setting, in every version checked).
        ctx.set_sync_query_connect_timeout(1.0)
        sim.stop()
        start = time.time()
        ret, message = ctx.get_corporate_actions_buybacks("HK.00700")
        assert ret == RET_ERROR and message and time.time() - start < 1.0 + 3.0
        sim = Simulator(port=port).start()          # back on the same port
        assert eventually_works(ctx), "the next call after OpenD is back succeeds"
    finally:
        ctx.close()
        sim.stop()


def test_opend_too_old_for_protocol_3235(sdk):
    with Simulator(buybacks=False) as sim:
        ctx = shim_context_class(sdk)(host=sim.host, port=sim.port)
        try:
            ret, message = ctx.get_corporate_actions_buybacks("HK.00700")
            assert ret == RET_ERROR
            assert "upgrade OpenD to 10.6 or later" in message and "3235" in message
            assert ctx.get_global_state()[0] == RET_OK
        finally:
            ctx.close()


def test_delayed_reply_arrives(world):
    sim, ctx = world
    sim.inject("delay", delay=0.5)
    start = time.time()
    assert works(ctx) and time.time() - start >= 0.5


def test_mixin_without_install_recovers_from_a_drop(sdk):
    """The mixin alone prepares the SDK as install() does: on futu-api 9.6.5608 a drop mid-request
    waited 20 s ("Abnormal event timeout") and the context never reconnected without install()."""
    code = f"""
import sys, time
import {sdk.__name__} as sdk
from futu_buybacks import BuybacksMixin
from futu_buybacks.simulator import Simulator
Ctx = type("Ctx", (BuybacksMixin, sdk.OpenQuoteContext), {{}})
with Simulator() as sim:
    ctx = Ctx(host=sim.host, port=sim.port)
    ctx.reconnect_interval = 0.3
    assert ctx.get_corporate_actions_buybacks("HK.00700", num=3)[0] == 0
    sim.inject("drop")
    start = time.time()
    ret, _ = ctx.get_corporate_actions_buybacks("HK.00700", num=3)
    took = time.time() - start
    deadline = time.time() + 20
    while ctx.get_corporate_actions_buybacks("HK.00700", num=3)[0] != 0 and time.time() < deadline:
        time.sleep(0.2)
    recovered = time.time() < deadline
    ctx.close()
sys.stdout.write(f"result: {{ret}} {{took:.1f}} {{recovered}}\\n")
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    ret, took, recovered = [line for line in result.stdout.splitlines() if line.startswith("result: ")][-1].split()[1:]
    assert int(ret) == RET_ERROR and float(took) < 5 and recovered == "True", result.stdout[-2000:]


def test_disconnect_fails_pending_requests(sdk):
    """futu-api 9.6.5608 raised here (and so never reconnected); install() repairs it."""
    base = importlib.import_module(f"{sdk.__name__}.common.open_context_base")
    if not hasattr(base, "ReqInfo"):  # moomoo-api 9.6's older network stack: nothing to repair
        assert not repair_disconnect_handling(sdk.__name__)
        return
    probe = base.OpenContextBase.__new__(base.OpenContextBase)
    probe._lock = threading.RLock()
    pending = base.ReqInfo(proto_id=3235, serial_no=1, req_time=0.0, is_sync=True)
    probe._req_map = {1: pending}
    base.OpenContextBase._pop_all_req_info(probe, base.PacketErr.Disconnect)
    assert pending.event.is_set() and probe._req_map == {}
