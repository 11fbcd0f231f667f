"""Bulk loading through the real SDK against the simulator: exactly once, refreshes, amendments,
rate limit without refusals (fake clock on both sides), typed frames, resume after a kill."""

import datetime as dt
import os
import signal
import subprocess
import sys
import textwrap
import time

import pandas as pd
import pytest
from test_ratelimit import FakeClock

from futu_buybacks import Cache, RateLimiter, load_buybacks, with_timestamps
from futu_buybacks._cache import CacheUnusable
from futu_buybacks._errors import InvalidArgument, TransportError
from futu_buybacks._schema import HK, A
from futu_buybacks._tidy import tidy_dtypes
from futu_buybacks.simulator import Dataset, Simulator, synthetic_dataset, synthetic_records

from conftest import SDKS

pytestmark = [pytest.mark.e2e, pytest.mark.skipif(not SDKS, reason="no SDK installed")]

CODES = ["HK.00700", "HK.01810", "SZ.000001", "SH.600519", "HK.00005"]


def expected_rows(dataset, codes, schema):
    return sum(len(dataset.records[c]) for c in codes if c[:2] in ({"HK"} if schema is HK else {"SH", "SZ"}))


def assert_matches_dataset(tables, dataset, codes):
    for schema, frame in ((HK, tables.hk_buy_back_list), (A, tables.a_buy_back_list)):
        assert len(frame) == expected_rows(dataset, codes, schema)
        for code, group in frame.groupby("code", sort=False):
            records = dataset.records[code]
            assert len(group) == len(records)
            got = group.drop(columns="code").to_dict("records")
            for row, record in zip(got, records):
                for column, value in record.items():
                    assert row[column] == value, (code, column)


@pytest.fixture
def world(sdk):
    """A simulator with its own dataset and a connected context."""
    dataset = Dataset({code: synthetic_records(code, count) for code, count in zip(CODES, (120, 51, 50, 7, 0))})
    sim = Simulator(dataset).start()
    ctx = sdk.OpenQuoteContext(host=sim.host, port=sim.port)
    yield sim, ctx
    ctx.close()
    sim.stop()


def test_every_record_exactly_once_with_typed_frames(world, tmp_path):
    sim, ctx = world
    tables = load_buybacks(CODES + ["HK.00700", "US.AAPL"], ctx, cache=tmp_path / "c.sqlite3",
                           limiter=RateLimiter("1000/1"))
    assert tables.errors.keys() == {"US.AAPL"} and "not served" in tables.errors["US.AAPL"]
    assert_matches_dataset(tables, sim.dataset, CODES)
    assert tables.requests == 3 + 2 + 1 + 1 + 1  # 120, 51, 50, 7, 0 records at 50 per page
    for schema, frame in ((HK, tables.hk_buy_back_list), (A, tables.a_buy_back_list)):
        assert list(frame.columns) == ["code", *schema.names, "first_seen"]
        assert frame["first_seen"].notna().all()
        assert frame.dtypes.astype(str).to_dict() == {k: str(pd.Series(dtype=v).dtype)
                                                      for k, v in tidy_dtypes(schema).items()}
    assert list(tables.hk_buy_back_list["code"].unique()) == ["HK.00700", "HK.01810"]


def test_empty_result_has_the_same_dtypes(world):
    sim, ctx = world
    tables = load_buybacks(["HK.00005"], ctx, cache=False, limiter=RateLimiter("1000/1"))
    full = load_buybacks(["HK.00700"], ctx, cache=False, limiter=RateLimiter("1000/1"))
    assert tables.hk_buy_back_list.empty and tables.a_buy_back_list.empty
    assert tables.hk_buy_back_list.dtypes.equals(full.hk_buy_back_list.dtypes)
    assert tables.a_buy_back_list.dtypes.equals(full.a_buy_back_list.dtypes)


def test_refresh_costs_one_request_per_fresh_code_and_finds_new_records(world, tmp_path):
    sim, ctx = world
    cache = Cache(tmp_path / "c.sqlite3")
    limiter = RateLimiter("1000/1")
    load_buybacks(CODES, ctx, cache=cache, limiter=limiter)
    assert load_buybacks(CODES, ctx, cache=cache, limiter=limiter).requests == 0  # checked just now
    again = load_buybacks(CODES, ctx, cache=cache, limiter=limiter, fresh_for=dt.timedelta(0))
    assert again.requests == len(CODES)
    assert_matches_dataset(again, sim.dataset, CODES)
    # two new records arrive at the top of HK.00700; one page finds them
    new = synthetic_records("HK.00700", 2, newest=pd.Timestamp("2026-06-01").date(), seed=9)
    sim.dataset.records["HK.00700"][:0] = new
    refreshed = load_buybacks(["HK.00700"], ctx, cache=cache, limiter=limiter, fresh_for=dt.timedelta(0))
    assert refreshed.requests == 1
    assert_matches_dataset(refreshed, sim.dataset, ["HK.00700"])


def test_amended_record_replaces_its_earlier_version(world, tmp_path):
    sim, ctx = world
    cache = Cache(tmp_path / "c.sqlite3")
    limiter = RateLimiter("1000/1")
    load_buybacks(["SZ.000001", "HK.01810"], ctx, cache=cache, limiter=limiter)
    sim.dataset.records["SZ.000001"][0]["buy_back_money"] = 123.45            # newest: found by a refresh
    sim.dataset.records["HK.01810"][40]["buy_back_money"] = 678.9              # deep: found by a full fetch
    sim.dataset.records["HK.01810"][45]["end_date"] += 1                       # identity changed
    refreshed = load_buybacks(["SZ.000001"], ctx, cache=cache, limiter=limiter, fresh_for=dt.timedelta(0))
    assert refreshed.a_buy_back_list["buy_back_money"].iloc[0] == 123.45
    full = load_buybacks(["SZ.000001", "HK.01810"], ctx, cache=cache, limiter=limiter, full=True)
    assert_matches_dataset(full, sim.dataset, ["SZ.000001", "HK.01810"])


def test_stale_codes_are_fully_refetched(world, tmp_path):
    sim, ctx = world
    clock = [1_000_000.0]
    cache = Cache(tmp_path / "c.sqlite3")
    limiter = RateLimiter("1000/1")
    load_buybacks(["HK.00700"], ctx, cache=cache, limiter=limiter, clock=lambda: clock[0])
    clock[0] += 8 * 86400
    assert load_buybacks(["HK.00700"], ctx, cache=cache, limiter=limiter, clock=lambda: clock[0]).requests == 3


def test_full_rate_without_refusals_on_a_fake_clock(sdk):
    clock = FakeClock()
    codes = [f"HK.{i:05d}" for i in range(1, 41)]
    dataset = synthetic_dataset(codes, 120)  # 3 pages each: 120 requests, 4 windows
    with Simulator(dataset, rate_limit=(30, 30.0), clock=clock) as sim:
        ctx = sdk.OpenQuoteContext(host=sim.host, port=sim.port)
        try:
            limiter = RateLimiter("30/30", clock=clock, sleep=clock.sleep)
            start = clock.now
            tables = load_buybacks(codes, ctx, cache=False, limiter=limiter)
        finally:
            ctx.close()
    assert tables.ok and tables.requests == 120 and sim.refused == 0
    assert len(tables.hk_buy_back_list) == 40 * 120
    # 120 requests at 30 per window: three full waits of one window (+2% margin), no more
    assert clock.now - start == pytest.approx(3 * 30.0 * 1.02)


def test_refusals_from_another_client_are_waited_out(sdk):
    dataset = synthetic_dataset(["HK.00001", "HK.00002"], 60)
    with Simulator(dataset) as sim:
        ctx = sdk.OpenQuoteContext(host=sim.host, port=sim.port)
        try:
            sim.inject("frequency", times=3)
            tables = load_buybacks(["HK.00001", "HK.00002"], ctx, cache=False, retries=0,
                                   limiter=RateLimiter("40/0.2"))
        finally:
            ctx.close()
    assert tables.ok and sim.refused == 3
    assert tables.requests == sim.requests[3235] == 2 * 2 + 3  # refused ones asked again, not given up
    assert_matches_dataset(tables, dataset, ["HK.00001", "HK.00002"])


def test_failing_code_is_reported_and_others_kept(sdk):
    dataset = synthetic_dataset(["HK.00001", "HK.00002"], 60)
    with Simulator(dataset, universe=()) as sim:  # it knows the dataset's codes only
        ctx = sdk.OpenQuoteContext(host=sim.host, port=sim.port)
        try:
            sim.inject("error", times=3, message="server busy")
            tables = load_buybacks(["HK.00001", "HK.00002", "HK.09999"], ctx, cache=False, retries=2,
                                   limiter=RateLimiter("1000/1"))
        finally:
            ctx.close()
    assert tables.errors == {"HK.00001": "server busy", "HK.09999": "unknown stock HK.09999"}
    assert (tables.hk_buy_back_list["code"] == "HK.00002").sum() == 60
    # busy: the first try and 2 retries; HK.00002: 2 pages; the unknown code: 1, not retried
    assert tables.requests == sim.requests[3235] == 3 + 2 + 1


def test_unknown_codes_cost_one_request_each(sdk):
    codes = ["HK.09991", "HK.09992", "SH.609993", "SZ.009994"]
    with Simulator(synthetic_dataset(["HK.00001"], 10), universe=()) as sim:  # it knows HK.00001 only
        ctx = sdk.OpenQuoteContext(host=sim.host, port=sim.port)
        try:
            tables = load_buybacks(codes, ctx, cache=False, retries=2, limiter=RateLimiter("1000/1"))
        finally:
            ctx.close()
    assert tables.errors == {code: f"unknown stock {code}" for code in codes}
    assert tables.requests == sim.requests[3235] == 4  # was 12: each tried 3 times


def test_a_resume_key_the_server_no_longer_accepts_restarts_the_code(sdk, tmp_path):
    """A run stopped mid full fetch saves the next page's key; the server's data then shrinks, so
    it refuses that key. The next run restarts the code's full fetch instead of failing forever."""
    dataset = synthetic_dataset(["HK.00001"], 120)
    clock = [1_000_000.0]
    cache = Cache(tmp_path / "c.sqlite3")
    with Simulator(dataset) as sim:
        ctx = sdk.OpenQuoteContext(host=sim.host, port=sim.port)
        try:
            def run(retries=2):
                before = sim.requests[3235]
                clock[0] += 60
                tables = load_buybacks(["HK.00001"], ctx, cache=cache, retries=retries,
                                       limiter=RateLimiter("1000/1"), clock=lambda: clock[0])
                assert tables.requests == sim.requests[3235] - before
                return tables
            sim.inject("delay", delay=0)  # the first page is answered,
            sim.inject("error")           # the second fails
            assert run(retries=0).errors == {"HK.00001": "simulated server error"}
            assert cache.state(sim.source, "HK.00001").resume_key == "50"
            del dataset.records["HK.00001"][30:]  # 30 records left: offset 50 is refused
            healed = run()
            # the refused key once (not 3 times, failing, on every run), then the one page of 30
            assert healed.ok and healed.requests == 1 + 1
            assert cache.state(sim.source, "HK.00001").complete
            assert_matches_dataset(healed, dataset, ["HK.00001"])
            assert run().requests == 0  # fresh: nothing to ask
        finally:
            ctx.close()


def test_with_timestamps_uses_the_market_zone(world):
    sim, ctx = world
    tables = load_buybacks(["HK.00700", "SZ.000001"], ctx, cache=False, limiter=RateLimiter("1000/1"))
    hk = with_timestamps(tables.hk_buy_back_list)
    assert str(hk["end_date"].dt.tz) == "Asia/Hong_Kong"
    first = hk.iloc[0]
    assert first["end_date"].strftime("%Y-%m-%d %H:%M") == first["end_date_str"] + " 00:00"
    a = with_timestamps(tables.a_buy_back_list)
    assert str(a["change_date"].dt.tz) == "Asia/Shanghai" and a["change_reg_date"].isna().all()
    assert tables.hk_buy_back_list["end_date"].dtype == "Int64"  # the input is left alone


RESUME_SCRIPT = """
import sys
from futu_buybacks import load_buybacks, RateLimiter
from futu import OpenQuoteContext
ctx = OpenQuoteContext(host="127.0.0.1", port=int(sys.argv[1]))
load_buybacks(sys.argv[3].split(","), ctx, cache=sys.argv[2], limiter=RateLimiter("1000/1"))
print("finished")
"""


@pytest.mark.skipif("futu" not in SDKS, reason="the kill test runs futu in a subprocess")
def test_resume_after_kill_refetches_nothing_stored(sdk, tmp_path):
    codes = [f"SH.{600000 + i}" for i in range(6)]
    dataset = synthetic_dataset(codes, 200)  # 4 pages each, 24 requests
    path = tmp_path / "c.sqlite3"
    with Simulator(dataset) as sim:
        for _ in range(100):
            sim.inject("delay", delay=0.05)
        proc = subprocess.Popen([sys.executable, "-c", textwrap.dedent(RESUME_SCRIPT), str(sim.port), str(path),
                                 ",".join(codes)], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        deadline = time.time() + 60
        while sim.requests[3235] < 10 and time.time() < deadline:
            time.sleep(0.01)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        sent_before = sim.requests[3235]
        with Cache(path) as cache:
            assert cache.integrity_ok()
            stored = len(cache.rows(A, sim.source, codes))
        assert 0 < stored < 1200
        sim.chaos()  # no more delays
        ctx = sdk.OpenQuoteContext(host=sim.host, port=sim.port)
        try:
            tables = load_buybacks(codes, ctx, cache=path, limiter=RateLimiter("1000/1"))
        finally:
            ctx.close()
    assert_matches_dataset(tables, dataset, codes)
    pages_stored = stored // 50
    # the rerun asks only for pages not stored (plus at most the one in flight when killed)
    assert tables.requests <= 24 - pages_stored + 1
    assert sent_before + tables.requests >= 24


def test_as_of_returns_exactly_what_a_load_at_that_moment_returned(sdk, tmp_path):
    """Amended, added and deleted records between three loads; as_of each load's time returns
    that load's frames, and a record before its amendment is the old version."""
    code = "SZ.000001"
    records = synthetic_records(code, 4)
    dataset = Dataset({code: [dict(r) for r in records]})
    clock = [1_800_000_000.0]
    path = tmp_path / "c.sqlite3"
    with Simulator(dataset) as sim:
        ctx = sdk.OpenQuoteContext(host=sim.host, port=sim.port)
        try:
            def load(**kwargs):
                clock[0] += 3600
                return clock[0], load_buybacks([code], ctx, cache=path, limiter=RateLimiter("1000/1"),
                                               clock=lambda: clock[0], fresh_for=dt.timedelta(0), **kwargs)
            t1, first = load()
            dataset.records[code][1]["buy_back_money"] = 123.0             # amended
            dataset.records[code].insert(0, dict(records[0], change_date=records[0]["change_date"] + 86400))  # new
            t2, second = load()
            del dataset.records[code][-1]                                 # deleted by the server
            t3, third = load(full=True)
        finally:
            ctx.close()
    assert len(first.a_buy_back_list) == 4 and len(second.a_buy_back_list) == 5 and len(third.a_buy_back_list) == 4
    assert 123.0 in set(second.a_buy_back_list["buy_back_money"])
    for moment, expected in ((t1, first), (t2, second), (t3, third)):
        for as_of in (moment, pd.Timestamp(moment, unit="s", tz="Asia/Shanghai")):
            again = load_buybacks([code], port=sim.port, cache=path, as_of=as_of)
            pd.testing.assert_frame_equal(again.a_buy_back_list, expected.a_buy_back_list)
    from futu_buybacks import events
    with Cache(path, read_only=True) as cache:  # events(cache, as_of=) sees what that load saw
        for moment, expected in ((t1, first), (t2, second)):
            pd.testing.assert_frame_equal(events(cache, as_of=moment), events(expected))
    before = load_buybacks([code], port=sim.port, cache=path, as_of=t1 - 1)
    assert before.a_buy_back_list.empty  # nothing was known before the first load
    with pytest.raises(InvalidArgument, match="timezone-aware"):
        load_buybacks([code], port=sim.port, cache=path, as_of=dt.datetime(2027, 1, 1))


def test_an_unreachable_opend_is_an_error_even_when_the_cache_could_answer(world, tmp_path):
    sim, ctx = world
    path = tmp_path / "c.sqlite3"
    load_buybacks(CODES, ctx, cache=path, limiter=RateLimiter("1000/1"))
    sim.stop()  # nothing listens any more
    with pytest.raises(TransportError, match=f"cannot reach OpenD at 127.0.0.1:{sim.port}: connection refused"):
        load_buybacks(CODES, host=sim.host, port=sim.port, cache=path)


def test_offline_reads_the_source_last_confirmed_at_that_address_without_writing(world, tmp_path):
    sim, ctx = world
    path = tmp_path / "c.sqlite3"
    cold = load_buybacks(CODES, ctx, cache=path, limiter=RateLimiter("1000/1"))
    assert cold.source == sim.source
    sim.stop()
    os.chmod(path, 0o400)  # a reader must not need to write
    before = path.read_bytes()
    warm = load_buybacks(CODES, host=sim.host, port=sim.port, cache=path, offline=True)
    assert warm.ok and warm.requests == 0 and warm.source == sim.source
    pd.testing.assert_frame_equal(warm.hk_buy_back_list, cold.hk_buy_back_list)
    pd.testing.assert_frame_equal(warm.a_buy_back_list, cold.a_buy_back_list)
    assert path.read_bytes() == before
    with pytest.raises(CacheUnusable, match="has nothing from OpenD at 127.0.0.1:1"):
        load_buybacks(CODES, port=1, cache=path, offline=True)


def test_opend_gone_for_good_ends_the_run_with_a_message(sdk, tmp_path, monkeypatch):
    """A context the loader opened waits a bounded time for OpenD to come back, then the run
    stops with a message (CLI exit 3); what was fetched stays cached and a rerun finishes."""
    import threading

    from futu_buybacks import _loader
    from futu_buybacks._errors import TransportError
    monkeypatch.setattr(_loader, "RECONNECT_PATIENCE", 1.0)
    codes = [f"HK.{i:05d}" for i in range(1, 9)]
    dataset = synthetic_dataset(codes, 120)  # 3 pages each
    path = tmp_path / "c.sqlite3"
    sim = Simulator(dataset).start()
    port = sim.port
    for _ in range(100):
        sim.inject("delay", delay=0.02)

    def stop_after_six_requests():
        while sim.requests[3235] < 6:
            time.sleep(0.005)
        sim.stop()
    stopper = threading.Thread(target=stop_after_six_requests)
    stopper.start()
    start = time.time()
    with pytest.raises(TransportError, match=f"lost OpenD at 127.0.0.1:{port} .* run again to finish"):
        load_buybacks(codes, host=sim.host, port=port, sdk=sdk.__name__, cache=path,
                      limiter=RateLimiter("1000/1"), progress=False)
    assert time.time() - start < 20
    stopper.join()
    with Cache(path) as cache:
        stored = len(cache.rows(HK, sim.source, codes))
    assert stored >= 4 * 50
    with Simulator(dataset, port=port) as back:
        tables = load_buybacks(codes, host=back.host, port=port, sdk=sdk.__name__, cache=path,
                               limiter=RateLimiter("1000/1"), progress=False)
    assert tables.ok and tables.requests <= 24 - stored // 50 + 1
    assert_matches_dataset(tables, dataset, codes)
