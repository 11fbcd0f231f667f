"""Which codes a budgeted refresh checks, and in which order: what the cache knows in, a plan out.

No I/O here: :func:`schedule` reads :class:`~futu_buybacks._cache.CodeActivity` values (one
cheap query, ``Cache.activity``) and the moment of the run; :meth:`Schedule.run` takes the
codes in order through a ``check(code) -> requests`` callable, so both are tested by feeding
them values.  ``_refresh.py`` does the fetching.

A run may spend ``budget`` requests.  It takes codes in this order:

1. **unfinished**: never fetched, or a full fetch or a refresh that stopped before its end
   (a refresh stops early only when a code had more than a page of new records);
2. **hot**: a record dated within :data:`HOT_DAYS` of the run, or an A-share plan still open
   (its newest record neither completed nor stopped, and its period not over); the most likely
   to have new records first: recent records times the days since the code was last checked;
3. **quiet**: the rest, by the days since the last check, a code that ever had a record counting
   :data:`HISTORY_WEIGHT` times a code that never had one (a company that bought back before is
   the likeliest to start again).

Each code is counted at one request (a refresh's page, or a new code's first page) when it is
taken; its pages are never cut, so one that needs more spends them and the codes after it get
what is left.

**The rotation.** :data:`ROTATION_SHARE` of the budget (at least one request) is reserved for
the codes checked longest ago (never first), whatever their tier: those are always checked,
and the other tiers stop where they would eat into the reservation.  Each run checks the
``rotation`` codes checked longest ago, so a code checked ``p`` codes after the oldest is
checked within ``p // rotation + 1`` runs: every code of ``N`` within
``bound = ceil(N / rotation)`` runs, however many codes are hot.  A share of the reservation
the rotation does not need (the oldest codes were taken by their tier anyway) is not lost:
the codes are taken in one order, and the reservation only holds back the codes not reserved.

A code checked less than ``fresh_for`` ago is not checked again (a rerun right after a run goes
on with the next codes instead of asking again for what it just asked); such codes are the most
recently checked, so this does not move the bound, for runs at least ``fresh_for`` apart.
"""

import datetime as dt
import math
import re
from typing import Callable, FrozenSet, List, Mapping, NamedTuple, Sequence, Tuple, Union

from ._cache import CodeActivity
from ._errors import InvalidArgument
from ._events import STAGES

#: Share of each run's budget reserved for the codes checked longest ago.
ROTATION_SHARE = 0.2
#: A record dated this many calendar days before the run makes its code hot (at least 60 sessions).
HOT_DAYS = 92
#: How much more a quiet code that had records before weighs than one that never had any.
HISTORY_WEIGHT = 4.0
#: Stages (``_events.STAGES``) after which an A-share plan has nothing more to report.
CLOSED_STAGES = ("completed", "stopped")
DAY = 86400.0

UNFINISHED, HOT, QUIET = "unfinished", "hot", "quiet"
BudgetValue = Union[str, int, dt.timedelta]
_TIME_UNITS = {"s": 1.0, "sec": 1.0, "min": 60.0, "h": 3600.0}


class Budget(NamedTuple):
    """What a run may spend: a share of the codes (``"25%"``: of one request per code), a
    number of requests, or a time at the rate (``"10min"``: that many seconds' requests)."""

    kind: str      # "share", "requests" or "seconds"
    amount: float  # the share (0.25), the requests, or the seconds

    def requests(self, codes: int, rate: Tuple[int, float]) -> int:
        """The requests allowed for ``codes`` codes at ``rate`` (requests, seconds)."""
        if self.kind == "share":
            return max(1, math.ceil(round(codes * self.amount, 9))) if codes else 0
        if self.kind == "requests":
            return int(self.amount)
        return int(self.amount * rate[0] / rate[1] + 1e-9)

    def describe(self, codes: int, rate: Tuple[int, float]) -> str:
        if self.kind == "share":
            return f"{self.amount * 100:g}% of {codes} codes"
        if self.kind == "requests":
            return f"{int(self.amount)} requests"
        return f"{self.amount / 60:g} min at {rate[0]}/{rate[1]:g}"


def parse_budget(value: BudgetValue) -> Budget:
    """``"25%"``, ``100`` (or ``"100"``), ``"10min"`` (``"90s"``, ``"2h"``) or a ``timedelta``."""
    accepted = ("budget must be a share of one request per code ('25%'), a number of requests (100) or a "
                "time at the rate ('10min', '90s', '2h', a datetime.timedelta)")
    if isinstance(value, dt.timedelta):
        seconds = value.total_seconds()
        if seconds <= 0:
            raise InvalidArgument(f"{accepted}; a time must be positive, got {value!r}")
        return Budget("seconds", seconds)
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 1:
            raise InvalidArgument(f"{accepted}; a number of requests must be at least 1, got {value!r}")
        return Budget("requests", value)
    if not isinstance(value, str):
        raise InvalidArgument(f"{accepted}, got {type(value).__name__} {value!r}")
    text = value.strip().lower()
    match = re.fullmatch(r"(\d+(?:\.\d*)?|\.\d+)\s*(%|s|sec|min|h)?", text)
    if match is None:
        raise InvalidArgument(f"{accepted}, got {value!r}")
    number, unit = float(match.group(1)), match.group(2)
    if unit is None:
        if not match.group(1).isdigit() or number < 1:
            raise InvalidArgument(f"{accepted}; a number of requests must be a whole number >= 1, got {value!r}")
        return Budget("requests", int(number))
    if number <= 0:
        raise InvalidArgument(f"{accepted}; it must be positive, got {value!r}")
    if unit == "%":
        return Budget("share", number / 100)
    return Budget("seconds", number * _TIME_UNITS[unit])


class Schedule(NamedTuple):
    """A run's plan: the codes in the order it takes them, which of them are reserved, and the bound."""

    order: List[str]            # every code it may take, in order (unfinished, hot, quiet)
    reserved: FrozenSet[str]    # the rotation's codes: always taken
    tiers: Mapping[str, str]    # code -> UNFINISHED, HOT or QUIET (codes in ``order``)
    fresh: List[str]            # checked less than fresh_for ago: not taken
    budget: int                 # requests allowed
    rotation: int               # codes reserved per run (at this budget)
    bound: int                  # every code is checked within this many runs

    def run(self, check: Callable[[str], int]) -> Tuple[List[str], int]:
        """Take the codes in order, each counted at one request before it is checked, while the
        budget allows without eating into the rotation's reservation; the reserved codes always.
        ``check(code)`` checks one code and returns the requests it cost.  Returns the codes
        checked, in order, and the requests spent."""
        spent, pending = 0, len(self.reserved)
        checked: List[str] = []
        for code in self.order:
            if code in self.reserved:
                pending -= 1
            elif spent + 1 + pending > self.budget:
                continue
            spent += check(code)
            checked.append(code)
        return checked, spent


def rotation_size(budget: int, codes: int) -> int:
    """Codes the rotation checks per run: :data:`ROTATION_SHARE` of the budget, at least one
    (none without a budget or codes), at most every code."""
    if budget < 1 or codes < 1:
        return 0
    return min(codes, max(1, int(budget * ROTATION_SHARE)))


def run_bound(budget: int, codes: int) -> int:
    """Runs within which every one of ``codes`` codes is checked at ``budget`` requests a run."""
    rotation = rotation_size(budget, codes)
    return math.ceil(codes / rotation) if rotation else 0


def schedule(codes: Sequence[str], activity: Mapping[str, CodeActivity], *, budget: int, now: float,
             fresh_for: float = 3600.0) -> Schedule:
    """The plan of a run at ``now`` over ``codes`` (each once), from what the cache knows of them
    (``activity``: a code absent was never fetched), allowed ``budget`` requests."""
    position = {code: i for i, code in enumerate(codes)}
    tiers = {}
    fresh: List[str] = []
    for code in codes:
        known = activity.get(code)
        if known is None or known.unfinished:
            tiers[code] = UNFINISHED
        elif known.checked_at is not None and now - known.checked_at < fresh_for:
            fresh.append(code)
        else:
            tiers[code] = HOT if is_hot(known, now) else QUIET

    def days_since_check(code: str) -> float:
        known = activity.get(code)
        checked = None if known is None else known.checked_at
        return math.inf if checked is None else max(now - checked, 0.0) / DAY

    def hot_score(code: str) -> Tuple[float, float, int]:
        known = activity[code]
        return (-max(known.recent, 1) * days_since_check(code), -(known.newest or 0), position[code])

    def quiet_score(code: str) -> Tuple[float, int]:
        weight = HISTORY_WEIGHT if activity[code].newest is not None else 1.0
        return (-weight * days_since_check(code), position[code])

    order = ([code for code in codes if tiers.get(code) == UNFINISHED]
             + sorted((code for code in codes if tiers.get(code) == HOT), key=hot_score)
             + sorted((code for code in codes if tiers.get(code) == QUIET), key=quiet_score))
    rotation = rotation_size(budget, len(codes))

    def last_checked(code: str) -> Tuple[bool, float, int]:
        known = activity.get(code)
        checked = None if known is None else known.checked_at
        return (checked is not None, checked or 0.0, position[code])

    reserved = frozenset(sorted(order, key=last_checked)[:rotation])
    return Schedule(order, reserved, tiers, fresh, budget, rotation, run_bound(budget, len(codes)))


def is_hot(known: CodeActivity, now: float) -> bool:
    """A record dated within :data:`HOT_DAYS` of ``now``, or an A-share plan still open."""
    if known.newest is not None and known.newest >= now - HOT_DAYS * DAY:
        return True
    return plan_open(known, now)


def plan_open(known: CodeActivity, now: float) -> bool:
    """The newest record is of an A-share plan neither completed nor stopped whose period has not
    ended (its ``end_date`` is today or later)."""
    if known.stage is None or STAGES.get(known.stage, "other") in CLOSED_STAGES or known.plan_end is None:
        return False
    return known.plan_end + DAY > now
