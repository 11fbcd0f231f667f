"""The on-disk store: SQLite (standard library), one row per record per code.

Tables: ``hk_records`` and ``a_records`` (one SQL column per frame column, plus ``code``,
``identity``, ``sort_key``, ``fetched_at``) and ``codes`` (per code: whether a full fetch
completed, where an interrupted one resumes, when it was fully fetched and last checked).

A record's identity, per market, decides what an amended record replaces:

- HK: ``end_date`` (the trading day of the buyback; ``publ_date`` if absent) and ``share_type``;
- A-share: ``advance_date`` (plan announced), ``change_date``, ``share_type`` and ``seller``.

A record whose identity fields are all absent is identified by all of its values.  Every page
is written in one transaction with the code's progress, in WAL mode, so readers never block
and a killed process leaves a consistent file that the next run resumes.  The file is created
owner-only (0600) in an owner-only directory; all SQL is parameterized, and codes are
validated before they reach it.
"""

import hashlib
import json
import math
import os
import sqlite3
import sys
import threading
import time
from pathlib import Path
from typing import Any, Iterable, Iterator, List, Mapping, NamedTuple, Optional, Sequence, Tuple, Union

from ._schema import HK, SCHEMA_BY_MARKET, A, FrameSchema

SCHEMA_VERSION = "1"
_SQL_TYPES = {"int": "INTEGER", "float": "REAL", "str": "TEXT"}
IDENTITY = {HK.key: ("end_date", "share_type"), A.key: ("advance_date", "change_date", "share_type", "seller")}
_SORT = {HK.key: ("end_date", "publ_date"), A.key: ("change_date", "start_date", "advance_date")}
_TABLE = {HK.key: "hk_records", A.key: "a_records"}
#: Rows a warm read holds as Python objects at a time (see ``Cache.row_chunks``).
ROWS_PER_CHUNK = 2048


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
    code: str
    complete: bool          # a full fetch reached the last page
    resume_key: Optional[str]  # next page of an unfinished full fetch
    full_started: Optional[float]
    full_at: Optional[float]   # start time of the last completed full fetch
    checked_at: Optional[float]


def _clean(value: Any) -> Any:
    """NaN (an unset field in the vendor's frames) becomes NULL; numpy scalars become Python."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return value.item() if hasattr(value, "item") else value


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
    """One SQLite file (or ``":memory:"``) holding records and per-code progress."""

    def __init__(self, path: Union[str, Path] = ":memory:"):
        self.path = str(path)
        if self.path != ":memory:":
            _create_private(Path(self.path))
        self._db = sqlite3.connect(self.path, timeout=60, isolation_level=None, check_same_thread=False)
        self._lock = threading.RLock()
        with self._lock:
            self._db.execute("PRAGMA busy_timeout = 60000")
            if self.path != ":memory:":
                _use_wal(self._db)
            self._db.execute("PRAGMA synchronous = NORMAL")
            self._create_tables()

    def _create_tables(self) -> None:
        with self.transaction() as db:
            db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)")
            db.execute("INSERT OR IGNORE INTO meta VALUES ('schema', ?)", (SCHEMA_VERSION,))
            db.execute("""CREATE TABLE IF NOT EXISTS codes (
                code TEXT PRIMARY KEY, complete INTEGER NOT NULL DEFAULT 0, resume_key TEXT,
                full_started REAL, full_at REAL, checked_at REAL)""")
            for schema in (HK, A):
                columns = ", ".join(f"{c.name} {_SQL_TYPES[c.kind]}" for c in schema.columns)
                db.execute(f"""CREATE TABLE IF NOT EXISTS {_TABLE[schema.key]} (
                    code TEXT NOT NULL, identity TEXT NOT NULL, sort_key INTEGER, fetched_at REAL NOT NULL,
                    {columns}, PRIMARY KEY (code, identity))""")
                # What a read walks, so it needs no sort: per code, newest first.
                db.execute(f"CREATE INDEX IF NOT EXISTS {_TABLE[schema.key]}_newest "
                           f"ON {_TABLE[schema.key]} (code, sort_key DESC, identity)")
        version = self._db.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()[0]
        if version != SCHEMA_VERSION:
            raise RuntimeError(f"cache {self.path} has schema {version}, this version reads {SCHEMA_VERSION}")

    def transaction(self) -> "_Transaction":
        return _Transaction(self)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> "Cache":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # ---- per-code progress ------------------------------------------------------------------
    def state(self, code: str) -> Optional[CodeState]:
        with self._lock:
            row = self._db.execute("SELECT code, complete, resume_key, full_started, full_at, checked_at "
                                   "FROM codes WHERE code = ?", (code,)).fetchone()
        return None if row is None else CodeState(row[0], bool(row[1]), *row[2:])

    def identities(self, code: str) -> set:
        schema = SCHEMA_BY_MARKET[code[:2]]
        with self._lock:
            rows = self._db.execute(f"SELECT identity FROM {_TABLE[schema.key]} WHERE code = ?", (code,))
            return {row[0] for row in rows}

    def start_full(self, code: str, now: float) -> float:
        """Record that a full fetch of ``code`` starts at ``now`` (what a resumed fetch goes on from)."""
        with self.transaction() as db:
            db.execute("INSERT INTO codes (code, complete, resume_key, full_started) VALUES (?, 0, NULL, ?) "
                       "ON CONFLICT(code) DO UPDATE SET resume_key = NULL, full_started = excluded.full_started",
                       (code, now))
        return now

    def store_page(self, code: str, records: Sequence[Mapping[str, Any]], *, next_key: str,
                   full_since: Optional[float], now: float) -> int:
        """Upsert one page's records and the code's progress in one transaction; returns new rows.

        ``full_since`` is the start of the full fetch this page belongs to (None for an
        incremental refresh).  Its last page deletes the code's rows fetched before that time:
        the server no longer has them.  The time is the caller's own, not the one stored, so
        a second process starting a full fetch of the same code cannot make the first one
        delete rows it fetched itself.
        """
        schema = SCHEMA_BY_MARKET[code[:2]]
        table = _TABLE[schema.key]
        names = schema.names
        placeholders = ", ".join("?" * (len(names) + 4))
        updates = ", ".join(f"{n} = excluded.{n}" for n in (*names, "sort_key", "fetched_at"))
        rows = []
        for record in records:
            clean = {n: _clean(record.get(n)) for n in names}
            for column in schema.columns:
                if column.kind == "int" and clean[column.name] is not None:
                    clean[column.name] = int(clean[column.name])
            rows.append((code, record_identity(schema, clean), _sort_key(schema, clean), now,
                         *(clean[n] for n in names)))
        with self.transaction() as db:
            before = db.execute(f"SELECT COUNT(*) FROM {table} WHERE code = ?", (code,)).fetchone()[0]
            db.executemany(f"INSERT INTO {table} (code, identity, sort_key, fetched_at, {', '.join(names)}) "
                           f"VALUES ({placeholders}) ON CONFLICT(code, identity) DO UPDATE SET {updates}", rows)
            after = db.execute(f"SELECT COUNT(*) FROM {table} WHERE code = ?", (code,)).fetchone()[0]
            if full_since is not None and next_key != "-1":
                db.execute("UPDATE codes SET resume_key = ?, checked_at = ? WHERE code = ?", (next_key, now, code))
            elif full_since is not None:
                # A completed full fetch makes the cache equal to the server: drop what it did not see.
                db.execute(f"DELETE FROM {table} WHERE code = ? AND fetched_at < ?", (code, full_since))
                db.execute("UPDATE codes SET complete = 1, resume_key = NULL, full_at = ?, "
                           "checked_at = ? WHERE code = ?", (full_since, now, code))
            else:
                db.execute("UPDATE codes SET checked_at = ? WHERE code = ?", (now, code))
        return after - before

    # ---- reading ----------------------------------------------------------------------------
    def rows(self, schema: FrameSchema, codes: Optional[Iterable[str]] = None) -> List[Tuple[Any, ...]]:
        """``(code, *columns)`` rows, codes in the order given (all codes sorted if None), newest first."""
        return [row for chunk in self.row_chunks(schema, codes) for row in chunk]

    def row_chunks(self, schema: FrameSchema, codes: Optional[Iterable[str]] = None,
                   size: int = ROWS_PER_CHUNK) -> Iterator[List[Tuple[Any, ...]]]:
        """:meth:`rows` in lists of at most ``size`` rows, read from SQLite as they are consumed.

        One SELECT, so one snapshot of the file, and no write lock while it is read.  It holds
        the cache's own lock until it is exhausted or closed: consume it in one thread.
        """
        table = _TABLE[schema.key]
        columns = ", ".join(f"r.{n}" for n in schema.names)
        with self._lock:
            if codes is None:
                cursor = self._db.execute(f"SELECT r.code, {columns} FROM {table} r "
                                          "ORDER BY r.code, r.sort_key DESC, r.identity")
            else:
                with self.transaction() as db:
                    # position is the rowid, so SQLite walks it in order and the index does the rest
                    db.execute("CREATE TEMP TABLE IF NOT EXISTS wanted "
                               "(position INTEGER PRIMARY KEY, code TEXT UNIQUE)")
                    db.execute("DELETE FROM wanted")
                    db.executemany("INSERT OR IGNORE INTO wanted VALUES (?, ?)", enumerate(codes))
                cursor = self._db.execute(f"SELECT r.code, {columns} FROM {table} r JOIN wanted w ON w.code = r.code "
                                          "ORDER BY w.position, r.sort_key DESC, r.identity")
            try:  # yield from: no reference here to a chunk while the next one is read
                yield from iter(lambda: cursor.fetchmany(size), [])
            finally:
                cursor.close()

    def integrity_ok(self) -> bool:
        with self._lock:
            return self._db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


class _Transaction:
    def __init__(self, cache: Cache):
        self.cache = cache

    def __enter__(self) -> sqlite3.Connection:
        self.cache._lock.acquire()
        self.cache._db.execute("BEGIN IMMEDIATE")
        return self.cache._db

    def __exit__(self, exc_type: Any, *rest: Any) -> None:
        try:
            self.cache._db.execute("ROLLBACK" if exc_type else "COMMIT")
        finally:
            self.cache._lock.release()


def _use_wal(db: sqlite3.Connection, patience: float = 60.0) -> None:
    """Switch the file to WAL (readers never wait for the writer); WAL is stored in the file.

    The switch needs the file to itself and SQLite does not wait for that (no busy handler),
    so two processes opening a new cache together retry here instead of failing.
    """
    deadline = time.monotonic() + patience
    while db.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
        try:
            db.execute("PRAGMA journal_mode = WAL")
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
