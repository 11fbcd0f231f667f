"""Several OpenDs, one per account: the codes shared among them, each under its own rate limit,
into one cache; a code goes back to the OpenD whose account has it cached; a failing OpenD's
codes move to the others (real SDK, two simulators on real sockets)."""

import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time

import pandas as pd
import pytest
from test_loader import assert_matches_dataset

from futu_buybacks import RateLimiter, load_buybacks
from futu_buybacks._dispatch import CodeQueue
from futu_buybacks._errors import InvalidArgument
from futu_buybacks.simulator import Simulator, synthetic_dataset

from conftest import SDKS

pytestmark = [pytest.mark.e2e, pytest.mark.skipif(not SDKS, reason="no SDK installed")]

CODES = [f"HK.{i:05d}" for i in range(1, 13)] + [f"SZ.{i:06d}" for i in range(1, 9)]
DATASET = synthetic_dataset(CODES, 60)  # 2 pages each


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def opends(*servers):
    return [f"{server.host}:{server.port}" for server in servers]


def load(sdk, endpoints, path, **kwargs):
    return load_buybacks(CODES, opend=endpoints, sdk=sdk.__name__, cache=path, rate="1000/1", progress=False,
                         **kwargs)


def test_two_opends_share_the_codes_and_load_every_record_once(sdk, tmp_path):
    with Simulator(DATASET) as a, Simulator(DATASET) as b:
        tables = load(sdk, opends(a, b), tmp_path / "c.sqlite3")
        served = (a.requests[3235], b.requests[3235])
    assert tables.ok and tables.source == "simulator:synthetic"
    assert_matches_dataset(tables, DATASET, CODES)
    assert sum(served) == tables.requests == 2 * len(CODES) and min(served) >= 8, served
    assert list(dict.fromkeys(tables.hk_buy_back_list["code"])) == [c for c in CODES if c.startswith("HK")]
    with Simulator(DATASET) as one:
        alone = load_buybacks(CODES, port=one.port, sdk=sdk.__name__, cache=False, rate="1000/1", progress=False)
    pd.testing.assert_frame_equal(tables.hk_buy_back_list.drop(columns="first_seen"),
                                  alone.hk_buy_back_list.drop(columns="first_seen"))


def test_a_code_goes_back_to_the_account_that_has_it_cached(sdk, tmp_path):
    """Two accounts are two sources: a code cached under one is refreshed there (1 request), not
    fetched again in full under the other."""
    path = tmp_path / "c.sqlite3"
    with Simulator(DATASET, name="account-a") as a, Simulator(DATASET, name="account-b") as b:
        load_buybacks(CODES[:10], port=a.port, sdk=sdk.__name__, cache=path, rate="1000/1", progress=False)
        before = (a.requests[3235], b.requests[3235])
        tables = load(sdk, opends(a, b), path, fresh_for=pd.Timedelta(0))
        spent = (a.requests[3235] - before[0], b.requests[3235] - before[1])
    assert tables.ok and tables.source == "simulator:account-a, simulator:account-b"
    assert_matches_dataset(tables, DATASET, CODES)
    # A refreshes its 10 codes (1 request each) and may take new ones; B fetches only new codes in full
    assert spent[0] + spent[1] == tables.requests == 10 + 2 * (len(CODES) - 10)
    assert spent[1] % 2 == 0 and spent[0] >= 10


def test_an_opend_that_cannot_be_reached_leaves_its_codes_to_the_others(sdk, tmp_path, caplog):
    closed = free_port()
    with Simulator(DATASET) as a:
        with caplog.at_level(logging.WARNING, logger="futu_buybacks"):
            tables = load(sdk, [f"127.0.0.1:{closed}", f"{a.host}:{a.port}"], tmp_path / "c.sqlite3")
    assert tables.ok
    assert_matches_dataset(tables, DATASET, CODES)
    assert f"cannot reach OpenD at 127.0.0.1:{closed}: connection refused" in caplog.text
    with pytest.raises(Exception, match=f"cannot reach OpenD at 127.0.0.1:{closed}"):
        load(sdk, [f"127.0.0.1:{closed}", f"127.0.0.1:{closed + 1 if closed < 65535 else closed - 1}"],
             tmp_path / "d.sqlite3")


def test_an_opend_lost_mid_run_hands_its_codes_to_the_other(sdk, tmp_path, monkeypatch, caplog):
    from futu_buybacks import _loader
    monkeypatch.setattr(_loader, "RECONNECT_PATIENCE", 1.0)
    a, b = Simulator(DATASET).start(), Simulator(DATASET).start()
    try:
        def stop_b_after_some_requests():
            while b.requests[3235] < 6:
                time.sleep(0.005)
            b.stop()
        stopper = threading.Thread(target=stop_b_after_some_requests)
        stopper.start()
        with caplog.at_level(logging.WARNING, logger="futu_buybacks"):
            tables = load(sdk, opends(a, b), tmp_path / "c.sqlite3", retries=1)
        stopper.join()
    finally:
        a.stop()
        b.stop()
    assert tables.ok, tables.errors
    assert_matches_dataset(tables, DATASET, CODES)
    assert f"OpenD at 127.0.0.1:{b.port} failed" in caplog.text and "move to the other OpenDs" in caplog.text


def test_bad_opend_lists_are_refused_before_connecting():
    for bad, message in ((["127.0.0.1"], "HOST:PORT"), (["h:0"], "HOST:PORT"), ([], "names no OpenD")):
        with pytest.raises(InvalidArgument, match=message):
            load_buybacks(CODES, opend=bad, cache=False)
    with pytest.raises(InvalidArgument, match="each gets its own"):
        load_buybacks(CODES, opend=["h:1", "h:2"], limiter=RateLimiter("1/1"), cache=False)


def test_cli_opend_is_repeatable(tmp_path):
    with Simulator(DATASET) as a, Simulator(DATASET) as b:
        result = subprocess.run([sys.executable, "-m", "futu_buybacks", "fetch", *CODES[:4], "--opend",
                                 f"127.0.0.1:{a.port}", "--opend", f"127.0.0.1:{b.port}", "--cache",
                                 str(tmp_path / "c.sqlite3"), "--out-dir", str(tmp_path / "out"), "--rate", "1000/1"],
                                capture_output=True, text=True, timeout=120)
        served = (a.requests[3235], b.requests[3235])
    assert result.returncode == 0, result.stderr
    assert "4 codes ok, 0 failed; 240 HK and 0 A-share records" in result.stderr and "(8 requests)" in result.stderr
    assert min(served) > 0 and "Traceback" not in result.stderr


def test_ctrl_c_stops_every_worker_and_the_rerun_finishes(sdk, tmp_path):
    path = tmp_path / "c.sqlite3"
    with Simulator(DATASET) as a, Simulator(DATASET) as b:
        for server in (a, b):
            for _ in range(200):
                server.inject("delay", delay=0.02)

        def interrupt_after_some_requests():
            while a.requests[3235] + b.requests[3235] < 8:
                time.sleep(0.005)
            os.kill(os.getpid(), signal.SIGINT)
        threading.Thread(target=interrupt_after_some_requests).start()
        with pytest.raises(KeyboardInterrupt):
            load(sdk, opends(a, b), path)
        # no worker is still running (Python 3.9-3.11 may list a joined thread a moment longer)
        assert not [t for t in threading.enumerate() if t.name.startswith("futu-buybacks OpenD") and t.is_alive()]
        sent = a.requests[3235] + b.requests[3235]
        assert sent < 2 * len(CODES)
        a.chaos(), b.chaos()  # no more delays
        tables = load(sdk, opends(a, b), path)
    assert tables.ok
    assert_matches_dataset(tables, DATASET, CODES)
    assert sent + tables.requests <= 2 * len(CODES) + 2  # at most the pages in flight are asked twice


def test_no_code_is_left_behind_when_an_opend_fails_while_the_other_is_idle():
    queue = CodeQueue(["HK.00001", "HK.00002"], {})
    queue.join("s")
    queue.join("s")
    first, second = queue.next("s"), queue.next("s")
    taken = []
    idle = threading.Thread(target=lambda: taken.append(queue.next("s")))  # nothing left: it waits
    idle.start()
    time.sleep(0.05)
    assert idle.is_alive()
    queue.done()                      # the first worker finished its code ...
    time.sleep(0.05)
    assert idle.is_alive()            # ... the second still holds one, which may come back
    queue.leave("s", second)          # its OpenD failed: the code goes back
    idle.join(5)
    assert taken == [second] and first == "HK.00001"
    queue.done()
    assert queue.next("s") is None    # now nothing is left and nobody holds a code
