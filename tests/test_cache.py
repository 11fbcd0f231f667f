"""The SQLite store: identities, upserts, full-fetch cleanup, permissions, readers during writes."""

import logging
import os
import sqlite3
import stat
import threading
from pathlib import Path

import pytest

from futu_buybacks import Cache, _cache
from futu_buybacks._cache import CacheUnusable, file_system_of, record_identity
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


SRC = "opend:1"


def full_fetch(cache, code, records, *, now=1.0, source=SRC):
    fetch = cache.begin_full_fetch(source, code, now)
    return fetch, cache.store_page(fetch, records, next_key="-1", now=now)


def test_upsert_replaces_an_amended_record(tmp_path):
    with Cache(tmp_path / "c.sqlite3") as cache:
        records = synthetic_records("HK.00700", 5)
        assert full_fetch(cache, "HK.00700", records)[1] == (5, 0)
        amended = dict(records[0], buy_back_money=1.5)
        stored = cache.store_page(cache.begin_refresh(SRC, "HK.00700"), [amended], next_key="5", now=3.0)
        assert stored == (0, 1)  # the page's one record was known: a refresh stops here
        rows = cache.rows(HK, SRC, ["HK.00700"])
        assert len(rows) == 5 and rows[0][HK.names.index("buy_back_money") + 1] == 1.5


def test_completed_full_fetch_drops_what_the_server_no_longer_has(tmp_path):
    with Cache(tmp_path / "c.sqlite3") as cache:
        records = synthetic_records("SZ.000001", 4)
        full_fetch(cache, "SZ.000001", records)
        fetch = cache.begin_full_fetch(SRC, "SZ.000001", 2.0)
        cache.store_page(fetch, records[:2], next_key="2", now=2.5)
        state = cache.state(SRC, "SZ.000001")  # a refetch interrupted here is resumed by the next load
        assert len(cache.rows(A, SRC, ["SZ.000001"])) == 4 and state.resume_key == "2" and not state.complete
        cache.store_page(fetch, records[2:3], next_key="-1", now=3.0)
        assert len(cache.rows(A, SRC, ["SZ.000001"])) == 3
        state = cache.state(SRC, "SZ.000001")
        assert state.complete and state.resume_key is None and state.full_at == 2.0


def test_a_clock_stepping_back_does_not_make_a_full_fetch_drop_what_it_just_fetched(tmp_path):
    """Rows used to be kept by wall clock (fetched_at >= start): a step back of the clock, or
    another host's clock behind ours, deleted the pages just fetched."""
    with Cache(tmp_path / "c.sqlite3") as cache:
        records = synthetic_records("SZ.000001", 4)
        fetch = cache.begin_full_fetch(SRC, "SZ.000001", 1000.0)
        cache.store_page(fetch, records[:2], next_key="2", now=400.0)   # NTP stepped the clock back
        cache.store_page(fetch, records[2:], next_key="-1", now=401.0)
        assert len(cache.rows(A, SRC, ["SZ.000001"])) == 4
        # a refresh on a host whose clock is behind, then a full fetch that no longer sees one record
        cache.store_page(cache.begin_refresh(SRC, "SZ.000001"), records[:1], next_key="1", now=5.0)
        fetch = cache.begin_full_fetch(SRC, "SZ.000001", 3.0)
        cache.store_page(fetch, records[1:], next_key="-1", now=4.0)
        assert len(cache.rows(A, SRC, ["SZ.000001"])) == 3


def test_a_refresh_interrupted_after_its_first_page_goes_on_past_it(tmp_path):
    """Found in review: "known" meant "in the cache now", so a refresh interrupted after a page
    of new records (or started again after a rejected key) stopped at that page the next time,
    and the new records of its later pages were missed until the next full fetch."""
    path = tmp_path / "c.sqlite3"
    old = synthetic_records("HK.00700", 60)
    new = [dict(record, end_date=record["end_date"] + 400 * 86400) for record in old]  # 400 days on
    server = new + old  # newest first: 60 new records, then the 60 cached
    with Cache(path) as cache:
        full_fetch(cache, "HK.00700", old)
        refresh = cache.begin_refresh(SRC, "HK.00700")
        assert cache.store_page(refresh, server[:50], next_key="50", now=2.0) == (50, 0)
    with Cache(path) as cache:  # the process was killed here; the next load:
        state = cache.state(SRC, "HK.00700")
        assert state.complete and state.refresh_run == refresh.run and state.refresh_key == "50"
        resumed = cache.resumed_fetch(state)
        assert cache.store_page(resumed, server[:50], next_key="50", now=3.0) == (50, 0)  # asked again: still new
        assert cache.store_page(resumed, server[50:100], next_key="100", now=3.0) == (10, 40)
        state = cache.state(SRC, "HK.00700")
        assert state.refresh_run is None and state.checked_at == 3.0
        assert len(cache.rows(HK, SRC, ["HK.00700"])) == 120
        assert cache.store_page(cache.begin_refresh(SRC, "HK.00700"), server[:50], next_key="50", now=4.0) == (0, 50)


def test_a_second_full_fetch_of_the_same_code_does_not_make_the_first_drop_its_rows(tmp_path):
    """Two processes on one cache: B starts a full fetch while A is in the middle of one."""
    path = tmp_path / "c.sqlite3"
    records = synthetic_records("SZ.000001", 4)
    with Cache(path) as a, Cache(path) as b:
        fetch_a = a.begin_full_fetch(SRC, "SZ.000001", 1.0)
        a.store_page(fetch_a, records[:2], next_key="2", now=1.5)
        fetch_b = b.begin_full_fetch(SRC, "SZ.000001", 2.0)
        b.store_page(fetch_b, records[:1], next_key="1", now=2.2)
        a.store_page(fetch_a, records[2:], next_key="-1", now=2.5)
        assert len(a.rows(A, SRC, ["SZ.000001"])) == 4  # A's own first page is still there
        b.store_page(fetch_b, records[1:], next_key="-1", now=3.0)
        assert len(b.rows(A, SRC, ["SZ.000001"])) == 4 and b.state(SRC, "SZ.000001").complete


def test_an_older_fetch_seeing_a_page_again_does_not_let_a_newer_one_close_it(tmp_path):
    """Found in CI's soak (two processes, ten codes in common; one process's result was a page
    short): B's full fetch, numbered after A's, stored the first page; A stored the same page
    afterwards and marked its rows seen by A's older number; B's last page then closed them as
    "not seen since B started".  A row's seen_run only ever goes up."""
    path = tmp_path / "c.sqlite3"
    records = synthetic_records("SZ.000001", 4)
    with Cache(path) as a, Cache(path) as b:
        fetch_a = a.begin_full_fetch(SRC, "SZ.000001", 1.0)
        fetch_b = b.begin_full_fetch(SRC, "SZ.000001", 1.1)  # A has not stored a page yet
        b.store_page(fetch_b, records[:2], next_key="2", now=1.2)
        a.store_page(fetch_a, records[:2], next_key="2", now=1.3)
        b.store_page(fetch_b, records[2:], next_key="-1", now=1.4)
        assert len(b.rows(A, SRC, ["SZ.000001"])) == 4
        a.store_page(fetch_a, records[2:], next_key="-1", now=1.5)
        assert len(a.rows(A, SRC, ["SZ.000001"])) == 4 and a.state(SRC, "SZ.000001").complete
        # the same when A's copy of the page differs (the server amended a record in between)
        fetch_a = a.begin_full_fetch(SRC, "SZ.000001", 2.0)
        fetch_b = b.begin_full_fetch(SRC, "SZ.000001", 2.1)
        b.store_page(fetch_b, records[:2], next_key="2", now=2.2)
        a.store_page(fetch_a, [dict(records[0], buy_back_sum=1), records[1]], next_key="2", now=2.3)
        b.store_page(fetch_b, records[2:], next_key="-1", now=2.4)
        assert len(b.rows(A, SRC, ["SZ.000001"])) == 4


def test_sources_are_kept_apart(tmp_path):
    with Cache(tmp_path / "c.sqlite3") as cache:
        full_fetch(cache, "HK.00700", synthetic_records("HK.00700", 5), source="simulator:sample")
        full_fetch(cache, "HK.00700", synthetic_records("HK.00700", 2, seed=9), source="opend:1")
        assert len(cache.rows(HK, "simulator:sample", ["HK.00700"])) == 5
        assert len(cache.rows(HK, "opend:1", ["HK.00700"])) == 2
        assert cache.state("opend:2", "HK.00700") is None
        assert cache.confirm_source("127.0.0.1:11111", "simulator:sample", 1.0) is None
        assert cache.confirm_source("127.0.0.1:11111", "opend:1", 2.0) == "simulator:sample"
        assert cache.source_at("127.0.0.1:11111") == "opend:1" and cache.source_at("h:1") is None
        assert [(s.source, s.addresses, s.codes, s.hk_records) for s in cache.summary()] == [
            ("opend:1", ("127.0.0.1:11111",), 1, 2), ("simulator:sample", (), 1, 5)]
        assert cache.clear(source="simulator:sample") == 5
        assert cache.rows(HK, "simulator:sample") == [] and len(cache.rows(HK, "opend:1")) == 2
        assert cache.clear(codes=["HK.00700"]) == 2 and cache.state("opend:1", "HK.00700") is None
        assert cache.source_at("127.0.0.1:11111") == "opend:1"  # clearing codes keeps what is known of OpenD


def test_file_is_owner_only_and_intact(tmp_path):
    path = tmp_path / "sub" / "c.sqlite3"
    with Cache(path) as cache:
        full_fetch(cache, "HK.00700", synthetic_records("HK.00700", 3))
        assert cache.integrity_ok()
        for side in ("-wal", "-shm"):  # SQLite gives its side files the database's mode
            assert stat.S_IMODE(os.stat(f"{path}{side}").st_mode) == 0o600
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(path.parent).st_mode) == 0o700


def test_readers_are_not_blocked_by_a_writer(tmp_path):
    path = tmp_path / "c.sqlite3"
    with Cache(path) as cache:
        full_fetch(cache, "HK.00700", synthetic_records("HK.00700", 3))
        with cache.transaction() as db:  # a write transaction in progress
            db.execute("UPDATE hk_records SET buy_back_money = 0")
            reader = sqlite3.connect(path, timeout=0.1)
            assert reader.execute("SELECT COUNT(*) FROM hk_records WHERE buy_back_money > 0").fetchone()[0] == 3
            reader.close()


def test_sql_is_parameterized(tmp_path):
    with Cache(tmp_path / "c.sqlite3") as cache:
        assert cache.rows(HK, SRC, ["HK.00700'; DROP TABLE hk_records; --"]) == []
        assert cache.state("x' OR '1'='1", "x' OR '1'='1") is None
        assert cache.rows(HK, "x' OR '1'='1") == []


def test_values_beyond_int64_are_refused_not_corrupted(tmp_path):
    with Cache(tmp_path / "c.sqlite3") as cache:
        with pytest.raises(OverflowError):
            full_fetch(cache, "HK.00700", [{"end_date": 2**64 - 1}])
        assert cache.rows(HK, SRC) == []



def test_opening_waits_for_another_process_holding_the_new_file(tmp_path):
    """Switching a file to WAL needs it alone, and SQLite does not wait for that: we do."""
    path = tmp_path / "c.sqlite3"
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)  # another process, mid-write
    other.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT)")
    other.execute("BEGIN IMMEDIATE")
    other.execute("INSERT INTO meta VALUES ('x', '1')")
    timer = threading.Timer(0.3, other.execute, ("COMMIT",))
    timer.start()
    try:
        with Cache(path) as cache:
            assert cache.integrity_ok()
            assert cache._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        timer.join()
        other.close()


def test_a_transaction_that_cannot_begin_does_not_keep_the_lock(tmp_path):
    """Found: the lock was taken before BEGIN IMMEDIATE; when that raised "database is locked",
    the lock stayed taken and every other thread using the Cache hung for ever."""
    path = tmp_path / "c.sqlite3"
    with Cache(path, timeout=0.1) as cache:
        other = sqlite3.connect(path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")  # another process writing for longer than our timeout
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            cache.begin_full_fetch(SRC, "HK.00700", 1.0)
        other.execute("ROLLBACK")
        other.close()
        done = []
        thread = threading.Thread(target=lambda: done.append(cache.begin_full_fetch(SRC, "HK.00700", 2.0)))
        thread.start()
        thread.join(5)
        assert done, "another thread hangs on the Cache's lock"


def test_reading_never_writes(tmp_path):
    """Found: reading the rows of some codes went through a TEMP table in a write transaction,
    so a reader got "database is locked" while another process wrote."""
    path = tmp_path / "c.sqlite3"
    with Cache(path) as cache:
        full_fetch(cache, "HK.00700", synthetic_records("HK.00700", 3))
    writer = sqlite3.connect(path, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")
    writer.execute("UPDATE hk_records SET buy_back_money = 0")
    try:
        with Cache(path, timeout=0.1) as reader:  # opening a cache of this layout writes nothing either
            rows = reader.rows(HK, SRC, ["HK.00700", "HK.00005"])
            assert len(rows) == 3 and all(row[HK.names.index("buy_back_money") + 1] > 0 for row in rows)
            assert reader.state(SRC, "HK.00700").complete
    finally:
        writer.execute("ROLLBACK")
        writer.close()


def test_read_only_opens_without_writing_anything(tmp_path):
    path = tmp_path / "c.sqlite3"
    with Cache(path) as cache:
        full_fetch(cache, "HK.00700", synthetic_records("HK.00700", 3))
        cache.confirm_source("h:1", SRC, 1.0)
    before = (path.read_bytes(), os.stat(path).st_mtime_ns)
    with Cache(path, read_only=True) as reader:
        assert len(reader.rows(HK, SRC, ["HK.00700"])) == 3 and reader.source_at("h:1") == SRC
        with pytest.raises(CacheUnusable, match="read-only"):
            reader.clear()
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            reader._db.execute("DELETE FROM hk_records")
    assert (path.read_bytes(), os.stat(path).st_mtime_ns) == before
    with pytest.raises(CacheUnusable, match="no cache at"):
        Cache(tmp_path / "missing.sqlite3", read_only=True)
    assert not (tmp_path / "missing.sqlite3").exists()


def old_layout(path):
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT)")
    db.execute("INSERT INTO meta VALUES ('schema', '1')")
    db.execute("CREATE TABLE codes (code TEXT PRIMARY KEY)")
    db.commit()
    db.close()


@pytest.mark.parametrize("kind", ["older layout", "newer layout", "not a database", "damaged"])
def test_a_cache_of_another_layout_or_a_broken_file_is_moved_aside_and_rebuilt(tmp_path, caplog, kind):
    path = tmp_path / "c.sqlite3"
    if kind == "older layout":
        old_layout(path)
    elif kind == "newer layout":
        with Cache(path) as cache:
            cache._db.execute("UPDATE meta SET value = '99' WHERE key = 'schema'")
    elif kind == "not a database":
        path.write_bytes(b"this is not SQLite\n" * 500)
    else:
        with Cache(path) as cache:
            full_fetch(cache, "HK.00700", synthetic_records("HK.00700", 30))
        data = bytearray(path.read_bytes())
        data[100:4096] = b"\xff" * (4096 - 100)  # the schema page
        path.write_bytes(bytes(data))
    original = path.read_bytes()
    with caplog.at_level(logging.WARNING, logger="futu_buybacks"):
        with Cache(path) as cache:
            assert full_fetch(cache, "HK.00700", synthetic_records("HK.00700", 2))[1].new == 2
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and f"moved it to {path}.old-1 and started a new one" in warnings[0], warnings
    assert (tmp_path / "c.sqlite3.old-1").read_bytes() == original  # moved, never deleted
    with Cache(path) as cache:
        assert len(cache.rows(HK, SRC)) == 2


def test_an_sqlite_file_of_something_else_is_refused_untouched(tmp_path):
    path = tmp_path / "prices.sqlite3"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE prices (day TEXT, close REAL)")
    db.commit()
    db.close()
    before = path.read_bytes()
    with pytest.raises(CacheUnusable, match="not a futu-buybacks cache; choose another file"):
        Cache(path)
    assert path.read_bytes() == before and not list(tmp_path.glob("*.old-*"))


MOUNTINFO = """\
22 1 8:1 / / rw,relatime - ext4 /dev/sda1 rw
40 22 0:35 / /home rw,relatime - nfs4 server:/home rw,vers=4.2
41 40 0:36 / /home/me/local rw,relatime - ext4 /dev/sdb1 rw
42 22 0:37 / /mnt/my\\040share rw - cifs //nas/share rw
"""


def test_network_file_systems_are_detected_and_get_the_rollback_journal(tmp_path, monkeypatch, caplog):
    assert file_system_of(Path("/home/me/cache.sqlite3"), MOUNTINFO) == "nfs4"
    assert file_system_of(Path("/home/me/local/cache.sqlite3"), MOUNTINFO) == "ext4"
    assert file_system_of(Path("/mnt/my share/c.sqlite3"), MOUNTINFO) == "cifs"
    assert file_system_of(Path("/var/c.sqlite3"), MOUNTINFO) == "ext4"
    monkeypatch.setattr(_cache, "file_system_of", lambda path: "nfs4")
    with caplog.at_level(logging.INFO, logger="futu_buybacks"), Cache(tmp_path / "nfs.sqlite3") as cache:
        assert cache._db.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    assert "on nfs4, a network file system: rollback journal instead of WAL" in caplog.text
    monkeypatch.setattr(_cache, "file_system_of", lambda path: "ext4")
    with Cache(tmp_path / "wal.sqlite3") as cache:
        assert cache._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    with Cache(tmp_path / "chosen.sqlite3", journal_mode="delete") as cache:
        assert cache._db.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    monkeypatch.setenv("FUTU_BUYBACKS_JOURNAL_MODE", "DELETE")
    with Cache(tmp_path / "env.sqlite3") as cache:
        assert cache._db.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    with pytest.raises(CacheUnusable, match="journal_mode must be one of wal, delete, got 'memory'"):
        Cache(tmp_path / "bad.sqlite3", journal_mode="memory")
    assert not (tmp_path / "bad.sqlite3").exists()
