"""Bulk loading: every record of many codes, under the rate limit, through the cache.

``load_buybacks(codes, ...)`` validates the codes, fetches what the cache lacks (a full fetch
for new or stale codes, one page for fresh ones, the rest of an interrupted fetch), and returns
tidy frames read back from the cache together with a per-code error report.
``load_buybacks(market="HK")`` does the same for the codes OpenD lists in a market
(``_universe.py``), the list cached for the day.
"""

import contextlib
import datetime as dt
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Tuple, Union

import pandas as pd

from ._cache import Cache, CacheUnusable, Fetch, default_cache_path
from ._codes import check_num, parse_code
from ._connect import DEFAULT_CONNECT_TIMEOUT, open_context, resolve_sdk
from ._dispatch import CodeQueue, Stopped, Worker
from ._dispatch import run as run_workers
from ._errors import BuybacksError, HostUnsupported, InvalidArgument, TransportError
from ._host import close_and_wait, opend_address, quiet_console, sdk_package_of
from ._interrupts import ClosingStack, CtrlCRaises, ctrl_c_held
from ._paging import PageError, iter_pages, page_fetcher
from ._progress import LoadProgress
from ._progress import wanted as progress_wanted
from ._protocol import RET_OK
from ._ratelimit import VENDOR_RATE, Rate, RateLimiter, parse_rate, shared_limiter
from ._schema import HK, SCHEMA_BY_MARKET, A
from ._sources import UNIDENTIFIED, address_key, source_of
from ._tidy import tidy_frame
from ._universe import MARKET_GROUPS, UNIVERSE_RATE, fetch_universe, market_day, parse_markets

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
    source: str = ""                                        # whose records these are (_sources.py)
    codes: List[str] = field(default_factory=list)          # the valid codes loaded (a market's: its list)

    @property
    def ok(self) -> bool:
        return not self.errors


def load_buybacks(codes: Union[str, Iterable[str], None] = None, ctx: Any = None, *,
                  market: Union[str, Iterable[str], None] = None, host: str = "127.0.0.1", port: int = 11111,
                  sdk: Optional[str] = None, num: Optional[int] = 50, rate: Rate = VENDOR_RATE,
                  limiter: Optional[RateLimiter] = None,
                  cache: Union[bool, str, Path, Cache, None] = True, full: bool = False,
                  max_age: Optional[dt.timedelta] = DEFAULT_MAX_AGE,
                  fresh_for: dt.timedelta = DEFAULT_FRESH_FOR, progress: Optional[bool] = None,
                  retries: int = 2, verbose: bool = False, connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
                  offline: bool = False, as_of: Any = None, opend: Optional[Sequence[str]] = None,
                  universe_limiter: Optional[RateLimiter] = None,
                  clock: Callable[[], float] = time.time) -> BuybackTables:
    """Every buyback record of ``codes`` (one code, or any iterable of codes), or of the stocks
    and ETFs OpenD lists in ``market``, as tidy frames, plus the codes that failed and why.

    - ``market``: instead of ``codes`` (exactly one of the two): ``"HK"``, ``"SH"``, ``"SZ"``,
      ``"A"`` (SH and SZ), or several (``"HK,A"``, ``["HK", "SZ"]``).  The list comes from the
      context's ``get_stock_basicinfo`` (protocol 3202), stocks and ETFs, without delisted codes,
      under its own rate limiter (``universe_limiter``; by default one per OpenD, 10 per 30 s),
      and is cached per source: a list fetched today (UTC+8) is reused, ``full`` fetches it again.
      ``BuybackTables.codes`` is the list loaded.

    - ``ctx``: an ``OpenQuoteContext`` to use; else one is opened on ``host``/``port`` with
      ``sdk`` (``"futu"`` or ``"moomoo"``; the installed one by default) and closed at the end.
    - ``num``: rows per request, by the compatibility method's rule (1..50, or what ``int()``
      turns into that; None: the server's default, 10).
    - ``rate``: requests/seconds allowed, shared by every loader in the process talking to the
      same OpenD at the same time, at the strictest rate they asked for (``_ratelimit.shared_limiter``;
      ``limiter`` to pass your own).
    - ``retries``: how often a failed page is retried, with backoff, when retrying can help (a
      timeout, a disconnect, OpenD busy, a message we do not know).  An unknown stock or a
      parameter OpenD refuses is not retried; a page key OpenD rejects starts the code again from
      its first page, once; a refusal for frequency is waited out (``_failures.py``).
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
      An OpenD that cannot be reached is an error even when the cache could answer.
    - ``offline``: read the cache only, without connecting: the records of the source last
      confirmed at ``host:port`` (or the context's address).  The file is opened read-only.
    - ``opend``: several OpenDs (``["127.0.0.1:11111", "127.0.0.1:11112"]``, one per account):
      the codes are shared among them, each under its own rate limit, into one cache; a code
      cached under one's account goes to that one, and a failing OpenD's codes move to the
      others (``_dispatch.py``).  Instead of ``host``/``port`` and ``ctx``.
    - ``as_of``: a moment (timezone-aware ``datetime``/``Timestamp``, or Unix seconds): return
      exactly what a load at that moment returned (the cache keeps every version of a record and
      when it was replaced).  Reads the cache as ``offline`` does; nothing is fetched.

    Every record in the cache belongs to one data source (the simulator, or an OpenD's account:
    ``_sources.py``); a load asks the OpenD it connects to which source it is, and reads and
    writes only that one (``BuybackTables.source``).

    Every parameter is checked before anything is opened or sent; a bad one raises
    :class:`InvalidArgument` (bad codes are reported per code in ``errors`` instead).

    An interrupted call (Ctrl-C, a killed process) loses nothing: every page is committed as it
    arrives, and the next call resumes where it stopped.  Called from the main thread, Ctrl-C
    raises ``KeyboardInterrupt`` while it runs, although the SDK's own handler would end the
    process (see ``_interrupts.py``); the handler from before comes back afterwards.
    """
    num = _check_arguments(host=host, port=port, num=num, rate=rate, limiter=limiter, cache=cache, full=full,
                           max_age=max_age, fresh_for=fresh_for, progress=progress, retries=retries,
                           verbose=verbose, connect_timeout=connect_timeout, offline=offline, opend=opend,
                           clock=clock)
    markets = _check_universe_arguments(codes, market, universe_limiter)
    sdk = resolve_sdk(sdk) if ctx is None else sdk
    wanted, errors = parse_codes(codes)
    moment = moment_of(as_of)
    if not wanted and not markets:  # nothing valid to load: no connection, no cache
        return BuybackTables(tidy_frame(HK, []), tidy_frame(A, []), errors)
    endpoints = _endpoints(opend, ctx, host, port)
    if offline or moment is not None:
        return _read_offline(cache, [address_key(*e) for e in endpoints], wanted, errors, moment, markets)
    store = _open_cache(cache)
    with CtrlCRaises() as ctrl_c, ClosingStack() as stack:
        if not isinstance(cache, Cache):
            stack.callback(store.close)  # last: after every connection is closed
        links = _connect(endpoints, ctx, sdk, connect_timeout, ctrl_c, verbose, store, clock, stack)
        for link in links:
            link.limiter = limiter if limiter is not None else stack.enter_context(shared_limiter(link.endpoint, rate))
        listing_requests = 0
        if markets:  # the codes are the first OpenD's list of these markets
            lister = links[0]
            if universe_limiter is None:
                universe_limiter = stack.enter_context(shared_limiter(("universe", *lister.endpoint), UNIVERSE_RATE))
            wanted, listing_requests = _universe(store, lister.source, lister.connection, markets, universe_limiter,
                                                 full=full, retries=retries, now=clock())
        bar = LoadProgress(len(wanted), [link.limiter for link in links], show=progress_wanted(progress))
        stack.callback(bar.close)
        sources = sorted({link.source for link in links})
        log.info("futu_buybacks: loading %d code%s through %s (%s)", len(wanted), "" if len(wanted) == 1 else "s",
                 "your context" if ctx is not None else ", ".join(f"OpenD at {link.address}" for link in links),
                 ", ".join(sources))
        queue = CodeQueue(wanted, _preferred(store, links, wanted) if len(sources) > 1 else {})
        loaders = [_Loader(store, link.source, link.connection, link.limiter, num, retries, clock, bar,
                           stop=lambda: queue.stopping) for link in links]
        workers = [link.worker(loader, bar, full=full, max_age=max_age, fresh_for=fresh_for)
                   for link, loader in zip(links, loaders)]
        run_workers(workers, queue)
        loaded_by = {code: worker.source for worker in workers for code in worker.loaded}
        for code in wanted:
            for worker in workers:
                if code in worker.errors:
                    errors[code] = worker.errors[code]
        return _tables(store, [loaded_by.get(code, links[0].source) for code in wanted], wanted, errors,
                       listing_requests + sum(loader.requests for loader in loaders))


def parse_codes(codes: Union[str, Iterable[str], None]) -> Tuple[List[str], Dict[str, str]]:
    """The valid codes of ``codes`` in the order given, each once, and per invalid one why."""
    wanted: List[str] = []
    seen: set = set()  # a list's `in` was quadratic: 1.2 s at 10,000
    errors: Dict[str, str] = {}
    for raw in ([codes] if isinstance(codes, str) else codes or ()):
        try:
            code = str(parse_code(raw))
        except BuybacksError as exc:
            market_name = isinstance(raw, str) and raw in MARKET_GROUPS
            errors[str(raw)] = str(exc) + (f" (every code OpenD lists there: market={raw!r})" if market_name else "")
            continue
        if code not in seen:
            seen.add(code)
            wanted.append(code)
    return wanted, errors


class _Link:
    """One OpenD of a load: its connection, address, source and rate limiter."""

    def __init__(self, endpoint: Any, connection: "_Connection", source: str):
        self.endpoint, self.connection, self.source = endpoint, connection, source
        self.address = address_key(*endpoint)
        self.limiter: Any = None

    def worker(self, loader: "_Loader", bar: LoadProgress, **how: Any) -> Worker:
        def load(code: str) -> Optional[str]:
            bar.start(code)
            error = loader.load(code, **how)
            if error:
                log.info("futu_buybacks: %s failed: %s", code, error)
            bar.finish_code()
            return error
        return Worker(f"OpenD at {self.address}", self.source, load)


def _tables(store: Cache, sources: List[str], codes: List[str], errors: Dict[str, str], requests: int,
            as_of: Optional[float] = None) -> BuybackTables:
    """The frames of ``codes``, each read from its source (``sources[i]`` for ``codes[i]``)."""
    by_source: Dict[str, List[str]] = {}
    for code, source in zip(codes, sources):
        by_source.setdefault(source, []).append(code)
    frames = []
    for schema in (HK, A):
        parts = [store.frame(schema, source, part, as_of=as_of)
                 for source, part in by_source.items()]
        frame = parts[0] if len(parts) == 1 else _in_order(pd.concat(parts, ignore_index=True), codes)
        frames.append(frame)
    return BuybackTables(frames[0], frames[1], errors, requests, ", ".join(sorted(by_source)), list(codes))


def _in_order(frame: pd.DataFrame, codes: List[str]) -> pd.DataFrame:
    """Rows in the order of ``codes`` (each code's rows keep theirs: newest first)."""
    position = frame["code"].map({code: i for i, code in enumerate(codes)})
    return frame.iloc[position.argsort(kind="stable")].reset_index(drop=True)


def _endpoints(opend: Any, ctx: Any, host: str, port: int) -> List[Any]:
    """The OpenDs to load through: ``opend`` ("HOST:PORT" strings), else the context's, else host:port."""
    if opend is None:
        return [_address(ctx, host, port)]
    if ctx is not None:
        raise InvalidArgument("pass either ctx or opend=[...], not both: a context talks to one OpenD")
    items = [opend] if isinstance(opend, str) else list(opend)
    endpoints = []
    for item in items:
        text = str(item)
        where, _, number = text.rpartition(":")
        if not where or not number.isdigit() or not 1 <= int(number) <= 65535:
            raise InvalidArgument(f"opend must be HOST:PORT strings, e.g. '127.0.0.1:11111', got {item!r}")
        if (where, int(number)) not in endpoints:
            endpoints.append((where, int(number)))
    if not endpoints:
        raise InvalidArgument("opend=[] names no OpenD")
    return endpoints


def _connect(endpoints: List[Any], ctx: Any, sdk: Optional[str], connect_timeout: float, ctrl_c: CtrlCRaises,
             verbose: bool, store: Cache, clock: Callable[[], float], stack: contextlib.ExitStack) -> List[_Link]:
    """A connected, identified link per OpenD; one that cannot be reached is skipped with a warning
    while another can (the first failure is raised when none can)."""
    links, failures = [], []
    for endpoint in endpoints:
        connection = _Connection(ctx, *endpoint, sdk, connect_timeout, ctrl_c, verbose)
        stack.callback(connection.close)
        try:
            connection.open()
        except TransportError as exc:
            if len(endpoints) == 1:
                raise
            log.warning("futu_buybacks: %s; loading through the other OpenDs", exc)
            failures.append(exc)
            continue
        link = _Link(endpoint, connection, _source(connection.ctx, store))
        before = store.confirm_source(link.address, link.source, clock())
        if before is not None:
            log.warning("futu_buybacks: %s now serves %s (it served %s): reading and writing %s only",
                        link.address, link.source, before, link.source)
        links.append(link)
    if not links:
        raise failures[0]
    return links


def _preferred(store: Cache, links: List[_Link], codes: List[str]) -> Dict[str, str]:
    """Per code already cached under one of the links' sources: that source."""
    preferred = {}
    for code in codes:
        for link in links:
            if store.state(link.source, code) is not None:
                preferred[code] = link.source
                break
    return preferred


def _universe(store: Cache, source: str, connection: "_Connection", markets: Iterable[str], limiter: RateLimiter,
              *, full: bool, retries: int, now: float) -> Tuple[List[str], int]:
    """The codes of ``markets``: the cached list if it was fetched today (UTC+8) and not ``full``,
    else OpenD's, stored; and the requests that cost."""
    day = market_day(now)
    codes: List[str] = []
    sent = [0]

    def count() -> None:
        sent[0] += 1

    for market in markets:
        cached = None if full else store.universe(source, market)
        if cached is not None and cached[0] == day:
            codes += cached[1]
            continue
        listed = fetch_universe(connection.list_market, market, day, limiter=limiter, retries=retries,
                                on_request=count)
        store.store_universe(source, market, listed, day=day, now=now)
        log.info("futu_buybacks: OpenD lists %d %s stocks and ETFs (%s)", len(listed), market, source)
        codes += [entry.code for entry in listed]
    return codes, sent[0]


def moment_of(as_of: Any) -> Optional[float]:
    """``as_of`` as Unix seconds; a naive datetime is refused (which zone would it be in?)."""
    if as_of is None:
        return None
    if isinstance(as_of, (int, float)) and not isinstance(as_of, bool):
        return float(as_of)
    if isinstance(as_of, dt.datetime):
        if as_of.tzinfo is None:
            raise InvalidArgument(f"as_of must be timezone-aware (e.g. pd.Timestamp(..., tz='Asia/Hong_Kong')), "
                                  f"got {as_of!r}")
        return as_of.timestamp()
    raise InvalidArgument(f"as_of must be a timezone-aware datetime or Unix seconds, got {as_of!r}")


def _source(ctx: Any, store: Cache) -> str:
    """What ``ctx`` talks to; an object that cannot say (a wrapper of your own) may load into
    memory only, since its records could not be kept apart from another server's."""
    try:
        return source_of(ctx)
    except HostUnsupported:
        if store.path == ":memory:":
            return UNIDENTIFIED
        raise


def _address(ctx: Any, host: str, port: int) -> Any:
    if ctx is None:
        return host, port
    address = opend_address(ctx)
    return address if isinstance(address, tuple) else ("context", address)


def _read_offline(cache: Union[bool, str, Path, Cache, None], addresses: List[str], codes: List[str],
                  errors: Dict[str, str], as_of: Optional[float] = None, markets: Tuple[str, ...] = ()
                  ) -> BuybackTables:
    """The cached records of the sources last confirmed at ``addresses``; no connection, no write.
    With several, each code is read from the first of their sources that holds it.  With
    ``markets``, of the codes of their cached lists (as listed ``as_of``, if given), from the first."""
    if not cache:
        raise InvalidArgument("offline=True reads the cache: it needs one (cache=True, a path or a Cache)")
    store = cache if isinstance(cache, Cache) else Cache(default_cache_path() if cache is True else cache,
                                                         read_only=True)
    try:
        sources = [source for source in (store.source_at(address) for address in addresses) if source is not None]
        if not sources:
            raise CacheUnusable(f"the cache {store.path} has nothing from OpenD at {', '.join(addresses)}: "
                                "load once with a connection first")
        for market in markets:
            cached = store.universe(sources[0], market, as_of=as_of)
            if cached is None:
                when = "" if as_of is None else " at that moment"
                raise CacheUnusable(f"the cache {store.path} has no list of the {market} market from {sources[0]}"
                                    f"{when}: load with market={market!r} once with a connection first")
            codes = codes + cached[1]
        chosen = [next((s for s in sources if store.state(s, code) is not None), sources[0]) for code in codes]
        return _tables(store, chosen, codes, errors, 0, as_of)
    finally:
        if not isinstance(cache, Cache):
            store.close()


def _check_arguments(*, host: Any, port: Any, num: Any, rate: Any, limiter: Any, cache: Any, full: Any,
                     max_age: Any, fresh_for: Any, progress: Any, retries: Any, verbose: Any,
                     connect_timeout: Any, offline: Any, opend: Any, clock: Any) -> Optional[int]:
    """Refuse, before anything is opened or sent, what would fail later or cost requests for
    nothing (``num=0`` is refused by OpenD for every page); returns ``num`` as it is sent.

    ``num`` follows the compatibility method's rule (``_codes.check_num``): 1..50, anything
    ``int()`` turns into that, or None for the server's default (10).
    """
    num = check_num(num)
    if not isinstance(host, str) or not host:
        raise InvalidArgument(f"host must be a non-empty str, got {host!r}")
    if not _is_int(port) or not 1 <= port <= 65535:
        raise InvalidArgument(f"port must be an int in 1..65535, got {port!r}")
    parse_rate(rate)
    if limiter is not None and not isinstance(limiter, RateLimiter):
        raise InvalidArgument(f"limiter must be a RateLimiter or None, got {type(limiter).__name__}")
    if limiter is not None and opend is not None and not isinstance(opend, str) and len(list(opend)) > 1:
        raise InvalidArgument("limiter= is one OpenD's budget; with several OpenDs each gets its own (rate=)")
    if not (cache is None or isinstance(cache, (bool, str, os.PathLike, Cache))):
        raise InvalidArgument(f"cache must be True, False, None, a path or a Cache, got {type(cache).__name__} "
                              f"{cache!r}")
    for name, value in (("full", full), ("verbose", verbose), ("offline", offline)):
        if not isinstance(value, bool):
            raise InvalidArgument(f"{name} must be True or False, got {value!r}")
    if progress is not None and not isinstance(progress, bool):
        raise InvalidArgument(f"progress must be True, False or None (automatic), got {progress!r}")
    if max_age is not None and not isinstance(max_age, dt.timedelta):
        raise InvalidArgument(f"max_age must be a datetime.timedelta or None (never stale), got "
                              f"{type(max_age).__name__} {max_age!r}")
    if not isinstance(fresh_for, dt.timedelta):
        raise InvalidArgument(f"fresh_for must be a datetime.timedelta, got {type(fresh_for).__name__} {fresh_for!r}")
    if not _is_int(retries) or retries < 0:
        raise InvalidArgument(f"retries must be an int >= 0, got {retries!r}")
    if isinstance(connect_timeout, bool) or not (isinstance(connect_timeout, (int, float))
                                                 and 0 < connect_timeout < float("inf")):
        raise InvalidArgument(f"connect_timeout must be a positive number of seconds, got {connect_timeout!r}")
    if not callable(clock):
        raise InvalidArgument(f"clock must be a callable returning Unix seconds, got {clock!r}")
    return num


def _check_universe_arguments(codes: Any, market: Any, universe_limiter: Any) -> Tuple[str, ...]:
    """Exactly one of ``codes`` and ``market``; the markets asked for (none for codes)."""
    if (codes is None) == (market is None):
        raise InvalidArgument("give exactly one of codes (a code or codes, e.g. 'HK.00700') and market ('HK', "
                              f"'SH', 'SZ' or 'A'), got {'both' if codes is not None else 'neither'}")
    if universe_limiter is not None and not isinstance(universe_limiter, RateLimiter):
        raise InvalidArgument(f"universe_limiter must be a RateLimiter or None, got {type(universe_limiter).__name__}")
    return () if market is None else parse_markets(market)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


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

    def open(self) -> None:
        """Connect (if the context is not the caller's): within the connect timeout, or raise."""
        with ctrl_c_held():  # quieting imports the SDK, which sets its handler; the one before comes back
            self._quiet_sdk_console()
        if self.ctx is None:
            self.ctx = open_context(self.host, self.port, self.sdk, timeout=self.connect_timeout,
                                    after_sdk_import=self.ctrl_c.reclaim)
            self._own = True
            # The SDK would wait without end for an OpenD that went away; ours waits this long.
            self.ctx.set_sync_query_connect_timeout(RECONNECT_PATIENCE)
        self._fetch = page_fetcher(self.ctx)

    def fetch(self, code: str, next_key: Optional[str] = None, num: Optional[int] = None) -> Any:
        self.ctrl_c.reclaim()
        ret, data = self._fetch(code, next_key=next_key, num=num)
        if self._own and data == _CONNECT_TIMEOUT:  # OpenD went away and did not come back in time
            raise TransportError(
                f"lost OpenD at {self.host}:{self.port} and it did not come back within "
                f"{RECONNECT_PATIENCE:.0f} s; what was fetched is cached, run again to finish")
        return ret, data

    def list_market(self, market: str, stock_type: str) -> Any:
        """``get_stock_basicinfo(market, stock_type)`` of the context (protocol 3202)."""
        self.ctrl_c.reclaim()
        method = getattr(self.ctx, "get_stock_basicinfo", None)
        if method is None:
            raise HostUnsupported(f"{type(self.ctx).__name__} has no get_stock_basicinfo, so it cannot list a "
                                  "market: pass an OpenQuoteContext of futu-api or moomoo-api, or codes")
        ret, data = method(market, stock_type)
        if self._own and ret != RET_OK and data == _CONNECT_TIMEOUT:
            raise TransportError(f"lost OpenD at {self.host}:{self.port} and it did not come back within "
                                 f"{RECONNECT_PATIENCE:.0f} s")
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
    """Brings codes up to date in the cache through one connection; ``stop()`` true ends it
    between pages (:class:`Stopped`)."""

    def __init__(self, cache: Cache, source: str, connection: _Connection, limiter: RateLimiter, num: int,
                 retries: int, clock: Callable[[], float], progress: LoadProgress,
                 stop: Callable[[], bool] = lambda: False):
        self.cache, self.source, self.fetch, self.limiter = cache, source, connection.fetch, limiter
        self.num, self.retries, self.clock = num, retries, clock
        self.progress, self.stop = progress, stop
        self.requests = 0
        self.new_records = 0  # records new to the cache (``Stored.new``), over every code

    def _count(self) -> None:
        self.requests += 1
        self.progress.request()

    def load(self, code: str, *, full: bool, max_age: Optional[dt.timedelta],
             fresh_for: dt.timedelta) -> Optional[str]:
        """Bring ``code`` up to date in the cache; the error message if it failed."""
        state = self.cache.state(self.source, code)
        now = self.clock()
        stale = (state is not None and state.full_at is not None and max_age is not None
                 and now - state.full_at > max_age.total_seconds())
        if full or state is None or stale or (not state.complete and state.resume_key is None):
            return self._fetch(self.cache.begin_full_fetch(self.source, code, now))
        if not state.complete:                      # an interrupted full fetch: finish it
            return self._fetch(self.cache.resumed_fetch(state), resume_key=state.resume_key)
        if state.refresh_run is not None:           # an interrupted refresh: finish it
            return self._fetch(self.cache.resumed_fetch(state), resume_key=state.refresh_key)
        if state.checked_at is not None and now - state.checked_at < fresh_for.total_seconds():
            return None
        return self._fetch(self.cache.begin_refresh(self.source, code))

    def _fetch(self, fetch: Fetch, *, resume_key: Optional[str] = None) -> Optional[str]:
        """Fetch and store the pages of ``fetch`` from ``resume_key``; the error message if it failed.

        A page key OpenD rejects (a resume key saved by an earlier run that it no longer accepts,
        or one it issued in this run) starts the fetch again from the first page, once; a second
        rejection is reported.  Else a saved key OpenD refuses would fail every later run, and
        ``max_age`` would never apply: the full fetch it counts from never completed.
        """
        restarted = False
        while True:
            try:
                return self._pages(fetch, start_key=resume_key)
            except PageError as exc:  # this code failed; others go on (an unreachable OpenD propagates)
                if not exc.rejected_key or restarted:
                    return exc.message
                log.info("futu_buybacks: %s: OpenD rejected the page key %r (%s); starting again from "
                         "the first page", fetch.code, exc.next_key, exc.message)
                resume_key, restarted = None, True
                if fetch.full:
                    fetch = self.cache.begin_full_fetch(fetch.source, fetch.code, self.clock())

    def _pages(self, fetch: Fetch, *, start_key: Optional[str]) -> Optional[str]:
        """Fetch and store pages; a refresh stops at the first page holding a record already cached.
        Raises :class:`PageError` for a page that failed for good."""
        code = fetch.code
        schema = SCHEMA_BY_MARKET[code[:2]]
        try:
            for _key, data in iter_pages(self.fetch, code, num=self.num, start_key=start_key,
                                         limiter=self.limiter, retries=self.retries, on_request=self._count):
                records = data[schema.key].to_dict("records")
                stored = self.cache.store_page(fetch, records, next_key=data["next_key"], now=self.clock())
                self.progress.page(len(records))
                self.new_records += stored.new
                if not fetch.full and stored.known:
                    return None
                if self.stop():
                    raise Stopped()
        except OverflowError as exc:  # a value beyond SQLite's 64-bit integers
            return f"value out of range for the cache: {exc}"
        return None


def _open_cache(cache: Union[bool, str, Path, Cache, None]) -> Cache:
    if isinstance(cache, Cache):
        return cache
    if cache is True:
        return Cache(default_cache_path())
    if not cache:
        return Cache(":memory:")
    return Cache(cache)
