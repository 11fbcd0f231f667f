"""Bulk loading: every record of many codes, under the rate limit, through the cache.

``load_buybacks(codes, ...)`` validates the codes, fetches what the cache lacks (a full fetch
for new or stale codes, one page for fresh ones, the rest of an interrupted fetch), and returns
tidy frames read back from the cache together with a per-code error report.
"""

import contextlib
import datetime as dt
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Tuple, Union

import pandas as pd

from ._cache import Cache, default_cache_path
from ._codes import END_KEY, parse_code
from ._connect import DEFAULT_CONNECT_TIMEOUT, open_context, resolve_sdk
from ._errors import BuybacksError, HostUnsupported, InvalidArgument, TransportError
from ._host import close_and_wait, opend_address, quiet_console, sdk_package_of
from ._interrupts import CtrlCRaises
from ._paging import PageError, iter_pages, page_fetcher
from ._progress import LoadProgress
from ._progress import wanted as progress_wanted
from ._ratelimit import VENDOR_RATE, Rate, RateLimiter, shared_limiter
from ._schema import HK, SCHEMA_BY_MARKET, A
from ._tidy import tidy_frame_from_chunks

#: How long a context the loader opened itself waits for OpenD to come back after losing it.
RECONNECT_PATIENCE = 120.0
#: What the SDK answers when that wait is over (``set_sync_query_connect_timeout``).
_CONNECT_TIMEOUT = "Connect timeout"
DEFAULT_MAX_AGE = dt.timedelta(days=7)
DEFAULT_FRESH_FOR = dt.timedelta(hours=1)
log = logging.getLogger("futu_buybacks")


@dataclass
class BuybackTables:
    """What :func:`load_buybacks` returns."""

    hk_buy_back_list: pd.DataFrame
    a_buy_back_list: pd.DataFrame
    errors: Dict[str, str] = field(default_factory=dict)   # code -> why it failed
    requests: int = 0                                       # requests sent to OpenD in this call

    @property
    def ok(self) -> bool:
        return not self.errors


def load_buybacks(codes: Union[str, Iterable[str]], ctx: Any = None, *, host: str = "127.0.0.1", port: int = 11111,
                  sdk: Optional[str] = None, num: int = 50, rate: Rate = VENDOR_RATE,
                  limiter: Optional[RateLimiter] = None,
                  cache: Union[bool, str, Path, Cache, None] = True, full: bool = False,
                  max_age: Optional[dt.timedelta] = DEFAULT_MAX_AGE,
                  fresh_for: dt.timedelta = DEFAULT_FRESH_FOR, progress: Optional[bool] = None,
                  retries: int = 2, verbose: bool = False, connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
                  clock: Callable[[], float] = time.time) -> BuybackTables:
    """Every buyback record of ``codes`` (one code, or any iterable of codes), as tidy frames,
    plus the codes that failed and why.

    - ``ctx``: an ``OpenQuoteContext`` to use; else one is opened on ``host``/``port`` with
      ``sdk`` (``"futu"`` or ``"moomoo"``; the installed one by default) and closed at the end.
    - ``rate``: requests/seconds allowed, shared by every loader in the process talking to the
      same OpenD (``limiter`` to pass your own).
    - ``cache``: True for the per-user cache file, a path, a :class:`Cache`, or False/None for
      memory only.  Cached codes cost one request when their newest records are known; ``full``
      refetches everything, as happens by itself to codes fully fetched longer than ``max_age`` ago;
      codes checked less than ``fresh_for`` ago cost nothing (rerunning a notebook cell, or a
      job after a crash, does not ask again for what it just stored).
    - ``progress``: a progress bar (tqdm; the notebook widget under Jupyter); None shows it in a
      terminal and in a notebook, not when stderr is a file or a pipe.
    - ``verbose``: let the SDK write its console lines ("New connect ready ...") to stdout, as it
      does by default; else they are held back while the loader runs (its log file keeps them).
      Our own messages go to the ``futu_buybacks`` logger.
    - ``connect_timeout``: seconds the first connection of a context opened here may take; then
      :class:`TransportError` says what was seen at ``host:port`` (refused, no answer, not OpenD).

    An interrupted call (Ctrl-C, a killed process) loses nothing: every page is committed as it
    arrives, and the next call resumes where it stopped.  Called from the main thread, Ctrl-C
    raises ``KeyboardInterrupt`` while it runs, although the SDK's own handler would end the
    process (see ``_interrupts.py``); the handler from before comes back afterwards.
    """
    if isinstance(connect_timeout, bool) or not (isinstance(connect_timeout, (int, float))
                                                 and 0 < connect_timeout < float("inf")):
        raise InvalidArgument(f"connect_timeout must be a positive number of seconds, got {connect_timeout!r}")
    wanted: Dict[str, None] = {}  # in the order given, each once (a list's `in` was quadratic: 1.2 s at 10,000)
    errors: Dict[str, str] = {}
    sdk = resolve_sdk(sdk) if ctx is None else sdk
    for raw in ([codes] if isinstance(codes, str) else codes):
        try:
            code = str(parse_code(raw))
        except BuybacksError as exc:
            errors[str(raw)] = str(exc)
            continue
        wanted.setdefault(code)
    store = _open_cache(cache)
    with CtrlCRaises() as ctrl_c:
        connection = _Connection(ctx, host, port, sdk, connect_timeout, ctrl_c, verbose)
        try:
            if limiter is None:
                limiter = shared_limiter(opend_address(ctx) if ctx is not None else (host, port), rate)
            bar = LoadProgress(len(wanted), limiter, show=progress_wanted(progress))
            log.info("futu_buybacks: loading %d code%s through %s", len(wanted), "" if len(wanted) == 1 else "s",
                     "your context" if ctx is not None else f"OpenD at {host}:{port}")
            loader = _Loader(store, connection, limiter, num, retries, clock, bar)
            try:
                for code in wanted:
                    bar.start(code)
                    error = loader.load(code, full=full, max_age=max_age, fresh_for=fresh_for)
                    if error:
                        errors[code] = error
                        log.info("futu_buybacks: %s failed: %s", code, error)
                    bar.finish_code()
            finally:
                bar.close()
            return BuybackTables(*read_frames(store, list(wanted)), errors, loader.requests)
        finally:
            connection.close()
            if not isinstance(cache, Cache):
                store.close()


def read_frames(cache: Cache, codes: Sequence[str]) -> Tuple[pd.DataFrame, pd.DataFrame]:
    """The HK and A-share tidy frames of ``codes`` as cached: what a load returns, read in chunks."""
    return (tidy_frame_from_chunks(HK, cache.row_chunks(HK, codes)),
            tidy_frame_from_chunks(A, cache.row_chunks(A, codes)))


class _Connection:
    """The context to fetch through: the caller's, or one opened on first need and closed after.

    Before each request it takes Ctrl-C back from whatever replaced the handler since the last one.
    """

    def __init__(self, ctx: Any, host: str, port: int, sdk: Optional[str], connect_timeout: float,
                 ctrl_c: CtrlCRaises, verbose: bool = False):
        self.ctx, self.host, self.port, self.sdk = ctx, host, port, sdk
        self.connect_timeout, self.ctrl_c = connect_timeout, ctrl_c
        self._own = False
        self._fetch: Any = None
        self._quiet = contextlib.ExitStack()
        self._verbose = verbose

    def fetch(self, code: str, next_key: Optional[str] = None, num: Optional[int] = None) -> Any:
        self.ctrl_c.reclaim()
        if self._fetch is None:
            self._quiet_sdk_console()
            if self.ctx is None:
                self.ctx = open_context(self.host, self.port, self.sdk, timeout=self.connect_timeout,
                                        after_sdk_import=self.ctrl_c.reclaim)
                self._own = True
                # The SDK would wait without end for an OpenD that went away; ours waits this long.
                self.ctx.set_sync_query_connect_timeout(RECONNECT_PATIENCE)
            self._fetch = page_fetcher(self.ctx)
        ret, data = self._fetch(code, next_key=next_key, num=num)
        if self._own and data == _CONNECT_TIMEOUT:  # OpenD went away and did not come back in time
            raise TransportError(
                f"lost OpenD at {self.host}:{self.port} and it did not come back within "
                f"{RECONNECT_PATIENCE:.0f} s; what was fetched is cached, run again to finish")
        return ret, data

    def _quiet_sdk_console(self) -> None:
        package = self.sdk if self.ctx is None else _package_or_none(self.ctx)
        if not self._verbose and package is not None:
            self._quiet.enter_context(quiet_console(package))

    def close(self) -> None:
        if self._own:
            close_and_wait(self.ctx)  # its "Disconnected" line comes from the SDK's thread
        self._quiet.close()


def _package_or_none(ctx: Any) -> Optional[str]:
    try:
        return sdk_package_of(ctx)
    except HostUnsupported:  # any object with the method (a fake in tests): nothing to quiet
        return None


class _Loader:
    def __init__(self, cache: Cache, connection: _Connection, limiter: RateLimiter, num: int, retries: int,
                 clock: Callable[[], float], progress: LoadProgress):
        self.cache, self.fetch, self.limiter = cache, connection.fetch, limiter
        self.num, self.retries, self.clock = num, retries, clock
        self.progress = progress
        self.requests = 0

    def _count(self) -> None:
        self.requests += 1
        self.progress.request()

    def load(self, code: str, *, full: bool, max_age: Optional[dt.timedelta],
             fresh_for: dt.timedelta) -> Optional[str]:
        """Bring ``code`` up to date in the cache; the error message if it failed."""
        state = self.cache.state(code)
        now = self.clock()
        stale = (state is not None and state.full_at is not None and max_age is not None
                 and now - state.full_at > max_age.total_seconds())
        if full or state is None or stale or (not state.complete and state.resume_key is None):
            return self._pages(code, start_key=None, full_since=self.cache.start_full(code, now))
        if not state.complete:                      # an interrupted full fetch: finish it
            return self._pages(code, start_key=state.resume_key, full_since=state.full_started)
        if state.checked_at is not None and now - state.checked_at < fresh_for.total_seconds():
            return None
        return self._pages(code, start_key=None, full_since=None, known=self.cache.identities(code))

    def _pages(self, code: str, *, start_key: Optional[str], full_since: Optional[float],
               known: Optional[set] = None) -> Optional[str]:
        schema = SCHEMA_BY_MARKET[code[:2]]
        try:
            for _key, data in iter_pages(self.fetch, code, num=self.num, start_key=start_key,
                                         limiter=self.limiter, retries=self.retries, on_request=self._count):
                records = data[schema.key].to_dict("records")
                self.cache.store_page(code, records, next_key=data["next_key"], full_since=full_since,
                                      now=self.clock())
                self.progress.page(len(records))
                if known is not None and data["next_key"] != END_KEY and _reaches_known(schema, records, known):
                    return None
        except PageError as exc:  # this code failed; others go on (an unreachable OpenD propagates)
            return exc.message
        except OverflowError as exc:  # a value beyond SQLite's 64-bit integers
            return f"value out of range for the cache: {exc}"
        return None


def _reaches_known(schema: Any, records: List[dict], known: set) -> bool:
    from ._cache import _clean, record_identity
    for record in records:
        clean = {k: _clean(v) for k, v in record.items()}
        for column in schema.columns:
            if column.kind == "int" and clean.get(column.name) is not None:
                clean[column.name] = int(clean[column.name])
        if record_identity(schema, clean) in known:
            return True
    return False


def _open_cache(cache: Union[bool, str, Path, Cache, None]) -> Cache:
    if isinstance(cache, Cache):
        return cache
    if cache is True:
        return Cache(default_cache_path())
    if not cache:
        return Cache(":memory:")
    return Cache(cache)
