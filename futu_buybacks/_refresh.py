"""A refresh on a budget: ``refresh(market="HK", budget="25%")`` checks the codes most likely to
have new records first and the rest in rotation, within a number of requests, and reports
what it checked and skipped.

Which codes, in which order, and why every code is checked within ``bound`` runs: the
scheduler, ``_schedule.py`` (no I/O).  Here: the arguments, the connection and the market's
list (through the loader's own steps, ``_loader.py``), one cache query for the scheduler, and
each code checked as a load checks it (``_Loader.load``: one page for a code fully fetched,
every page for a new one).
"""

import datetime as dt
import logging
import textwrap
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, Optional, Union

from ._cache import Cache
from ._connect import DEFAULT_CONNECT_TIMEOUT, resolve_sdk
from ._errors import InvalidArgument
from ._interrupts import ClosingStack, CtrlCRaises
from ._loader import (
    DEFAULT_FRESH_FOR,
    _address,
    _check_arguments,
    _check_universe_arguments,
    _connect,
    _Loader,
    _open_cache,
    _universe,
    parse_codes,
)
from ._progress import LoadProgress, plural
from ._progress import wanted as progress_wanted
from ._ratelimit import VENDOR_RATE, Rate, RateLimiter, parse_rate, shared_limiter
from ._schedule import DAY, HOT_DAYS, BudgetValue, parse_budget, schedule
from ._universe import UNIVERSE_RATE

log = logging.getLogger("futu_buybacks")
#: Text width of the code lists in a report.
REPORT_WIDTH = 100


@dataclass
class RefreshReport:
    """What :func:`refresh` did: the codes it checked (in order) and skipped, what was new."""

    checked: List[str]
    skipped: List[str]                 # not checked this run (``fresh`` among them)
    new_records: int                   # records new to the cache, over every code checked
    new_by_code: Dict[str, int]        # code -> its new records (codes with some only)
    requests: int                      # buyback requests sent (protocol 3235)
    budget: int                        # requests allowed
    bound: int                         # every code is checked within this many runs at this budget
    errors: Dict[str, str] = field(default_factory=dict)   # code -> why it failed
    source: str = ""
    rotation: int = 0                  # codes of each run reserved for those checked longest ago
    fresh: List[str] = field(default_factory=list)         # skipped: checked less than fresh_for ago
    tiers: Dict[str, str] = field(default_factory=dict)    # checked code -> unfinished, hot or quiet

    @property
    def ok(self) -> bool:
        return not self.errors

    def summary(self) -> str:
        """One line: ``checked 650 of 2,600 codes (652 requests, budget 650): 37 new records in
        12 codes; skipped 1,950; every code is checked within 20 runs``."""
        total = len(self.checked) + len(self.skipped)
        failed = f", {len(self.errors)} failed" if self.errors else ""
        return (f"checked {len(self.checked):,} of {total:,} code{'' if total == 1 else 's'} "
                f"({plural(self.requests, 'request')}, budget {self.budget:,}){failed}: "
                f"{plural(self.new_records, 'new record')} in {plural(len(self.new_by_code), 'code')}; "
                f"skipped {len(self.skipped):,}; every code is checked within {plural(self.bound, 'run')}")

    def __str__(self) -> str:
        lines = [f"refresh of {self.source or 'no source'}: {self.summary()}"]
        counts = {tier: sum(1 for code in self.checked if self.tiers.get(code) == tier)
                  for tier in ("unfinished", "hot", "quiet")}
        lines.append("checked: " + ", ".join(f"{count:,} {tier}" for tier, count in counts.items())
                     + f" (the {self.rotation:,} checked longest ago reserved)")
        lines += _wrapped("  ", self.checked)
        if self.new_by_code:
            lines.append("new records:")
            lines += _wrapped("  ", [f"{code} +{count}" for code, count in self.new_by_code.items()])
        if self.skipped:
            lines.append(f"skipped ({len(self.skipped):,}" + (f", {len(self.fresh):,} checked less than fresh_for ago"
                                                             if self.fresh else "") + "):")
            lines += _wrapped("  ", self.skipped)
        lines += [f"FAILED {code}: {message}" for code, message in self.errors.items()]
        return "\n".join(lines)


def _wrapped(indent: str, items: List[str]) -> List[str]:
    return textwrap.wrap(" ".join(items), REPORT_WIDTH, initial_indent=indent, subsequent_indent=indent,
                         break_on_hyphens=False)


def refresh(codes: Union[str, Iterable[str], None] = None, ctx: Any = None, *,
            market: Union[str, Iterable[str], None] = None, budget: BudgetValue = "25%", host: str = "127.0.0.1",
            port: int = 11111, sdk: Optional[str] = None, num: Optional[int] = 50, rate: Rate = VENDOR_RATE,
            limiter: Optional[RateLimiter] = None, cache: Union[bool, str, Path, Cache, None] = True,
            retries: int = 2, progress: Optional[bool] = None, verbose: bool = False,
            connect_timeout: float = DEFAULT_CONNECT_TIMEOUT, universe_limiter: Optional[RateLimiter] = None,
            fresh_for: dt.timedelta = DEFAULT_FRESH_FOR, clock: Callable[[], float] = time.time) -> RefreshReport:
    """Check the codes of ``market`` (or ``codes``) most likely to have new records first, the
    rest in rotation, within ``budget`` requests, into the cache; what it did as a :class:`RefreshReport`.

    - ``budget``: ``"25%"`` (of one request per code: a quarter of what checking every code
      costs), a number of requests (``100``), or a time at the rate (``"10min"``, ``"90s"``,
      ``"2h"``, a ``timedelta``: at ``rate``, 30 per 30 s, ten minutes are 600 requests).
    - Which codes come first, the rotation and the bound: ``_schedule.py`` and docs/loader.md,
      "Refreshing a market on a budget".  Recency is judged from the records' dates against
      ``clock()``, the time since a code's last check from the cache.
    - ``fresh_for``: a code checked less than this ago is not checked again (a rerun goes on
      with the next codes).
    - A code is checked as :func:`load_buybacks` does it (one page for a code fully fetched,
      more only for more than a page of new records; every page of a code never fetched), but
      never fully refetched for its age (``max_age``): run ``load_buybacks(..., full=True)`` for
      that.  Its pages are never cut, so the requests can exceed the budget by the pages beyond
      the first of the codes that needed more.
    - The other parameters are :func:`load_buybacks`'s; ``requests`` counts buyback requests
      only, not the listing of a market (protocol 3202, its own limiter, once a day).

    Every parameter is checked before anything is opened or sent (:class:`InvalidArgument`).
    """
    spec = parse_budget(budget)
    num = _check_arguments(host=host, port=port, num=num, rate=rate, limiter=limiter, cache=cache, full=False,
                           max_age=None, fresh_for=fresh_for, progress=progress, retries=retries, verbose=verbose,
                           connect_timeout=connect_timeout, offline=False, opend=None, clock=clock)
    markets = _check_universe_arguments(codes, market, universe_limiter)
    pace = (limiter.count, limiter.period) if limiter is not None else parse_rate(rate)
    if spec.kind == "seconds" and spec.requests(0, pace) < 1:
        raise InvalidArgument(f"budget {budget!r} allows no request at {pace[0]}/{pace[1]:g} (requests/seconds)")
    sdk = resolve_sdk(sdk) if ctx is None else sdk
    wanted, errors = parse_codes(codes)
    if not wanted and not markets:
        return RefreshReport([], [], 0, {}, 0, 0, 0, errors)
    store = _open_cache(cache)
    with CtrlCRaises() as ctrl_c, ClosingStack() as stack:
        if not isinstance(cache, Cache):
            stack.callback(store.close)
        (link,) = _connect([_address(ctx, host, port)], ctx, sdk, connect_timeout, ctrl_c, verbose, store, clock,
                           stack)
        link.limiter = limiter if limiter is not None else stack.enter_context(shared_limiter(link.endpoint, rate))
        if markets:
            if universe_limiter is None:
                universe_limiter = stack.enter_context(shared_limiter(("universe", *link.endpoint), UNIVERSE_RATE))
            wanted, _ = _universe(store, link.source, link.connection, markets, universe_limiter, full=False,
                                  retries=retries, now=clock())
        now = clock()
        allowed = spec.requests(len(wanted), pace)
        plan = schedule(wanted, store.activity(link.source, wanted, since=now - HOT_DAYS * DAY), budget=allowed,
                        now=now, fresh_for=fresh_for.total_seconds())
        log.info("futu_buybacks: refreshing %s through %s (%s): %s, %s allowed (%s)",
                 plural(len(wanted), "code"), "your context" if ctx is not None else f"OpenD at {link.address}",
                 link.source, spec.describe(len(wanted), pace), plural(allowed, "request"),
                 f"every code within {plural(plan.bound, 'run')}")
        bar = LoadProgress(min(len(plan.order), allowed), link.limiter, show=progress_wanted(progress))
        stack.callback(bar.close)
        loader = _Loader(store, link.source, link.connection, link.limiter, num, retries, clock, bar)
        new_by_code: Dict[str, int] = {}

        def check(code: str) -> int:
            requests, new = loader.requests, loader.new_records
            bar.start(code)
            error = loader.load(code, full=False, max_age=None, fresh_for=dt.timedelta(0))
            bar.finish_code()
            if error:
                log.info("futu_buybacks: %s failed: %s", code, error)
                errors[code] = error
            if loader.new_records > new:
                new_by_code[code] = loader.new_records - new
            return loader.requests - requests

        checked, spent = plan.run(check)
    done = set(checked)
    return RefreshReport(checked, [code for code in wanted if code not in done], sum(new_by_code.values()),
                         new_by_code, spent, allowed, plan.bound, errors, link.source, plan.rotation, plan.fresh,
                         {code: plan.tiers[code] for code in checked})
