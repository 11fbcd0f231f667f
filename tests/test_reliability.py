"""The loader under a misbehaving OpenD, a killed process and a second process on one cache.

``make soak`` runs the chaos load at a larger size (CHAOS_CODES=300).
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from test_loader import assert_matches_dataset

from futu_buybacks import Cache, RateLimiter, load_buybacks
from futu_buybacks._schema import HK, A
from futu_buybacks.simulator import Dataset, Simulator, synthetic_records

from conftest import SDKS

pytestmark = [pytest.mark.e2e, pytest.mark.skipif(not SDKS, reason="no SDK installed")]

CHAOS_CODES = int(os.environ.get("CHAOS_CODES", "50"))
PROCESS = str(Path(__file__).with_name("loader_process.py"))


def universe(count, seed=0):
    """``count`` codes, HK and A-share, from 0 to 120 records each."""
    codes = [f"{('HK', 'SH', 'SZ')[i % 3]}.{(700 + i) if i % 3 == 0 else 600000 + i:05d}" for i in range(count)]
    return Dataset({code: synthetic_records(code, (i * 37 + seed) % 121) for i, code in enumerate(codes)})


def run_loader(sdk, port, cache, codes, result, rate="1000/1", kill=None, margin=None):
    """The loader in a process of its own; it writes its summary to ``result`` when it finishes."""
    args = [sys.executable, PROCESS, sdk.__name__, str(port), str(cache), ",".join(codes), rate]
    if kill:
        args += [kill[0], str(kill[1])]
    env = {**os.environ, "LOADER_RESULT": str(result)}
    if margin is not None:
        env["LOADER_MARGIN"] = str(margin)
    return subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)


def test_chaos_every_record_exactly_once(sdk, tmp_path):
    dataset = universe(CHAOS_CODES)
    codes = list(dataset.records)
    with Simulator(dataset) as sim:
        sim.chaos(seed=0, frequency=0.10, drop=0.02)
        ctx = sdk.OpenQuoteContext(host=sim.host, port=sim.port)
        try:  # no limit in effect; a short window, as each refusal for frequency waits out half of it
            tables = load_buybacks(codes, ctx, cache=tmp_path / "c.sqlite3", limiter=RateLimiter("100/0.1"),
                                   retries=4)
        finally:
            ctx.close()
    assert tables.ok, tables.errors
    assert sim.faults["frequency"] >= 5 and sim.faults["drop"] >= 1, sim.faults
    assert_matches_dataset(tables, dataset, codes)


@pytest.mark.parametrize("kill", [("mid", 1), ("mid", 6), ("after", 4), ("mid", 15)],
                         ids=lambda kill: f"{kill[0]}-transaction-{kill[1]}")
def test_killed_mid_run_then_rerun(sdk, tmp_path, kill):
    dataset = universe(12, seed=5)
    codes = list(dataset.records)
    pages = sum(max(1, -(-len(records) // 50)) for records in dataset.records.values())
    path = tmp_path / "c.sqlite3"
    with Simulator(dataset) as sim:
        proc = run_loader(sdk, sim.port, path, codes, tmp_path / "result.json", kill=kill)
        proc.communicate(timeout=120)
        assert proc.returncode == -9 and not (tmp_path / "result.json").exists()  # it died where told to
        with Cache(path) as cache:
            assert cache.integrity_ok()
            stored = {schema: len(cache.rows(schema, sim.source, codes)) for schema in (HK, A)}
        ctx = sdk.OpenQuoteContext(host=sim.host, port=sim.port)
        try:
            tables = load_buybacks(codes, ctx, cache=path, limiter=RateLimiter("1000/1"))
        finally:
            ctx.close()
    assert tables.ok
    assert_matches_dataset(tables, dataset, codes)
    with Cache(path) as cache:
        assert cache.integrity_ok()
    # nothing stored is asked for again (at most the page whose transaction was lost)
    assert tables.requests <= pages - sum(stored.values()) // 50 + 1


def test_two_processes_share_one_cache_and_the_rate_limit(sdk, tmp_path):
    """The documented setting: two processes on one account, each with half the window.

    The window is 3 s instead of 30 s; the limiters' margin is scaled up to match (20% of 3 s is
    the 0.6 s that the default 2% is of 30 s), since the timing jitter it absorbs does not shrink
    with the window.
    """
    dataset = universe(30, seed=7)
    codes = list(dataset.records)
    first, second = codes[:20], codes[10:]          # ten codes in common
    path = tmp_path / "c.sqlite3"
    with Simulator(dataset, rate_limit=(30, 3.0)) as sim:
        procs = [run_loader(sdk, sim.port, path, part, tmp_path / f"result{i}.json", rate="15/3", margin=0.2)
                 for i, part in enumerate((first, second))]
        errors = [proc.communicate(timeout=180)[1] for proc in procs]
    assert [proc.returncode for proc in procs] == [0, 0], [err[-2000:] for err in errors]
    results = [json.loads((tmp_path / f"result{i}.json").read_text()) for i in range(2)]
    assert sim.refused == 0
    for part, result in zip((first, second), results):
        assert result["errors"] == {}
        assert result["hk"] + result["a"] == sum(len(dataset.records[code]) for code in part)
    # the cache alone now holds everything, exactly once (no OpenD needed)
    tables = load_buybacks(codes, port=sim.port, cache=path, offline=True)
    assert tables.requests == 0
    assert_matches_dataset(tables, dataset, codes)
