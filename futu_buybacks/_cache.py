"""The on-disk store: SQLite (standard library), one row per record per code per data source.

Tables (layout ``SCHEMA_VERSION``):

- ``hk_records`` and ``a_records``: one SQL column per frame column, plus ``source``, ``code``,
  ``identity``, ``sort_key``, ``first_run`` and ``seen_run`` (the fetches that first and last
  saw the record: fetches are numbered by a counter in ``meta``, so their order does not depend
  on any clock);
- ``packs``: per source and code, every version of its records in one BLOB (``_packs.py``),
  rewritten with them: what a warm read reads;
- ``codes``: per source and code, whether a full fetch completed, where an interrupted full
  fetch or refresh resumes, when it was fully fetched and last checked;
- ``sources``: the source last confirmed at each OpenD address (``_sources.py`` says what a
  source is);
- ``universe``: per source and market (HK, SH, SZ), the codes OpenD listed (``_universe.py``),
  with name, type and listing date, ``listed_on`` (the day, UTC+8, of the last fetch that listed
  the code) and, as for records, ``first_seen`` and ``replaced_at`` (a fetch no longer listed it),
  so a read ``as_of`` a moment gets the list of that moment.

A record's identity, per market, decides what an amended record replaces:

- HK: ``end_date`` (the trading day of the buyback; ``publ_date`` if absent) and ``share_type``;
- A-share: ``advance_date`` (plan announced), ``change_date``, ``share_type`` and ``seller``.

A record whose identity fields are all absent is identified by all of its values.  Every page
is written in one transaction with the code's progress, in WAL mode (rollback journal on a
network file system, where WAL's shared memory does not work), so readers never block and a
killed process leaves a consistent file that the next run resumes.  Reading never writes: a
read-only file, or one opened with ``read_only=True``, can be read while another process
writes.  The file is created owner-only (0600) in an owner-only directory; all SQL is
parameterized, and codes are validated before they reach it.  A file of another layout, or one
that is not a database at all, is moved aside (renamed, never deleted) and a new cache is
started, with one log line; an SQLite database of something else is refused, not touched.
"""

import functools
import hashlib
import json
import logging
import math
import os
import sqlite3
import sys
import threading
import time
import urllib.parse
from pathlib import Path
from typing import Any, Dict, Iterable, Iterator, List, Mapping, NamedTuple, Optional, Sequence, Tuple, Union

import pandas as pd

from ._errors import BuybacksError
from ._packs import PackReader, pack
from ._schema import HK, SCHEMA_BY_MARKET, A, FrameSchema

SCHEMA_VERSION = "3"
#: Older layouts a writable cache is upgraded from, in place (layout 3 added the packs).
UPGRADABLE = ("2",)
_SQL_TYPES = {"int": "INTEGER", "float": "REAL", "str": "TEXT"}
IDENTITY = {HK.key: ("end_date", "share_type"), A.key: ("advance_date", "change_date", "share_type", "seller")}
_SORT = {HK.key: ("end_date", "publ_date"), A.key: ("change_date", "start_date", "advance_date")}
_TABLE = {HK.key: "hk_records", A.key: "a_records"}
_SCHEMA_BY_KEY = {HK.key: HK, A.key: A}
#: Journal modes a cache may be opened with (``journal_mode=`` / ``$FUTU_BUYBACKS_JOURNAL_MODE``).
JOURNAL_MODES = ("wal", "delete")
#: File systems (Linux ``/proc/self/mountinfo`` types) on which WAL is not safe: no shared memory
#: between hosts, so the cache uses the rollback journal there.
NETWORK_FILE_SYSTEMS = ("nfs", "nfs4", "cifs", "smb3", "smbfs", "9p", "afs", "ceph", "glusterfs", "lustre",
                        "gpfs", "davfs", "fuse.sshfs", "fuse.glusterfs", "fuse.s3fs", "fuse.rclone")
log = logging.getLogger("futu_buybacks")
NOT_OURS = "is an SQLite database of something else, not a futu-buybacks cache"


class CacheUnusable(BuybacksError):
    """The cache file cannot be used as asked (missing or of another layout, opened read-only)."""
#: Rows :meth:`Cache.row_chunks` holds as Python objects at a time.
ROWS_PER_CHUNK = 1024


def default_cache_path() -> Path:
    """The per-user cache file: ``$FUTU_BUYBACKS_CACHE``, else the platform's cache directory."""
    override = os.environ.get("FUTU_BUYBACKS_CACHE")
    if override:
        return Path(override)
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA", Path.home() / "AppData" / "Local"))
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Caches"
    else:
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "futu-buybacks" / "buybacks.sqlite3"


class CodeState(NamedTuple):
    source: str
    code: str
    complete: bool             # a full fetch reached the last page
    resume_key: Optional[str]  # next page of an unfinished full fetch
    full_run: Optional[int]    # the number of the last full fetch started
    full_started: Optional[float]
    full_at: Optional[float]   # start time of the last completed full fetch
    checked_at: Optional[float]
    refresh_run: Optional[int]   # the number of an unfinished refresh (None: none)
    refresh_key: Optional[str]   # the next page of that refresh (None: its first)


class Fetch(NamedTuple):
    """One fetch of one code, as its pages are stored: a full fetch or a refresh of the newest.

    ``run`` is its number, from a counter in the file; ``started_at`` a full fetch's start.
    """

    source: str
    code: str
    run: int
    full: bool
    started_at: Optional[float] = None


class Stored(NamedTuple):
    """What :meth:`Cache.store_page` did with one page."""

    new: int    # records the cache did not have before this fetch began
    known: int  # records it had before this fetch began (an amended one counts as known)


class CodeActivity(NamedTuple):
    """What the cache knows of one code of a source that a refresh schedules by (``_schedule.py``).

    Dates are record dates as stored (Unix seconds of the market's midnight); ``newest`` is the
    sort key of the code's newest current record (``_sort_key``: HK its trade day, A-share its
    share change date, else its period start, else its plan's announcement).
    """

    code: str
    complete: bool              # a full fetch reached the last page
    unfinished: bool            # no full fetch completed, or a refresh stopped before its end
    checked_at: Optional[float]
    newest: Optional[int]       # None: no record
    recent: int                 # current records dated on or after the ``since`` asked for
    stage: Optional[str]        # A-share: ``event_proce_desc`` of the newest record
    plan_end: Optional[int]     # A-share: that record's ``end_date`` (its plan period's end)


class SourceSummary(NamedTuple):
    source: str
    addresses: Tuple[str, ...]  # OpenD addresses where it was last confirmed
    codes: int
    hk_records: int
    a_records: int
    last_checked: Optional[float]


def _clean(value: Any) -> Any:
    """NaN (an unset field in the vendor's frames) becomes NULL; numpy scalars become Python."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return value.item() if hasattr(value, "item") else value


def clean_record(schema: FrameSchema, record: Mapping[str, Any]) -> dict:
    """The record as stored: every column of the schema, NULL for unset, ints as ``int``."""
    clean = {n: _clean(record.get(n)) for n in schema.names}
    for column in schema.columns:
        if column.kind == "int" and clean[column.name] is not None:
            clean[column.name] = int(clean[column.name])
    return clean


def record_identity(schema: FrameSchema, record: Mapping[str, Any]) -> str:
    fields = IDENTITY[schema.key]
    values = [record.get(name) for name in fields]
    if schema is HK and values[0] is None:
        publ_date = record.get("publ_date")
        values[0] = None if publ_date is None else f"p{publ_date}"
    if all(v is None for v in values):
        whole = json.dumps([record.get(c) for c in schema.names], ensure_ascii=False, default=str)
        return "#" + hashlib.sha1(whole.encode()).hexdigest()
    return json.dumps(values, ensure_ascii=False)


def _sort_key(schema: FrameSchema, record: Mapping[str, Any]) -> Optional[int]:
    for name in _SORT[schema.key]:
        if record.get(name) is not None:
            return int(record[name])
    return None


class Cache:
    """One SQLite file (or ``":memory:"``) holding records and per-code progress, per source.

    - ``read_only``: open an existing cache without ever writing to it (what ``offline`` loads
      and ``cache info`` do); works on a file without write permission.
    - ``journal_mode``: ``"wal"`` or ``"delete"``; by default ``$FUTU_BUYBACKS_JOURNAL_MODE``,
      else WAL except on a network file system (NFS, SMB, ...), where WAL is not safe.
    - ``timeout``: seconds to wait for another process's write transaction.
    """

    def __init__(self, path: Union[str, Path] = ":memory:", *, read_only: bool = False,
                 journal_mode: Optional[str] = None, timeout: float = 60.0):
        self.path = str(path)
        self.read_only = read_only
        self._lock = threading.RLock()
        if read_only:
            self._db = _open_read_only(self.path, timeout)
            problem = _layout_problem(self._db)
            if problem is not None:
                upgradable = _upgradable(self._db)
                self._db.close()
                if upgradable:
                    raise CacheUnusable(f"cache {self.path} {problem}: a load that connects (or any writable "
                                        "open) upgrades it in place, then it can be read offline")
                raise CacheUnusable(f"cache {self.path} {problem}: nothing to read offline (a load that "
                                    "connects starts a new one)")
            return
        mode = _journal_mode(Path(self.path), journal_mode) if self.path != ":memory:" else None
        if mode is not None:
            _create_private(Path(self.path))
        self._db = self._connect(timeout)
        with self._lock:
            problem = self._layout_problem()
            if problem == NOT_OURS:
                self._db.close()
                raise CacheUnusable(f"{self.path} {problem}; choose another file for the cache")
            if problem is not None and _upgradable(self._db):
                with self.transaction() as db:
                    count = _upgrade(db)
                log.warning("futu_buybacks: cache %s %s; upgraded it in place (%d codes)", self.path, problem, count)
                problem = None
            if problem is not None and problem != "is empty":
                self._db.close()
                aside = _move_aside(Path(self.path))
                log.warning("futu_buybacks: cache %s %s; moved it to %s and started a new one", self.path,
                            problem, aside)
                _create_private(Path(self.path))
                self._db = self._connect(timeout)
                problem = "is empty"
            if mode is not None:
                _set_journal_mode(self._db, mode, patience=timeout)
            self._db.execute("PRAGMA synchronous = NORMAL")
            if problem is not None:
                self._create_tables()

    def _connect(self, timeout: float) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=timeout, isolation_level=None, check_same_thread=False)
        db.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
        return db

    def _layout_problem(self) -> Optional[str]:
        """What :func:`_layout_problem` says, with a file SQLite cannot read called damaged."""
        try:
            return _layout_problem(self._db)
        except sqlite3.DatabaseError as exc:
            if isinstance(exc, sqlite3.OperationalError):  # locked, I/O: not the file's content
                raise
            return f"is not a database or is damaged ({exc})"

    def _create_tables(self) -> None:
        with self.transaction() as db:
            db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)")
            db.execute("INSERT OR IGNORE INTO meta VALUES ('schema', ?)", (SCHEMA_VERSION,))
            db.execute("INSERT OR IGNORE INTO meta VALUES ('last_run', 0)")
            db.execute("CREATE TABLE IF NOT EXISTS sources (address TEXT PRIMARY KEY, source TEXT NOT NULL, "
                       "confirmed_at REAL NOT NULL)")
            db.execute("""CREATE TABLE IF NOT EXISTS codes (
                source TEXT NOT NULL, code TEXT NOT NULL, complete INTEGER NOT NULL DEFAULT 0, resume_key TEXT,
                full_run INTEGER, full_started REAL, full_at REAL, checked_at REAL, refresh_run INTEGER,
                refresh_key TEXT, PRIMARY KEY (source, code))""")
            db.execute("""CREATE TABLE IF NOT EXISTS universe (
                source TEXT NOT NULL, market TEXT NOT NULL, code TEXT NOT NULL, name TEXT, stock_type TEXT,
                listing_date TEXT, listed_on TEXT NOT NULL, first_seen REAL NOT NULL, replaced_at REAL,
                PRIMARY KEY (source, market, code, first_seen))""")
            for schema in (HK, A):
                columns = ", ".join(f"{c.name} {_SQL_TYPES[c.kind]}" for c in schema.columns)
                db.execute(f"""CREATE TABLE IF NOT EXISTS {_TABLE[schema.key]} (
                    source TEXT NOT NULL, code TEXT NOT NULL, identity TEXT NOT NULL, version INTEGER NOT NULL,
                    sort_key INTEGER, first_run INTEGER NOT NULL, seen_run INTEGER NOT NULL,
                    first_seen REAL NOT NULL, last_seen REAL NOT NULL, replaced_at REAL, {columns},
                    PRIMARY KEY (source, code, identity, version))""")
                # What a read walks, so it needs no sort: per source and code, newest first.
                db.execute(f"CREATE INDEX IF NOT EXISTS {_TABLE[schema.key]}_newest "
                           f"ON {_TABLE[schema.key]} (source, code, sort_key DESC, identity)")
            _create_packs(db)

    def transaction(self) -> "_Transaction":
        if self.read_only:
            raise CacheUnusable(f"cache {self.path} is open read-only")
        return _Transaction(self)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> "Cache":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # ---- sources ------------------------------------------------------------------------------
    def confirm_source(self, address: str, source: str, now: float) -> Optional[str]:
        """Record that ``address`` serves ``source``; returns the source it served before if another."""
        with self.transaction() as db:
            row = db.execute("SELECT source FROM sources WHERE address = ?", (address,)).fetchone()
            db.execute("INSERT INTO sources VALUES (?, ?, ?) ON CONFLICT(address) DO UPDATE SET "
                       "source = excluded.source, confirmed_at = excluded.confirmed_at", (address, source, now))
        return row[0] if row is not None and row[0] != source else None

    def source_at(self, address: str) -> Optional[str]:
        """The source last confirmed at ``address`` (None if no load ever connected there)."""
        with self._lock:
            row = self._db.execute("SELECT source FROM sources WHERE address = ?", (address,)).fetchone()
        return None if row is None else row[0]

    def summary(self) -> List[SourceSummary]:
        """Per source: where it was confirmed, its codes, records and last check."""
        with self._lock:
            db = self._db
            names = sorted({row[0] for row in db.execute(
                "SELECT source FROM codes UNION SELECT source FROM sources UNION "
                "SELECT source FROM hk_records UNION SELECT source FROM a_records")})
            out = []
            for name in names:
                addresses = tuple(row[0] for row in db.execute(
                    "SELECT address FROM sources WHERE source = ? ORDER BY address", (name,)))
                codes, last = db.execute("SELECT COUNT(*), MAX(checked_at) FROM codes WHERE source = ?",
                                         (name,)).fetchone()
                hk, a = (db.execute(f"SELECT COUNT(*) FROM {_TABLE[s.key]} WHERE source = ? AND replaced_at IS NULL",
                                    (name,)).fetchone()[0]
                         for s in (HK, A))
                out.append(SourceSummary(name, addresses, codes, hk, a, last))
        return out

    def clear(self, source: Optional[str] = None, codes: Sequence[str] = ()) -> int:
        """Forget the records and progress of ``codes`` (all if empty) of ``source`` (all if None).

        Returns the number of records removed.  Clearing a whole source also forgets where it
        was confirmed, so the next load identifies its OpenD afresh, and the markets it listed.
        """
        where, params = [], []
        if source is not None:
            where.append("source = ?")
            params.append(source)
        if codes:
            where.append("code IN (SELECT value FROM json_each(?))")
            params.append(json.dumps(list(codes)))
        clause = (" WHERE " + " AND ".join(where)) if where else ""
        removed = 0
        with self.transaction() as db:
            for schema in (HK, A):
                removed += db.execute(f"DELETE FROM {_TABLE[schema.key]}{clause}", params).rowcount
            for table in ("packs", "codes"):
                db.execute(f"DELETE FROM {table}{clause}", params)
            if not codes:
                for table in ("sources", "universe"):
                    db.execute(f"DELETE FROM {table}" + (" WHERE source = ?" if source is not None else ""),
                               [source] if source is not None else [])
        return removed

    # ---- universes ----------------------------------------------------------------------------
    def store_universe(self, source: str, market: str, listed: Sequence[Any], *, day: str, now: float) -> None:
        """Store the codes OpenD lists in ``market`` (``_universe.Listed``: code, name, stock_type,
        listing_date), fetched on ``day`` at ``now``, in one transaction.

        A code listed before keeps its row (name, type and listing date updated, ``listed_on`` set
        to ``day``); a new one gets a row first seen ``now``; one no longer listed is closed
        (``replaced_at = now``), so :meth:`universe` with ``as_of`` still returns it before then.
        """
        entries = {entry.code: entry for entry in listed}
        with self.transaction() as db:
            current: Dict[str, float] = dict(db.execute(
                "SELECT code, first_seen FROM universe WHERE source = ? AND market = ? AND replaced_at IS NULL",
                (source, market)).fetchall())
            gone = [(now, source, market, code, first) for code, first in current.items() if code not in entries]
            db.executemany("UPDATE universe SET replaced_at = ? WHERE source = ? AND market = ? AND code = ? "
                           "AND first_seen = ?", gone)
            db.executemany("INSERT INTO universe VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL) "
                           "ON CONFLICT (source, market, code, first_seen) DO UPDATE SET name = excluded.name, "
                           "stock_type = excluded.stock_type, listing_date = excluded.listing_date, "
                           "listed_on = excluded.listed_on, replaced_at = NULL",
                           [(source, market, e.code, e.name, e.stock_type, e.listing_date, day,
                             current.get(e.code, now)) for e in entries.values()])

    def universe(self, source: str, market: str, *, as_of: Optional[float] = None
                 ) -> Optional[Tuple[Optional[str], List[str]]]:
        """``(listed_on, codes)``: the codes of ``market`` last listed by ``source``, sorted, and the day
        of that list; with ``as_of`` (Unix seconds) the codes listed at that moment (and None for
        the day).  None if nothing is cached."""
        if as_of is None:
            when, params = "replaced_at IS NULL", ()
        else:
            when, params = "first_seen <= ? AND (replaced_at IS NULL OR replaced_at > ?)", (as_of, as_of)
        with self._lock:
            rows = self._db.execute(f"SELECT code, listed_on FROM universe WHERE source = ? AND market = ? AND {when} "
                                    "ORDER BY code", (source, market, *params)).fetchall()
        if not rows:
            return None
        return (max(day for _, day in rows) if as_of is None else None), [code for code, _ in rows]

    # ---- per-code progress ------------------------------------------------------------------
    def state(self, source: str, code: str) -> Optional[CodeState]:
        with self._lock:
            row = self._db.execute("SELECT source, code, complete, resume_key, full_run, full_started, full_at, "
                                   "checked_at, refresh_run, refresh_key FROM codes WHERE source = ? AND code = ?",
                                   (source, code)).fetchone()
        return None if row is None else CodeState(row[0], row[1], bool(row[2]), *row[3:])

    def activity(self, source: str, codes: Sequence[str], *, since: float) -> Dict[str, CodeActivity]:
        """Per code of ``codes`` in the cache (never fetched: absent), what a refresh schedules by,
        counting records dated on or after ``since`` as recent.  One query per record table, each
        code's rows walked newest first by the index (8,000 codes: tens of milliseconds)."""
        wanted = json.dumps(list(codes))
        out: Dict[str, CodeActivity] = {}
        with self._lock:
            for schema, markets in ((HK, ("HK",)), (A, ("SH", "SZ"))):
                table = _TABLE[schema.key]
                plan = "r.event_proce_desc, r.end_date" if schema is A else "NULL, NULL"
                newest = (f"SELECT json_array(r.sort_key, {plan}) FROM {table} r WHERE r.source = c.source "
                          "AND r.code = c.code AND r.replaced_at IS NULL ORDER BY r.sort_key DESC, r.identity LIMIT 1")
                recent = (f"SELECT COUNT(*) FROM {table} r WHERE r.source = c.source AND r.code = c.code "
                          "AND r.sort_key >= ? AND r.replaced_at IS NULL")
                rows = self._db.execute(
                    f"SELECT c.code, c.complete, c.refresh_run IS NOT NULL, c.checked_at, "
                    f"({newest}), ({recent}) FROM codes c WHERE c.source = ? AND substr(c.code, 1, 2) IN "
                    f"({', '.join('?' * len(markets))}) AND c.code IN (SELECT value FROM json_each(?))",
                    (since, source, *markets, wanted))
                for code, complete, unfinished, checked_at, latest, count in rows:
                    sort_key, stage, plan_end = json.loads(latest) if latest is not None else (None, None, None)
                    out[code] = CodeActivity(code, bool(complete), bool(unfinished) or not complete, checked_at,
                                             sort_key, count, stage, plan_end)
        return out

    def begin_full_fetch(self, source: str, code: str, now: float) -> Fetch:
        """Number a new full fetch of ``code``: the code's fetch to resume if it is interrupted
        (also a refetch of a complete code, so the next load finishes it and drops what the
        server no longer has)."""
        with self.transaction() as db:
            run = _next_run(db)
            db.execute("INSERT INTO codes (source, code, complete, resume_key, full_run, full_started) "
                       "VALUES (?, ?, 0, NULL, ?, ?) ON CONFLICT(source, code) DO UPDATE SET complete = 0, "
                       "resume_key = NULL, full_run = excluded.full_run, full_started = excluded.full_started, "
                       "refresh_run = NULL, refresh_key = NULL", (source, code, run, now))
        return Fetch(source, code, run, True, now)

    def begin_refresh(self, source: str, code: str) -> Fetch:
        """Number a refresh of the newest pages of a code whose full fetch completed."""
        with self.transaction() as db:
            run = _next_run(db)
            db.execute("UPDATE codes SET refresh_run = ?, refresh_key = NULL WHERE source = ? AND code = ?",
                       (run, source, code))
        return Fetch(source, code, run, False)

    @staticmethod
    def resumed_fetch(state: CodeState) -> Fetch:
        """The interrupted fetch of ``state``: its full fetch if that did not complete, else its
        refresh; go on from ``state.resume_key`` or ``state.refresh_key``."""
        if not state.complete:
            return Fetch(state.source, state.code, state.full_run, True, state.full_started)
        return Fetch(state.source, state.code, state.refresh_run, False)

    def store_page(self, fetch: Fetch, records: Sequence[Mapping[str, Any]], *, next_key: str,
                   now: float) -> Stored:
        """Store one page's records and the code's progress in one transaction.

        Versions: a record the cache holds with the same values is marked seen (``seen_run``,
        ``last_seen``); one whose values changed (an amended record) closes its current version
        (``replaced_at = now``) and gets a new one; a new record gets its first version.  Old
        versions are kept, so :meth:`rows` with ``as_of`` returns what a read at that time did.

        The last page of a full fetch closes the code's current versions that no fetch since its
        start has seen (``seen_run`` below its number): the server no longer has them.  Fetch
        numbers come from the file, so neither a clock stepping back nor another host's clock,
        nor a second process starting a full fetch of the same code, closes records just fetched.
        A record is *known* to this fetch if an earlier fetch first stored it, so a refresh
        interrupted after its first pages, or started again, still goes on past them.
        """
        schema = SCHEMA_BY_MARKET[fetch.code[:2]]
        table = _TABLE[schema.key]
        names = schema.names
        page = {}
        for record in records:
            clean = clean_record(schema, record)
            page[record_identity(schema, clean)] = (_sort_key(schema, clean), tuple(clean[n] for n in names))
        key = (fetch.source, fetch.code)
        identities = json.dumps(list(page))
        with self.transaction() as db:
            history = {row[0]: row[1:] for row in db.execute(
                f"SELECT identity, MAX(version), MIN(first_run) FROM {table} WHERE source = ? AND code = ? "
                "AND identity IN (SELECT value FROM json_each(?)) GROUP BY identity", (*key, identities))}
            known = sum(1 for _, first_run in history.values() if first_run < fetch.run)
            current = {row[0]: (row[1], row[2], row[3:]) for row in db.execute(
                f"SELECT identity, version, seen_run, {', '.join(names)} FROM {table} WHERE source = ? AND code = ? "
                "AND replaced_at IS NULL AND identity IN (SELECT value FROM json_each(?))", (*key, identities))}
            seen, replaced, inserted = [], [], []
            for identity, (sort_key, values) in page.items():
                version, seen_run, stored = current.get(identity, (None, fetch.run, None))
                if stored == values:
                    seen.append((fetch.run, now, sort_key, *key, identity, version))
                    continue
                if version is not None:
                    replaced.append((now, *key, identity, version))
                number = history[identity][0] + 1 if identity in history else 1
                inserted.append((*key, identity, number, sort_key, fetch.run, max(seen_run, fetch.run), now, now,
                                 *values))
            # MAX (here and for a new version): a fetch numbered before another may store a page
            # after it; the closing step below must still count the row as seen by the newer one.
            db.executemany(f"UPDATE {table} SET seen_run = MAX(seen_run, ?), last_seen = ?, sort_key = ? "
                           "WHERE source = ? AND code = ? AND identity = ? AND version = ?", seen)
            db.executemany(f"UPDATE {table} SET replaced_at = ? "
                           "WHERE source = ? AND code = ? AND identity = ? AND version = ?", replaced)
            db.executemany(f"INSERT INTO {table} (source, code, identity, version, sort_key, first_run, seen_run, "
                           f"first_seen, last_seen, {', '.join(names)}) VALUES "
                           f"({', '.join('?' * (len(names) + 9))})", inserted)
            if fetch.full and next_key != "-1":
                db.execute("UPDATE codes SET resume_key = ?, checked_at = ? WHERE source = ? AND code = ?",
                           (next_key, now, *key))
            elif fetch.full:
                # A completed full fetch makes the cache equal to the server: close what it did not see.
                db.execute(f"UPDATE {table} SET replaced_at = ? WHERE source = ? AND code = ? "
                           "AND replaced_at IS NULL AND seen_run < ?", (now, *key, fetch.run))
                db.execute("UPDATE codes SET complete = 1, resume_key = NULL, full_at = ?, checked_at = ? "
                           "WHERE source = ? AND code = ?", (fetch.started_at, now, *key))
            elif known or next_key == "-1":  # the refresh reached what was cached before it: done
                db.execute("UPDATE codes SET checked_at = ?, refresh_run = NULL, refresh_key = NULL "
                           "WHERE source = ? AND code = ?", (now, *key))
            else:
                db.execute("UPDATE codes SET refresh_key = ? WHERE source = ? AND code = ?", (next_key, *key))
            _repack(db, schema, *key)
        return Stored(len(page) - known, known)

    # ---- reading ----------------------------------------------------------------------------
    def rows(self, schema: FrameSchema, source: str, codes: Optional[Iterable[str]] = None, *,
             as_of: Optional[float] = None) -> List[Tuple[Any, ...]]:
        """``(code, *columns, first_seen)`` rows of ``source``, codes in the order given (all codes
        sorted if None), newest first: the current version of each record, or with ``as_of``
        (Unix seconds) the versions a read at that moment returned."""
        return [row for chunk in self.row_chunks(schema, source, codes, as_of=as_of) for row in chunk]

    def frame(self, schema: FrameSchema, source: str, codes: Optional[Iterable[str]] = None, *,
              as_of: Optional[float] = None) -> pd.DataFrame:
        """The tidy frame (``_tidy``) of :meth:`rows`, read from the codes' packs (``_packs``):
        no Python object per value, and one snapshot of the file."""
        markets = [m for m, s in SCHEMA_BY_MARKET.items() if s is schema]
        if codes is None:
            which, params = f"substr(code, 1, 2) IN ({', '.join('?' * len(markets))})", markets
        else:
            codes = [code for code in dict.fromkeys(codes) if code[:2] in markets]
            which, params = "code IN (SELECT value FROM json_each(?))", [json.dumps(codes)]
        with self._lock:
            self._db.execute("BEGIN")
            try:
                capacity, = self._db.execute(f"SELECT TOTAL(rows) FROM packs WHERE source = ? AND {which}",
                                             (source, *params)).fetchone()
                reader = PackReader(schema, as_of, int(capacity))
                if codes is None:
                    for code, data in self._db.execute(f"SELECT code, data FROM packs WHERE source = ? AND {which} "
                                                       "ORDER BY code", (source, *params)):
                        reader.add(code, data)
                for code in codes or ():  # in the order asked: one lookup each
                    row = self._db.execute("SELECT data FROM packs WHERE source = ? AND code = ?",
                                           (source, code)).fetchone()
                    if row is not None:
                        reader.add(code, row[0])
            finally:
                self._db.execute("COMMIT")
        return reader.frame()

    def row_chunks(self, schema: FrameSchema, source: str, codes: Optional[Iterable[str]] = None, *,
                   as_of: Optional[float] = None, size: int = ROWS_PER_CHUNK) -> Iterator[List[Tuple[Any, ...]]]:
        """:meth:`rows` in lists of at most ``size`` rows, read from SQLite as they are consumed.

        One SELECT, so one snapshot of the file, and nothing written to read it.  It holds the
        cache's own lock until it is exhausted or closed: consume it in one thread.
        """
        with self._lock:
            if codes is None:
                cursor = self._select(schema, source, None, as_of)
                try:  # yield from: no reference here to a chunk while the next one is read
                    yield from iter(lambda: cursor.fetchmany(size), [])
                finally:
                    cursor.close()
                return
            # One code at a time, each walked by the index newest first (codes in the order asked
            # would need a sort of every row), all in one read transaction: one snapshot.
            self._db.execute("BEGIN")
            try:
                chunk: List[Tuple[Any, ...]] = []
                for code in dict.fromkeys(codes):
                    cursor = self._select(schema, source, [code], as_of)
                    while True:
                        rows = cursor.fetchmany(size - len(chunk))
                        if not rows:
                            break
                        chunk += rows
                        if len(chunk) == size:
                            yield chunk
                            chunk = []
                if chunk:
                    yield chunk
            finally:
                self._db.execute("COMMIT")

    def _select(self, schema: FrameSchema, source: str, codes: Optional[Sequence[str]],
                as_of: Optional[float]) -> sqlite3.Cursor:
        """Every code of ``source`` (``codes`` None) or one (``[code]``), newest first."""
        sql = _select_sql(schema.key, one_code=codes is not None, as_of=as_of is not None)
        params = (source, *(codes or ()), *(() if as_of is None else (as_of, as_of)))
        return self._db.execute(sql, params)

    def integrity_ok(self) -> bool:
        with self._lock:
            return self._db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


@functools.cache
def _select_sql(market: str, *, one_code: bool, as_of: bool) -> str:
    """The SELECT of :meth:`Cache._select` (``market``: a schema's key), written once per shape:
    a warm read of thousands of codes runs it once per code and market."""
    columns = ", ".join(f"r.{n}" for n in _SCHEMA_BY_KEY[market].names)
    when = "r.first_seen <= ? AND (r.replaced_at IS NULL OR r.replaced_at > ?)" if as_of else "r.replaced_at IS NULL"
    code, order = ("AND r.code = ? ", "r.sort_key DESC") if one_code else ("", "r.code, r.sort_key DESC")
    return (f"SELECT r.code, {columns}, r.first_seen FROM {_TABLE[market]} r "
            f"WHERE r.source = ? {code}AND {when} ORDER BY {order}, r.identity")


class _Transaction:
    """``BEGIN IMMEDIATE`` ... ``COMMIT`` (``ROLLBACK`` on an exception), one thread at a time."""

    def __init__(self, cache: Cache):
        self.cache = cache

    def __enter__(self) -> sqlite3.Connection:
        self.cache._lock.acquire()
        try:
            self.cache._db.execute("BEGIN IMMEDIATE")
        except BaseException:  # "database is locked" after the timeout: the next caller must not hang
            self.cache._lock.release()
            raise
        return self.cache._db

    def __exit__(self, exc_type: Any, *rest: Any) -> None:
        try:
            self.cache._db.execute("ROLLBACK" if exc_type else "COMMIT")
        finally:
            self.cache._lock.release()


def _create_packs(db: sqlite3.Connection) -> None:
    """``packs``: per source and code, its pack (``_packs``) and the pack's row count (``rows``),
    which a read sums first so that it allocates each column once."""
    db.execute("CREATE TABLE IF NOT EXISTS packs (source TEXT NOT NULL, code TEXT NOT NULL, rows INTEGER NOT NULL, "
               "data BLOB NOT NULL, PRIMARY KEY (source, code))")


def _repack(db: sqlite3.Connection, schema: FrameSchema, source: str, code: str) -> None:
    """Rewrite the pack of ``code`` from its rows: every version, in the order reads return them
    (a read's versions have distinct identities, so the order of one identity's versions does not
    matter; the index gives this one without a sort)."""
    rows = db.execute(f"SELECT {', '.join(schema.names)}, first_seen, replaced_at FROM {_TABLE[schema.key]} "
                      "WHERE source = ? AND code = ? ORDER BY sort_key DESC, identity",
                      (source, code)).fetchall()
    if rows:
        db.execute("INSERT OR REPLACE INTO packs VALUES (?, ?, ?, ?)", (source, code, len(rows), pack(schema, rows)))
    else:
        db.execute("DELETE FROM packs WHERE source = ? AND code = ?", (source, code))


def _upgradable(db: sqlite3.Connection) -> Optional[str]:
    """The layout of a cache this version upgrades in place (``UPGRADABLE``), else None."""
    try:
        row = db.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
    except sqlite3.DatabaseError:  # no meta table, or not a database
        return None
    return row[0] if row is not None and row[0] in UPGRADABLE else None


def _upgrade(db: sqlite3.Connection) -> int:
    """Layout 2 to 3 (in a write transaction): the packs of every cached code; returns their
    number (0 if another process upgraded the file first)."""
    if _upgradable(db) is None:
        return 0
    _create_packs(db)
    count = 0
    for schema in (HK, A):
        for source, code in db.execute(f"SELECT DISTINCT source, code FROM {_TABLE[schema.key]}").fetchall():
            _repack(db, schema, source, code)
            count += 1
    db.execute("UPDATE meta SET value = ? WHERE key = 'schema'", (SCHEMA_VERSION,))
    return count


def _next_run(db: sqlite3.Connection) -> int:
    db.execute("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'last_run'")
    return int(db.execute("SELECT value FROM meta WHERE key = 'last_run'").fetchone()[0])


def _layout_problem(db: sqlite3.Connection) -> Optional[str]:
    """None for a cache of this layout; "is empty" for a new file; else what is wrong with it."""
    tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if not tables:
        return "is empty"
    if "meta" not in tables:
        return NOT_OURS
    row = db.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
    if row is None:  # another process is creating it: its transaction has made meta, not yet the row
        return "is empty"
    if row[0] != SCHEMA_VERSION:
        return f"has layout {row[0]} (this version uses {SCHEMA_VERSION})"
    return None


def _move_aside(path: Path) -> Path:
    """Rename the file (and its WAL side files) to a free ``NAME.old-N`` name; returns it."""
    for number in range(1, 10_000):
        aside = path.with_name(f"{path.name}.old-{number}")
        if not aside.exists():
            break
    for side in ("-wal", "-shm"):
        if Path(f"{path}{side}").exists():
            os.replace(f"{path}{side}", f"{aside}{side}")
    os.replace(path, aside)
    return aside


def _open_read_only(path: str, timeout: float) -> sqlite3.Connection:
    if path == ":memory:" or not Path(path).is_file():
        raise CacheUnusable(f"no cache at {path}")
    uri = "file:" + urllib.parse.quote(os.path.abspath(path))
    try:
        db = sqlite3.connect(uri + "?mode=ro", uri=True, timeout=timeout, check_same_thread=False)
        db.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
    except sqlite3.OperationalError:
        # A WAL file whose directory we may not write (no -shm can be made): nobody writes it either.
        db = sqlite3.connect(uri + "?immutable=1", uri=True, timeout=timeout, check_same_thread=False)
    except sqlite3.DatabaseError as exc:
        raise CacheUnusable(f"cache {path} is not a database ({exc})") from None
    try:
        db.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
    except sqlite3.DatabaseError as exc:
        db.close()
        raise CacheUnusable(f"cache {path} cannot be read ({exc})") from None
    return db


def _journal_mode(path: Path, asked: Optional[str]) -> str:
    mode = (asked or os.environ.get("FUTU_BUYBACKS_JOURNAL_MODE") or "").lower()
    if mode:
        if mode not in JOURNAL_MODES:
            raise CacheUnusable(f"journal_mode must be one of {', '.join(JOURNAL_MODES)}, got {mode!r}")
        return mode
    fs = file_system_of(path)
    if fs in NETWORK_FILE_SYSTEMS:
        log.info("futu_buybacks: cache %s is on %s, a network file system: rollback journal instead of WAL",
                 path, fs)
        return "delete"
    return "wal"


def file_system_of(path: Path, mountinfo: Optional[str] = None) -> Optional[str]:
    """The type of the file system ``path`` is on (Linux; None elsewhere or if unknown)."""
    if mountinfo is None:
        try:
            mountinfo = Path("/proc/self/mountinfo").read_text()
        except OSError:
            return None
    target = os.path.realpath(path)
    best, kind = "", None
    for line in mountinfo.splitlines():
        fields = line.split()
        if " - " not in line or len(fields) < 5:
            continue
        point = fields[4].replace("\\040", " ")
        if (target == point or target.startswith(point.rstrip("/") + "/")) and len(point) >= len(best):
            best, kind = point, line.split(" - ", 1)[1].split()[0]
    return kind


def _set_journal_mode(db: sqlite3.Connection, mode: str, patience: float = 60.0) -> None:
    """Switch the file's journal mode (stored in the file for WAL).

    The switch needs the file to itself and SQLite does not wait for that (no busy handler),
    so two processes opening a new cache together retry here instead of failing.
    """
    deadline = time.monotonic() + patience
    while db.execute("PRAGMA journal_mode").fetchone()[0].lower() != mode:
        try:
            db.execute(f"PRAGMA journal_mode = {mode}")
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def _create_private(path: Path) -> None:
    """Create the directory (0700) and file (0600) before SQLite opens it."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    if not path.exists():
        os.close(os.open(path, os.O_CREAT | os.O_RDWR, 0o600))


def now() -> float:
    return time.time()
