"""Ctrl-C while the loader runs: a real SIGINT to ``futu-buybacks fetch`` and to a Jupyter kernel.

``import futu`` installs a SIGINT handler that calls ``os._exit(0)``; while the loader runs,
Ctrl-C must raise ``KeyboardInterrupt`` instead, so the command exits 130 with its message, a
notebook cell stops with the kernel alive, and the cache stays consistent for the rerun.
"""

import importlib.util
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from test_loader import assert_matches_dataset

from futu_buybacks import Cache, RateLimiter, load_buybacks
from futu_buybacks._interrupts import ClosingStack, ctrl_c_held
from futu_buybacks.simulator import Simulator, synthetic_dataset

from conftest import SDKS

pytestmark = [pytest.mark.e2e, pytest.mark.skipif(not SDKS, reason="no SDK installed")]

CODES = [f"HK.{i:05d}" for i in range(1, 7)]
DATASET = synthetic_dataset(CODES, 120)  # 3 pages each: 18 requests
#: Slow enough that the run is still going when the signal arrives, fast enough to stay short.
SLOW_RATE = "2/1"


def wait_for_requests(sim, count, timeout=30.0, alive=lambda: True):
    deadline = time.monotonic() + timeout
    while sim.requests[3235] < count:
        assert time.monotonic() < deadline, f"only {sim.requests[3235]} requests in {timeout} s"
        assert alive(), "the loader is gone"
        time.sleep(0.01)


def fetch_command(port, cache, out, rate):
    return [sys.executable, "-m", "futu_buybacks", "fetch", *CODES, "--port", str(port), "--sdk", SDKS[0],
            "--cache", str(cache), "--out-dir", str(out), "--rate", rate]


def test_ctrl_c_in_fetch_exits_130_with_its_message_and_the_rerun_finishes(tmp_path):
    cache = tmp_path / "c.sqlite3"
    with Simulator(DATASET) as sim:
        proc = subprocess.Popen(fetch_command(sim.port, cache, tmp_path / "out", SLOW_RATE),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            wait_for_requests(sim, 2, alive=lambda: proc.poll() is None)  # the next page waits 1 s
            proc.send_signal(signal.SIGINT)
            _, stderr = proc.communicate(timeout=15)
        finally:
            proc.kill()
        assert proc.returncode == 130, stderr
        assert "interrupted; what was fetched is cached, run again to finish" in stderr
        assert "Traceback" not in stderr
        interrupted_at = sim.requests[3235]
        assert interrupted_at < 18
        with Cache(cache) as store:
            assert store.integrity_ok()

        rerun = subprocess.run(fetch_command(sim.port, cache, tmp_path / "out", "1000/1"),
                               capture_output=True, text=True, timeout=60)
        assert rerun.returncode == 0, rerun.stderr
        assert f"6 codes ok, 0 failed; {6 * 120} HK" in rerun.stderr
        assert sim.requests[3235] - interrupted_at <= 18 - (interrupted_at - 1)  # nothing stored asked again
        with Cache(cache) as store:
            assert store.integrity_ok()
        tables = load_buybacks(CODES, cache=cache, port=sim.port, progress=False)  # from the cache alone
    assert tables.requests == 0
    assert_matches_dataset(tables, DATASET, CODES)


CTRL_C_AT = str(Path(__file__).with_name("ctrl_c_at.py"))

#: Moments of a fetch where Ctrl-C once did not end it with 130 and its message.
MOMENTS = {
    # the console quieting had imported the SDK, whose handler calls os._exit(0): exit 0, silent
    "futu_buybacks._connect:probe": "checking the port",
    # the context, closed while connecting, left the SDK's connect timer waiting forever: no exit
    "futu_buybacks._connect:is_ready": "connecting",
    # the half-closed context's callback thread (not a daemon) kept the process alive: no exit
    "futu_buybacks._loader:_Connection.close": "closing",
    "futu_buybacks._loader:close_and_wait": "inside the close",
    "futu_buybacks._loader:_tables": "after the last page",
}


def run_interrupted_at(moment, command, tmp_path):
    """``futu-buybacks COMMAND`` on two codes, a real SIGINT sent by the process to itself as the
    ``moment`` function starts; its exit code and stderr, or a failure naming what kept it alive."""
    with Simulator(DATASET) as sim:
        argv = [sys.executable, CTRL_C_AT, moment, *command, *CODES[:2], "--port", str(sim.port), "--sdk", SDKS[0],
                "--cache", str(tmp_path / "c.sqlite3"), "--rate", "1000/1"]
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env={**os.environ, "PYTHONFAULTHANDLER": "1"})
        try:
            _, stderr = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGABRT)  # faulthandler prints every thread: what keeps it alive
            _, stderr = proc.communicate(timeout=30)
            pytest.fail(f"Ctrl-C {MOMENTS[moment]}: {command[0]} did not exit\n{stderr[-4000:]}")
    return proc.returncode, stderr


def assert_interrupted(returncode, stderr, cache):
    assert returncode == 130, stderr
    assert "interrupted; what was fetched is cached, run again to finish" in stderr
    assert "Traceback" not in stderr
    if cache.exists():
        with Cache(cache) as store:
            assert store.integrity_ok()


@pytest.mark.parametrize("moment", MOMENTS, ids=MOMENTS.values())
def test_ctrl_c_at_every_moment_of_a_fetch_exits_130_at_once(tmp_path, moment):
    """The command exits 130 with its message within seconds, and the cache is consistent."""
    returncode, stderr = run_interrupted_at(moment, ["fetch", "--out-dir", str(tmp_path / "out")], tmp_path)
    assert_interrupted(returncode, stderr, tmp_path / "c.sqlite3")


@pytest.mark.parametrize("moment", ["futu_buybacks._connect:is_ready", "futu_buybacks._loader:_Connection.close"],
                         ids=["connecting", "closing"])
def test_ctrl_c_while_refresh_connects_or_closes_exits_130_at_once(tmp_path, moment):
    """``refresh`` opens and closes its connection the same way (the nightly job)."""
    returncode, stderr = run_interrupted_at(moment, ["refresh"], tmp_path)
    assert_interrupted(returncode, stderr, tmp_path / "c.sqlite3")


@pytest.fixture
def pythons_handler():
    """Python's own SIGINT handler for the test (an SDK imported by an earlier test in this
    process left its ``os._exit(0)`` one), the one before put back after."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def test_ctrl_c_held_raises_once_the_block_is_done(pythons_handler):
    done = []
    with pytest.raises(KeyboardInterrupt):
        with ctrl_c_held():
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.01)  # a handler would have run by now
            done.append("the block went on")
    assert done == ["the block went on"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    with ctrl_c_held():  # no signal: nothing raised
        pass


def test_ctrl_c_held_leaves_another_thread_alone(pythons_handler):
    """Only the main thread may set a handler (``signal.signal`` raises elsewhere)."""
    seen = []

    def hold():
        with ctrl_c_held():
            seen.append(signal.getsignal(signal.SIGINT))

    thread = threading.Thread(target=hold)
    thread.start()
    thread.join(10)
    assert seen == [signal.default_int_handler]


def test_a_closing_stack_runs_every_callback_before_the_ctrl_c(pythons_handler):
    ran = []
    with pytest.raises(KeyboardInterrupt):
        with ClosingStack() as stack:
            stack.callback(ran.append, "first registered")
            stack.callback(lambda: (os.kill(os.getpid(), signal.SIGINT), ran.append("interrupted one")))
    assert ran == ["interrupted one", "first registered"]


def sdk_like_handler(signum, frame):  # pragma: no cover - never called
    raise AssertionError("the SDK's handler ran")


class WatchingContext:
    """A context that records the SIGINT handler at each page, then sets another, as the SDK's import does."""

    def __init__(self, ctx):
        self.ctx, self.seen = ctx, []

    def get_corporate_actions_buybacks(self, code, next_key=None, num=None):
        self.seen.append(signal.getsignal(signal.SIGINT))
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGINT, sdk_like_handler)
        return self.ctx.get_corporate_actions_buybacks(code, next_key=next_key, num=num)


def test_ctrl_c_raises_while_loading_and_the_handler_before_is_restored(ctx):
    """In the main thread every page runs under Python's own handler, even after something set
    another one mid-run; the handler from before the call comes back.  From another thread the
    loader leaves the handler alone (only the main thread may set one)."""
    def handler_before(signum, frame):  # pragma: no cover - never called
        pass

    previous = signal.signal(signal.SIGINT, handler_before)
    try:
        watching = WatchingContext(ctx)
        tables = load_buybacks(["HK.00700", "SZ.000001"], watching, cache=False, num=10,
                               limiter=RateLimiter("1000/1"))
        assert tables.ok and len(watching.seen) == 6
        assert all(seen is signal.default_int_handler for seen in watching.seen)
        assert signal.getsignal(signal.SIGINT) is handler_before

        watching = WatchingContext(ctx)
        results = []
        thread = threading.Thread(target=lambda: results.append(
            load_buybacks(["HK.00700"], watching, cache=False, limiter=RateLimiter("1000/1"))))
        thread.start()
        thread.join(30)
        assert results and results[0].ok
        assert watching.seen == [handler_before]
        assert signal.getsignal(signal.SIGINT) is handler_before  # the loader did not touch it
    finally:
        signal.signal(signal.SIGINT, previous)


KERNEL_MISSING = [m for m in ("jupyter_client", "ipykernel") if importlib.util.find_spec(m) is None]


def run_cell(km, client, code, timeout=30.0, interrupt_when=None):
    """Execute ``code`` in the kernel; its error name (or None) and its text/plain result.

    ``interrupt_when()`` is polled while the cell runs; when it turns true the kernel is
    interrupted the way Jupyter does it (``interrupt_kernel``: SIGINT to the kernel process).
    """
    msg_id = client.execute(code)
    deadline = time.monotonic() + timeout
    error = result = None
    interrupted = False
    while True:
        assert km.is_alive(), "the kernel died"
        assert time.monotonic() < deadline, "the cell did not finish"
        if interrupt_when is not None and not interrupted and interrupt_when():
            km.interrupt_kernel()
            interrupted = True
        try:
            message = client.get_iopub_msg(timeout=0.05)
        except Exception:  # queue.Empty
            continue
        if message["parent_header"].get("msg_id") != msg_id:
            continue
        kind, content = message["msg_type"], message["content"]
        if kind == "error":
            error = content["ename"]
        elif kind == "execute_result":
            result = content["data"].get("text/plain")
        elif kind == "status" and content["execution_state"] == "idle":
            return error, result


@pytest.mark.skipif(bool(KERNEL_MISSING), reason=f"kernel extras not installed: {KERNEL_MISSING}")
def test_interrupting_a_notebook_cell_keeps_the_kernel_and_the_rerun_finishes(tmp_path):
    from jupyter_client import KernelManager

    cache = tmp_path / "c.sqlite3"
    with Simulator(DATASET) as sim:
        km = KernelManager(kernel_name="python3")
        km.start_kernel(cwd=str(tmp_path))
        client = km.client()
        client.start_channels()
        try:
            client.wait_for_ready(timeout=60)
            load = (f"tables = load_buybacks({CODES!r}, port={sim.port}, sdk={SDKS[0]!r}, cache={str(cache)!r}, "
                    f"progress=False, rate={{rate!r}})")
            run_cell(km, client, "from futu_buybacks import load_buybacks")
            error, _ = run_cell(km, client, load.format(rate=SLOW_RATE),
                                interrupt_when=lambda: sim.requests[3235] >= 2)
            assert error == "KeyboardInterrupt"
            assert km.is_alive()
            assert run_cell(km, client, "6 * 7") == (None, "42")
            interrupted_at = sim.requests[3235]
            assert interrupted_at < 18

            assert run_cell(km, client, load.format(rate="1000/1")) == (None, None)
            assert run_cell(km, client, "len(tables.hk_buy_back_list), tables.errors") == (None, "(720, {})")
            assert sim.requests[3235] - interrupted_at <= 18 - (interrupted_at - 1)
        finally:
            client.stop_channels()
            km.shutdown_kernel(now=True)
    with Cache(cache) as store:
        assert store.integrity_ok()
