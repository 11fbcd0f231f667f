"""The SQLite store: identities, upserts, full-fetch cleanup, permissions, readers during writes."""

import os
import sqlite3
import stat
import threading

import pytest

from futu_buybacks import Cache
from futu_buybacks._cache import record_identity
from futu_buybacks._schema import HK, A
from futu_buybacks.simulator import synthetic_records


def test_identity_per_market():
    hk = {"end_date": 1, "share_type": "普通股", "buy_back_money": 5.0}
    assert record_identity(HK, hk) == record_identity(HK, {**hk, "buy_back_money": 6.0})
    assert record_identity(HK, hk) != record_identity(HK, {**hk, "end_date": 2})
    assert record_identity(HK, {"publ_date": 7}) != record_identity(HK, {"end_date": 7})
    a = {"advance_date": 1, "change_date": 2, "share_type": "A股", "seller": None, "buy_back_sum": 10}
    assert record_identity(A, a) == record_identity(A, {**a, "buy_back_sum": 11, "event_proce_desc": "完成"})
    assert record_identity(A, a) != record_identity(A, {**a, "seller": "某股东"})
    # no identity fields at all: identified by every value
    assert record_identity(A, {"buy_back_sum": 1}) != record_identity(A, {"buy_back_sum": 2})


def test_upsert_replaces_an_amended_record(tmp_path):
    with Cache(tmp_path / "c.sqlite3") as cache:
        records = synthetic_records("HK.00700", 5)
        since = cache.start_full("HK.00700", 1.0)
        assert cache.store_page("HK.00700", records, next_key="-1", full_since=since, now=2.0) == 5
        amended = dict(records[0], buy_back_money=1.5)
        assert cache.store_page("HK.00700", [amended], next_key="5", full_since=None, now=3.0) == 0
        rows = cache.rows(HK, ["HK.00700"])
        assert len(rows) == 5 and rows[0][HK.names.index("buy_back_money") + 1] == 1.5


def test_completed_full_fetch_drops_what_the_server_no_longer_has(tmp_path):
    with Cache(tmp_path / "c.sqlite3") as cache:
        records = synthetic_records("SZ.000001", 4)
        since = cache.start_full("SZ.000001", 1.0)
        cache.store_page("SZ.000001", records, next_key="-1", full_since=since, now=1.5)
        since = cache.start_full("SZ.000001", 2.0)
        cache.store_page("SZ.000001", records[:2], next_key="2", full_since=since, now=2.5)
        assert len(cache.rows(A, ["SZ.000001"])) == 4 and cache.state("SZ.000001").resume_key == "2"
        cache.store_page("SZ.000001", records[2:3], next_key="-1", full_since=since, now=3.0)
        assert len(cache.rows(A, ["SZ.000001"])) == 3
        state = cache.state("SZ.000001")
        assert state.complete and state.resume_key is None and state.full_at == 2.0


def test_a_second_full_fetch_of_the_same_code_does_not_make_the_first_drop_its_rows(tmp_path):
    """Two processes on one cache: B starts a full fetch while A is in the middle of one."""
    path = tmp_path / "c.sqlite3"
    records = synthetic_records("SZ.000001", 4)
    with Cache(path) as a, Cache(path) as b:
        since_a = a.start_full("SZ.000001", 1.0)
        a.store_page("SZ.000001", records[:2], next_key="2", full_since=since_a, now=1.5)
        since_b = b.start_full("SZ.000001", 2.0)
        b.store_page("SZ.000001", records[:1], next_key="1", full_since=since_b, now=2.2)
        a.store_page("SZ.000001", records[2:], next_key="-1", full_since=since_a, now=2.5)
        assert len(a.rows(A, ["SZ.000001"])) == 4  # A's own first page is still there
        b.store_page("SZ.000001", records[1:], next_key="-1", full_since=since_b, now=3.0)
        assert len(b.rows(A, ["SZ.000001"])) == 4 and b.state("SZ.000001").complete


def test_file_is_owner_only_and_intact(tmp_path):
    path = tmp_path / "sub" / "c.sqlite3"
    with Cache(path) as cache:
        since = cache.start_full("HK.00700", 1.0)
        cache.store_page("HK.00700", synthetic_records("HK.00700", 3), next_key="-1", full_since=since, now=1.0)
        assert cache.integrity_ok()
        for side in ("-wal", "-shm"):  # SQLite gives its side files the database's mode
            assert stat.S_IMODE(os.stat(f"{path}{side}").st_mode) == 0o600
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(path.parent).st_mode) == 0o700


def test_readers_are_not_blocked_by_a_writer(tmp_path):
    path = tmp_path / "c.sqlite3"
    with Cache(path) as cache:
        since = cache.start_full("HK.00700", 1.0)
        cache.store_page("HK.00700", synthetic_records("HK.00700", 3), next_key="-1", full_since=since, now=1.0)
        with cache.transaction() as db:  # a write transaction in progress
            db.execute("UPDATE hk_records SET buy_back_money = 0")
            reader = sqlite3.connect(path, timeout=0.1)
            assert reader.execute("SELECT COUNT(*) FROM hk_records WHERE buy_back_money > 0").fetchone()[0] == 3
            reader.close()


def test_sql_is_parameterized(tmp_path):
    with Cache(tmp_path / "c.sqlite3") as cache:
        assert cache.rows(HK, ["HK.00700'; DROP TABLE hk_records; --"]) == []
        assert cache.state("x' OR '1'='1") is None
        assert cache.rows(HK) == []


def test_values_beyond_int64_are_refused_not_corrupted(tmp_path):
    with Cache(tmp_path / "c.sqlite3") as cache:
        since = cache.start_full("HK.00700", 1.0)
        with pytest.raises(OverflowError):
            cache.store_page("HK.00700", [{"end_date": 2**64 - 1}], next_key="-1", full_since=since, now=1.0)
        assert cache.rows(HK) == []



def test_opening_waits_for_another_process_holding_the_new_file(tmp_path):
    """Switching a file to WAL needs it alone, and SQLite does not wait for that: we do."""
    path = tmp_path / "c.sqlite3"
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)  # another process, mid-write
    other.execute("CREATE TABLE t (x)")
    other.execute("BEGIN IMMEDIATE")
    other.execute("INSERT INTO t VALUES (1)")
    timer = threading.Timer(0.3, other.execute, ("COMMIT",))
    timer.start()
    try:
        with Cache(path) as cache:
            assert cache.integrity_ok()
            assert cache._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        timer.join()
        other.close()
