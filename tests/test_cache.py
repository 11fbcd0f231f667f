"""The SQLite store: identities, upserts, full-fetch cleanup, permissions, readers during writes."""

import os
import sqlite3
import stat

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
        cache.start_full("HK.00700", 1.0)
        assert cache.store_page("HK.00700", records, next_key="-1", full=True, now=2.0) == 5
        amended = dict(records[0], buy_back_money=1.5)
        assert cache.store_page("HK.00700", [amended], next_key="5", full=False, now=3.0) == 0
        rows = cache.rows(HK, ["HK.00700"])
        assert len(rows) == 5 and rows[0][HK.names.index("buy_back_money") + 1] == 1.5


def test_completed_full_fetch_drops_what_the_server_no_longer_has(tmp_path):
    with Cache(tmp_path / "c.sqlite3") as cache:
        records = synthetic_records("SZ.000001", 4)
        cache.start_full("SZ.000001", 1.0)
        cache.store_page("SZ.000001", records, next_key="-1", full=True, now=1.5)
        cache.start_full("SZ.000001", 2.0)
        cache.store_page("SZ.000001", records[:2], next_key="2", full=True, now=2.5)
        assert len(cache.rows(A, ["SZ.000001"])) == 4 and cache.state("SZ.000001").resume_key == "2"
        cache.store_page("SZ.000001", records[2:3], next_key="-1", full=True, now=3.0)
        assert len(cache.rows(A, ["SZ.000001"])) == 3
        state = cache.state("SZ.000001")
        assert state.complete and state.resume_key is None and state.full_at == 2.0


def test_file_is_owner_only_and_intact(tmp_path):
    path = tmp_path / "sub" / "c.sqlite3"
    with Cache(path) as cache:
        cache.start_full("HK.00700", 1.0)
        cache.store_page("HK.00700", synthetic_records("HK.00700", 3), next_key="-1", full=True, now=1.0)
        assert cache.integrity_ok()
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(path.parent).st_mode) == 0o700


def test_readers_are_not_blocked_by_a_writer(tmp_path):
    path = tmp_path / "c.sqlite3"
    with Cache(path) as cache:
        cache.start_full("HK.00700", 1.0)
        cache.store_page("HK.00700", synthetic_records("HK.00700", 3), next_key="-1", full=True, now=1.0)
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
        cache.start_full("HK.00700", 1.0)
        with pytest.raises(OverflowError):
            cache.store_page("HK.00700", [{"end_date": 2**64 - 1}], next_key="-1", full=True, now=1.0)
        assert cache.rows(HK) == []
