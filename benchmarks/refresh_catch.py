"""The catch-rate benchmark of ``refresh()`` (issue 15 §2): run by ``bench_refresh`` in run.py.

A world of the whole HK and A-share universes (``SyntheticMarket(synthetic_codes(2600, 5300))``,
ten years, the default model: most companies never buy back) is served by
``Simulator(world=...)`` from the session before the last 60 of the period.  A warm cache holds
every code as fully fetched that evening (stored straight from the world, not over the wire:
tests/test_world.py checks that this stores what a load through the SDK stores).  Then, for each
of the 60 sessions, the simulator advances one session and every budget's refresh runs once, at
that session's evening (20:00 UTC+8, the refresh's ``clock``), each on its own copy of the
warm cache; all budgets see the same world.

**Transport.** Through the real SDK over TCP a refresh request costs 3 to 6 ms on the shared
2-core machine, so one budget of 60 sessions at 25% (2,000 requests a session) takes about 6
minutes; the SDK's own ``OpenQuoteContext`` with its transport replaced (tests/fakes.py,
``in_process_context``) costs as much, since the time goes to the compatibility method's frames
and the loader's ``DataFrame.to_dict`` of each page, not to the socket.  So the budgets are
driven through :class:`WorldContext`: the real refresh, scheduler, loader and cache, with
``get_corporate_actions_buybacks`` answered from the simulator's records in process, the
page's records handed over as the frame's ``to_dict("records")`` would give them.  The bench
measures one 25% refresh through the real SDK and TCP beside it, and reports both costs.

**Pages of 10 rows** (``num=10``): the loader stores every record of each page it gets, and a
refresh only needs the first; a session never brings a code 10 new records (the bench checks
this), so every refresh costs the same requests as with pages of 50, at a third of the cache's
work.

**What is counted.** A new record is a change of kind ``"new"`` (``SyntheticMarket.changes``) on
one of the 60 sessions; amendments (a record's new version) are not counted: a refresh sees an
amendment only when the record is on the first page of a code it checks, whatever its budget.
A record is cached within 1 session when it is in the cache after the refresh of the session
it became known on, within 5 sessions after the refresh of the fourth session after that (so
the records of the last four sessions count for "within 1" only).  A code is active when a new
record of it became known in the 60 sessions before.  The naive refresh checks every code every
session: it catches everything within 1 session at one request per code plus a page per 10 new
records of a code (none here), measured once at the first session.
"""

import dataclasses
import math
import shutil
import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Set, Tuple

import pandas as pd

from futu_buybacks import Cache, RateLimiter, refresh
from futu_buybacks._schema import SCHEMA_BY_MARKET
from futu_buybacks._sources import simulator_status
from futu_buybacks.simulator import Change, Simulator, SyntheticMarket, synthetic_codes
from futu_buybacks.simulator._dataset import page_rows
from futu_buybacks.simulator._server import LOGIN_USER_ID

#: The budgets measured: shares of one request per code.
BUDGETS = (0.05, 0.10, 0.15, 0.20, 0.25)
SESSIONS = 60
WITHIN = (1, 5)
NUM = 10
ACTIVE_SESSIONS = 60
EVENING = pd.Timedelta(hours=20)
ZONE = "Asia/Shanghai"  # UTC+8, as Hong Kong
UNLIMITED = "1000000/1"


def evening(day: pd.Timestamp) -> float:
    """20:00 UTC+8 of ``day``, as Unix seconds: when that session's refresh runs."""
    return (pd.Timestamp(day).normalize() + EVENING).tz_localize(ZONE).timestamp()


class _Records:
    """A page's records as the loader reads a frame of them (``frame.to_dict("records")``)."""

    def __init__(self, rows: List[dict]):
        self.rows = rows

    def to_dict(self, orient: str) -> List[dict]:
        assert orient == "records"
        return self.rows


class WorldContext:
    """What the loader asks of an ``OpenQuoteContext``, answered in process from a simulator's
    records: its source (``get_global_state``) and pages of protocol 3235, by the simulator's
    own paging.  No SDK, no frames: see the module docstring."""

    def __init__(self, simulator: Simulator):
        self.simulator = simulator

    def get_global_state(self) -> Tuple[int, dict]:
        return 0, {"program_status_desc": simulator_status(self.simulator.name)}

    def get_login_user_id(self) -> int:
        return LOGIN_USER_ID

    def get_corporate_actions_buybacks(self, code: str, next_key: Optional[str] = None, num: int = 10):
        rows, key = page_rows(self.simulator.dataset.records[code], next_key, num)
        data = {"next_key": key, "hk_buy_back_list": _Records([]), "a_buy_back_list": _Records([])}
        data[SCHEMA_BY_MARKET[code[:2]].key] = _Records(rows)
        return 0, data


def warm_cache(path: Path, world: SyntheticMarket, source: str, day: pd.Timestamp) -> int:
    """A cache holding every code of ``world`` fully fetched at ``day``'s evening; its records."""
    now = evening(day)
    stored = 0
    with Cache(path) as cache:
        for code in world.codes:
            records = world.records(code, day)
            cache.store_page(cache.begin_full_fetch(source, code, now), records, next_key="-1", now=now)
            stored += len(records)
    return stored


def cached_identities(cache: Cache, source: str, code: str) -> Set[tuple]:
    """The identities (``SyntheticMarket.identity``) of ``code``'s records in ``cache``."""
    schema = SCHEMA_BY_MARKET[code[:2]]
    return {SyntheticMarket.identity(code, dict(zip(schema.names, row[1:-1])))  # row: code, *columns, first_seen
            for row in cache.rows(schema, source, [code])}


@dataclasses.dataclass
class Budget:
    """One budget's refresh over the sessions: its cache, its requests per session, and for each
    new record the sessions from becoming known to being cached (0: the same session)."""

    share: float
    cache: Cache
    requests: List[int] = dataclasses.field(default_factory=list)
    pending: Dict[str, Dict[tuple, int]] = dataclasses.field(default_factory=dict)  # code -> identity -> session
    delays: Dict[Tuple[str, tuple], int] = dataclasses.field(default_factory=dict)
    seconds: float = 0.0

    def run(self, at: int, new: Sequence[Change], ctx: object, codes: List[str], now: float) -> None:
        for change in new:
            self.pending.setdefault(change.code, {})[SyntheticMarket.identity(change.code, change.record)] = at
        start = time.perf_counter()
        report = refresh(codes, ctx, budget=f"{self.share * 100:g}%", num=NUM, cache=self.cache,
                         limiter=RateLimiter(UNLIMITED), progress=False, clock=lambda: now)
        self.seconds += time.perf_counter() - start
        assert report.ok, report.errors
        self.requests.append(report.requests)
        for code in set(report.checked) & set(self.pending):  # what is cached changed for checked codes only
            cached = cached_identities(self.cache, report.source, code)
            waiting = self.pending[code]
            for identity in [i for i in waiting if i in cached]:
                self.delays[(code, identity)] = at - waiting.pop(identity)
            if not waiting:
                del self.pending[code]


@dataclasses.dataclass
class Results:
    """What the bench measured (see the module docstring)."""

    codes: int
    records: int                  # in the warm cache
    new: int                      # new records over the sessions
    active: int                   # of them, of codes active in the 60 sessions before
    sessions: int
    naive_requests: float         # per session, analytic
    naive_measured: int           # the naive refresh's requests at the first session
    naive_expected: int           # what the analytic count says for that session
    naive_caught: bool            # it cached every new record of that session
    tcp_ms: float                 # per request, real SDK over TCP, one 25% refresh
    fake_ms: float                # per request, through WorldContext, every budget
    seconds: float
    rows: List[dict]              # per budget: share, requests ratio, catch rates


def catch_rates(budget: Budget, known: Dict[Tuple[str, tuple], int], active: Set[Tuple[str, tuple]], last: int
                ) -> Dict[str, float]:
    """Shares of the new records (all, of active codes, of the others: quiet) cached within 1
    and 5 sessions."""
    out = {}
    quiet = set(known) - set(active)
    for within in WITHIN:
        for name, population in (("all", known), ("active", active), ("quiet", quiet)):
            eligible = [key for key in population if known[key] + within - 1 <= last]
            caught = sum(1 for key in eligible if budget.delays.get(key, within) < within)
            out[f"{name}_{within}"] = caught / len(eligible) if eligible else float("nan")
    return out


def measure(workdir: Path, sdk_module: object, budgets: Sequence[float] = BUDGETS, sessions: int = SESSIONS,
            hk: int = 2600, a: int = 5300, years: int = 10, log=print) -> Results:
    started = time.perf_counter()
    world = SyntheticMarket(synthetic_codes(hk, a), start=f"{2026 - years}-01-01", end="2025-12-31", seed=0)
    days = world.sessions()
    first = len(days) - sessions  # index of the first refreshed session
    sim = Simulator(world=world, session=days[first - 1])
    log(f"world of {len(world.codes):,} codes, {days[0].date()} to {days[-1].date()}, "
        f"{time.perf_counter() - started:.0f} s")
    warm = workdir / "warm.sqlite3"
    records = warm_cache(warm, world, sim.source, days[first - 1])
    known: Dict[Tuple[str, tuple], int] = {}
    recent: Dict[str, List[int]] = {}   # code -> sessions a new record of it became known on
    for at in range(first - ACTIVE_SESSIONS, len(days)):
        for change in world.changes(days[at]):
            if change.kind == "new":
                recent.setdefault(change.code, []).append(at)
                if at >= first:
                    known[(change.code, SyntheticMarket.identity(change.code, change.record))] = at
    active = {(code, identity) for (code, identity), at in known.items()
              if any(at - ACTIVE_SESSIONS <= seen < at for seen in recent[code])}
    per_code_session: Dict[Tuple[str, int], int] = {}  # (code, session) -> new records
    for (code, _), at in known.items():
        per_code_session[(code, at)] = per_code_session.get((code, at), 0) + 1
    most = max(per_code_session.values(), default=0)
    assert most < NUM, f"a session brings a code {most} new records: pages of {NUM} would need more requests"
    naive = len(world.codes) + sum(count // NUM for count in per_code_session.values()) / sessions
    log(f"warm cache: {records:,} records; {len(known):,} new records over {sessions} sessions, "
        f"{len(active):,} of them of active codes; {time.perf_counter() - started:.0f} s")

    plans = []
    for share in budgets:
        path = workdir / f"budget-{share:g}.sqlite3"
        shutil.copyfile(warm, path)
        plans.append(Budget(share, Cache(path)))
    ctx = WorldContext(sim)
    codes = list(world.codes)
    tcp_ms = naive_measured = naive_expected = 0
    naive_caught = False
    try:
        for at in range(first, len(days)):
            changes = sim.advance()
            new = [change for change in changes if change.kind == "new"]
            now = evening(sim.session)
            if at == first:
                tcp_ms = _through_the_sdk(sim, sdk_module, warm, workdir, codes, now)
                naive_measured, naive_caught = _naive(ctx, warm, workdir, codes, new, now)
                naive_expected = len(codes) + sum(count // NUM for (_, day), count in per_code_session.items()
                                                  if day == at)
            for plan in plans:
                plan.run(at, new, ctx, codes, now)
            if (at - first + 1) % 10 == 0:
                log(f"  session {at - first + 1} of {sessions} ({sim.session.date()}): "
                    f"{time.perf_counter() - started:.0f} s")
    finally:
        for plan in plans:
            plan.cache.close()
    rows = []
    for plan in plans:
        rates = catch_rates(plan, known, active, len(days) - 1)
        rows.append({"share": plan.share, "requests": sum(plan.requests) / sessions / naive, **rates})
    spent = sum(sum(plan.requests) for plan in plans)
    fake_ms = sum(plan.seconds for plan in plans) / spent * 1e3
    return Results(len(codes), records, len(known), len(active), sessions, naive, naive_measured, naive_expected,
                   naive_caught, tcp_ms, fake_ms, time.perf_counter() - started, rows)


def _through_the_sdk(sim: Simulator, sdk_module, warm: Path, workdir: Path, codes: List[str], now: float) -> float:
    """Milliseconds per request of one 25% refresh through the real SDK and TCP, on a scratch cache."""
    import futu_buybacks

    path = workdir / "tcp.sqlite3"
    shutil.copyfile(warm, path)
    context_class = type("ShimQuoteContext", (futu_buybacks.BuybacksMixin, sdk_module.OpenQuoteContext), {})
    sim.start()
    try:
        ctx = context_class(host=sim.host, port=sim.port)
        try:
            start = time.perf_counter()
            report = refresh(codes, ctx, budget="25%", num=NUM, cache=path, limiter=RateLimiter(UNLIMITED),
                             progress=False, clock=lambda: now)
            seconds = time.perf_counter() - start
        finally:
            ctx.close()
    finally:
        sim.stop()
    assert report.ok, report.errors
    return seconds / report.requests * 1e3


def _naive(ctx: WorldContext, warm: Path, workdir: Path, codes: List[str], new: Sequence[Change], now: float
           ) -> Tuple[int, bool]:
    """The refresh of every code (budget 100%) at one session, on a scratch cache: its requests,
    and whether it cached every new record of the session."""
    path = workdir / "naive.sqlite3"
    shutil.copyfile(warm, path)
    with Cache(path) as cache:
        report = refresh(codes, ctx, budget="100%", num=NUM, cache=cache, limiter=RateLimiter(UNLIMITED),
                         progress=False, clock=lambda: now)
        caught = all(SyntheticMarket.identity(change.code, change.record)
                     in cached_identities(cache, report.source, change.code) for change in new)
    return report.requests, caught and len(report.checked) == len(codes)


# ---- the curve ------------------------------------------------------------------------------------
SERIES = (("all_1", "all new records, within 1 session", "#1f77b4", ""),
          ("all_5", "all new records, within 5 sessions", "#1f77b4", "6,4"),
          ("active_1", "codes active in the previous 60 sessions, within 1", "#d62728", ""),
          ("active_5", "codes active in the previous 60 sessions, within 5", "#d62728", "6,4"))


def write_svg(path: Path, title: str, rows: List[dict], targets: Sequence[Tuple[float, float, str]]) -> None:
    """Catch rate against budget (% of the naive refresh's requests), one line per series, the
    naive refresh at 100%; ``targets``: (budget %, rate, label) marks."""
    width, height, left, right, top, bottom = 640, 400, 60, 20, 30, 130
    low = min(0.9, math.floor(10 * min(row[key] for row in rows for key, *_ in SERIES)) / 10)

    def x(budget: float) -> float:
        return left + budget / 100 * (width - left - right)

    def y(rate: float) -> float:
        return top + (1 - (rate - low) / (1 - low)) * (height - top - bottom)

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" '
             f'font-size="12"><rect width="100%" height="100%" fill="white"/>',
             f'<text x="{width / 2}" y="18" text-anchor="middle" font-size="14">{title}</text>']
    for budget in range(0, 101, 10):
        parts.append(f'<line x1="{x(budget):.1f}" y1="{y(low):.1f}" x2="{x(budget):.1f}" y2="{y(1):.1f}" '
                     f'stroke="#eee"/><text x="{x(budget):.1f}" y="{y(low) + 16:.1f}" '
                     f'text-anchor="middle">{budget}%</text>')
    step = 0.05 if 1 - low <= 0.3 + 1e-9 else 0.1
    for number in range(round((1 - low) / step) + 1):
        rate = low + number * step
        parts.append(f'<line x1="{left}" y1="{y(rate):.1f}" x2="{width - right}" y2="{y(rate):.1f}" stroke="#eee"/>'
                     f'<text x="{left - 6}" y="{y(rate) + 4:.1f}" text-anchor="end">{rate:.2f}</text>')
    parts.append(f'<text x="{x(50):.1f}" y="{y(low) + 34:.1f}" text-anchor="middle">requests per session, % of '
                 f'the naive refresh (every code every session)</text>')
    for number, (key, label, colour, dash) in enumerate(SERIES):
        points = [(row["requests"] * 100, row[key]) for row in rows] + [(100.0, 1.0)]
        path_points = " ".join(f"{x(b):.1f},{y(r):.1f}" for b, r in points)
        parts.append(f'<polyline points="{path_points}" fill="none" stroke="{colour}" stroke-width="2" '
                     f'stroke-dasharray="{dash or "none"}"/>')
        parts += [f'<circle cx="{x(b):.1f}" cy="{y(r):.1f}" r="3" fill="{colour}"/>' for b, r in points]
        legend_y = height - bottom + 50 + 16 * number
        parts.append(f'<line x1="{left}" y1="{legend_y - 4}" x2="{left + 30}" y2="{legend_y - 4}" stroke="{colour}" '
                     f'stroke-width="2" stroke-dasharray="{dash or "none"}"/>'
                     f'<text x="{left + 38}" y="{legend_y}">{label}</text>')
    for budget, rate, label in targets:
        parts.append(f'<path d="M{x(budget) - 6:.1f},{y(rate):.1f} h12 M{x(budget):.1f},{y(rate) - 6:.1f} v12" '
                     f'stroke="black"/><text x="{x(budget) + 10:.1f}" y="{y(rate) + 4:.1f}">{label}</text>')
    parts.append("</svg>")
    path.write_text("\n".join(parts) + "\n", encoding="utf-8")


RESULTS_START, RESULTS_END = "<!-- results: written by benchmarks/run.py -->", "<!-- end of results -->"


def write_docs(docs: Path, results: Results) -> None:
    """docs/refresh_catch_rate.svg, and the results table of docs/refresh_bench.md."""
    write_svg(docs / "refresh_catch_rate.svg",
              f"refresh(): new records cached vs budget ({results.codes:,} codes, {results.sessions} sessions)",
              results.rows, [(25, 0.99, "target: active, 1 session"), (25, 0.95, "target: all, 5 sessions")])
    lines = [RESULTS_START, "",
             f"{results.codes:,} codes, {results.records:,} records in the warm cache, {results.new:,} new records "
             f"over {results.sessions} sessions ({results.active:,} of codes active in the 60 sessions before, "
             f"{results.new - results.active:,} of quiet codes); the naive refresh: "
             f"{results.naive_requests:,.0f} requests a session "
             f"({results.naive_measured:,} measured at the first, every new record cached: {results.naive_caught}). "
             f"A request through the real SDK and TCP: {results.tcp_ms:.2f} ms; through the in-process context: "
             f"{results.fake_ms:.2f} ms. The run took {results.seconds / 60:.1f} minutes.", "",
             "| budget | requests / naive | all, within 1 | all, within 5 | active, within 1 | active, within 5 "
             "| quiet, within 1 | quiet, within 5 |", "|---|---|---|---|---|---|---|---|"]
    lines += [f"| {r['share']:.0%} | {r['requests']:.3f} | "
              + " | ".join(f"{r[f'{name}_{within}']:.4f}" for name in ("all", "active", "quiet") for within in WITHIN)
              + " |" for r in results.rows]
    lines += ["| naive (every code) | 1.000 | 1 | 1 | 1 | 1 | 1 | 1 |", "", RESULTS_END]
    page = docs / "refresh_bench.md"
    text = page.read_text(encoding="utf-8")
    before, _, rest = text.partition(RESULTS_START)
    _, _, after = rest.partition(RESULTS_END)
    page.write_text(before + "\n".join(lines) + after, encoding="utf-8")
