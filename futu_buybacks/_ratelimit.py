"""A thread-safe sliding-window rate limiter, shared per OpenD address.

OpenD allows 30 requests to protocol 3235 per 30 seconds per account, counted over a sliding
window of arrivals.  ``acquire()`` waits exactly as long as the window requires: never less
(no refusals), never more (no idle time the window did not impose).  The margin (2% of the
period by default, 0.6 s on 30 s) absorbs the difference between when we ask and when OpenD
counts the arrival (network and scheduling jitter).

Two processes on one account share nothing, so give each a share of the budget: two loaders
on one account run with ``rate="15/30"`` each (see docs/loader.md).
"""

import collections
import contextlib
import logging
import re
import threading
import time
from typing import Callable, Deque, Dict, Hashable, Iterator, List, Tuple, Union

from ._errors import InvalidArgument

#: The vendor's limit for protocol 3235.
VENDOR_RATE = "30/30"
DEFAULT_MARGIN = 0.02
_EPSILON = 1e-6  # clock rounding: a slot this close to free is free (far below the margin)

Rate = Union[str, Tuple[int, float]]
log = logging.getLogger("futu_buybacks")


def parse_rate(rate: Rate) -> Tuple[int, float]:
    """``"30/30"`` or ``(30, 30.0)`` -> (requests, seconds)."""
    if isinstance(rate, str):
        match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+(?:\.\d*)?)\s*", rate)
        if not match:
            raise InvalidArgument(f"rate must look like '30/30' (requests/seconds), got {rate!r}")
        count, period = int(match.group(1)), float(match.group(2))
    elif isinstance(rate, (tuple, list)) and len(rate) == 2 and not any(isinstance(v, (bool, str)) for v in rate):
        try:
            count, period = int(rate[0]), float(rate[1])
        except (TypeError, ValueError, OverflowError):
            raise InvalidArgument(f"rate must be (requests, seconds) numbers, got {rate!r}") from None
    else:
        raise InvalidArgument(f"rate must be 'N/SECONDS' such as '30/30', or (N, SECONDS), got {rate!r}")
    if count < 1 or not 0 < period < float("inf"):
        raise InvalidArgument(f"rate needs at least 1 request per a positive period, got {rate!r}")
    return count, period


class RateLimiter:
    """At most ``count`` acquisitions in any ``period`` (plus margin) seconds.

    ``clock`` and ``sleep`` are injectable so tests run on a fake clock without sleeping.
    """

    def __init__(self, rate: Rate = VENDOR_RATE, margin: float = DEFAULT_MARGIN,
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep):
        self.count, self.period = parse_rate(rate)
        self.margin = margin
        self.window = self.period * (1.0 + margin)
        self._clock = clock
        self._sleep = sleep
        self._sent: Deque[float] = collections.deque()
        self._lock = threading.Lock()
        self.waited = 0.0  # total seconds spent waiting, for reports and benchmarks
        self.waits = 0     # acquisitions that had to wait

    def set_rate(self, rate: Rate) -> None:
        with self._lock:
            self.count, self.period = parse_rate(rate)
            self.window = self.period * (1.0 + self.margin)

    def acquire(self) -> float:
        """Block until a request may be sent; returns the seconds waited."""
        waited = 0.0
        while True:
            with self._lock:
                now = self._clock()
                while self._sent and now - self._sent[0] >= self.window - _EPSILON:
                    self._sent.popleft()
                if len(self._sent) < self.count:
                    self._sent.append(now)
                    self.waited += waited
                    self.waits += waited > 0
                    return waited
                delay = self.window - (now - self._sent[0])
            self._sleep(delay)
            waited += delay

    def seconds_for(self, requests: int) -> float:
        """The least time, from now, in which ``requests`` more acquisitions can all have succeeded.

        The bound the window sets on any run (an ETA never below it): the free slots are used at
        once, then each further request waits for the slot of the one ``count`` before it.
        """
        if requests <= 0:
            return 0.0
        with self._lock:
            now = self._clock()
            sent = [t for t in self._sent if now - t < self.window - _EPSILON]
        last = len(sent) + requests - 1
        slot, rounds = last % self.count, last // self.count
        start = sent[slot] if slot < len(sent) else now
        return max(0.0, start + rounds * self.window - now)

    def penalize(self, seconds: float) -> None:
        """OpenD refused for frequency anyway (another client on the account): hold off ``seconds``."""
        with self._lock:
            now = self._clock()
            self._sent.clear()
            self._sent.extend([now + seconds - self.window] * self.count)


_shared: Dict[Hashable, RateLimiter] = {}
_asked: Dict[Hashable, List[Tuple[int, float]]] = {}  # rates of the loaders running now, per address
_shared_lock = threading.Lock()


@contextlib.contextmanager
def shared_limiter(address: Hashable, rate: Rate = VENDOR_RATE) -> Iterator[RateLimiter]:
    """The process-wide limiter of one OpenD ``address``, for the duration of one load.

    Loaders that run at the same time against one OpenD share its window.  Each ``rate`` is a
    promise to stay under, so together they run at the fewest requests any of them asked for,
    per the longest period any asked for (``"30/30"`` and ``"10/10"`` give ``10/30``), which
    keeps every promise; a line on the ``futu_buybacks`` logger says so.  When a loader ends, its
    rate no longer counts: the others go back to the strictest of theirs, and the next load
    alone gets the rate it asks for.  The window's history stays, so a load started right after
    another does not get a fresh budget.
    """
    asked = parse_rate(rate)
    with _shared_lock:
        limiter = _shared.get(address)
        if limiter is None:
            limiter = _shared[address] = RateLimiter(asked)
        running = _asked.setdefault(address, [])
        running.append(asked)
        combined = _strictest(running)
        limiter.set_rate(combined)
        if combined != asked:
            log.info("futu_buybacks: loaders sharing OpenD %s asked for %s: they run at %d/%g together",
                     address, ", ".join(f"{c}/{p:g}" for c, p in running), *combined)
    try:
        yield limiter
    finally:
        with _shared_lock:
            running.remove(asked)
            if running:
                limiter.set_rate(_strictest(running))


def _strictest(rates: List[Tuple[int, float]]) -> Tuple[int, float]:
    return min(count for count, _ in rates), max(period for _, period in rates)
