"""The loader's progress bar: codes done of total, requests, records, rate-limit waits and an ETA.

Shown in a terminal and in Jupyter (tqdm.auto: the notebook widget there), not when stderr is a
file or a pipe (a cron job's log, a CI run), unless asked.  The ETA is never below what the rate
limit allows for the requests still to come, so a run that will wait a window says so from the
start instead of promising the pace of its first, unthrottled requests.
"""

import sys
import threading
import time
import warnings
from typing import Any, Callable, Optional, Sequence, Union

from ._ratelimit import RateLimiter

BAR_FORMAT = "{desc}: {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} codes [{elapsed}{postfix}]"


def in_notebook() -> bool:
    """Whether this runs in a Jupyter kernel (tqdm.auto's own test)."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    return shell is not None and "IPKernelApp" in getattr(shell, "config", {})


def wanted(progress: Optional[bool]) -> bool:
    """``progress`` as asked; None: on in a terminal and in a notebook."""
    if progress is not None:
        return progress
    return in_notebook() or sys.stderr.isatty()


def plural(count: int, word: str) -> str:
    """``1 code``, ``2 codes``."""
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


class LoadProgress:
    """Counts what a load did; shows it on a tqdm bar when ``show``."""

    def __init__(self, total: int, limiters: Union[RateLimiter, Sequence[RateLimiter]], show: bool,
                 clock: Callable[[], float] = time.monotonic):
        self.total, self.done, self.requests, self.records = total, 0, 0, 0
        self.code = ""
        self._limiters = [limiters] if isinstance(limiters, RateLimiter) else list(dict.fromkeys(limiters))
        self._waits_before = sum(limiter.waits for limiter in self._limiters)
        self._waited_before = sum(limiter.waited for limiter in self._limiters)
        self._lock = threading.Lock()  # several OpenDs: one thread each
        self._clock = clock
        self._start = clock()
        self._bar = _bar(total) if show else None

    @property
    def waits(self) -> int:
        return sum(limiter.waits for limiter in self._limiters) - self._waits_before

    def start(self, code: str) -> None:
        with self._lock:
            self.code = code
            self._show()

    def request(self) -> None:
        with self._lock:
            self.requests += 1
            self._show()

    def page(self, records: int) -> None:
        with self._lock:
            self.records += records

    def finish_code(self) -> None:
        with self._lock:
            self.done += 1
            self._show()
            if self._bar is not None:
                self._bar.update(1)

    def close(self) -> None:
        if self._bar is not None:
            with self._lock:
                self._show()
                self._bar.close()
                self._bar = None

    def eta(self) -> float:
        """Seconds still to go: the requests the remaining codes should take at this run's pace per
        code (one each before any is done), at this run's time per request outside the waits,
        and never less than the rate limit allows."""
        remaining = (self.total - self.done) * (self.requests / self.done if self.done else 1.0)
        waited = sum(limiter.waited for limiter in self._limiters) - self._waited_before
        working = (self._clock() - self._start) * len(self._limiters) - waited
        pace = working / self.requests if self.requests else 0.0
        share = round(remaining / len(self._limiters))  # the OpenDs share the rest
        return max(max(limiter.seconds_for(share) for limiter in self._limiters), share * pace)

    def describe(self) -> str:
        parts = [self.code, plural(self.requests, "request"), plural(self.records, "record")]
        if self.waits:
            parts.append(f"{plural(self.waits, 'wait')} for the rate limit")
        parts.append(f"ETA {_format_seconds(self.eta())}")
        return ", ".join(part for part in parts if part)

    def _show(self) -> None:
        if self._bar is not None:
            self._bar.set_postfix_str(self.describe(), refresh=False)


def _format_seconds(seconds: float) -> str:
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def _bar(total: int) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tqdm.auto warns when ipywidgets is missing, then falls back
        from tqdm.auto import tqdm
    return tqdm(total=total, desc="buybacks", bar_format=BAR_FORMAT, leave=True)
