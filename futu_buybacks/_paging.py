"""Every page of one code, under the rate limit, with retries (no storage, no frames of our own).

Works through any object with ``get_corporate_actions_buybacks`` (the native method or the
shim); a context without it goes through the shim function.
"""

import logging
import time
from typing import Any, Callable, Iterator, Optional, Tuple

from ._codes import END_KEY
from ._errors import BuybacksError
from ._failures import Failure, classify
from ._protocol import RET_OK
from ._ratelimit import RateLimiter

MAX_REFUSALS = 20  # refusals for frequency waited out per page; then they count as failures
log = logging.getLogger("futu_buybacks")

FetchPage = Callable[..., Tuple[int, Any]]


class PageError(BuybacksError):
    """A page failed for good; ``next_key`` is where the code stopped, ``failure`` why (``_failures``).

    ``rejected_key``: OpenD refused ``next_key`` itself, so the code can only go on from its
    first page.
    """

    def __init__(self, code: str, next_key: Optional[str], message: str,
                 failure: Failure = Failure.TRANSIENT):
        super().__init__(f"{code}: {message}")
        self.code, self.next_key, self.message, self.failure = code, next_key, message, failure

    @property
    def rejected_key(self) -> bool:
        return self.failure is Failure.REJECTED_KEY


def page_fetcher(ctx: Any) -> FetchPage:
    """``ctx.get_corporate_actions_buybacks``, or the shim's function bound to ``ctx``."""
    method = getattr(ctx, "get_corporate_actions_buybacks", None)
    if method is not None:
        return method
    from ._shim import get_corporate_actions_buybacks
    return lambda code, next_key=None, num=None: get_corporate_actions_buybacks(ctx, code, next_key, num)


def iter_pages(fetch: FetchPage, code: str, *, num: int = 50, start_key: Optional[str] = None,
               limiter: Optional[RateLimiter] = None, retries: int = 2, backoff: float = 0.5,
               sleep: Callable[[float], None] = time.sleep,
               on_request: Optional[Callable[[], None]] = None) -> Iterator[Tuple[Optional[str], dict]]:
    """Yield ``(key, data)`` for each page from ``start_key`` until ``next_key == "-1"``.

    ``key`` is the ``next_key`` the page was asked with (None for the first).  What a failed page
    costs depends on its message (``_failures.classify``): a refusal for frequency waits out the
    window (``limiter.penalize``) and is asked again without counting as a failure; a transient
    failure is retried ``retries`` times with exponential backoff; a permanent one, or a key
    OpenD rejects, is not retried.  A page that fails for good raises :class:`PageError`; the
    pages yielded before it stand.
    """
    key = start_key
    while key != END_KEY:
        failures = refusals = 0
        while True:
            if limiter is not None:
                limiter.acquire()
            if on_request is not None:
                on_request()
            ret, data = fetch(code, next_key=key, num=num)
            if ret == RET_OK:
                break
            failure = classify(data, key)
            if failure is Failure.FREQUENCY and refusals < MAX_REFUSALS:
                refusals += 1
                log.info("futu_buybacks: %s: OpenD refused a request for frequency (%s); waiting", code, data)
                if limiter is not None:
                    limiter.penalize(limiter.period / 2)
                else:
                    sleep(backoff * 2 ** min(refusals, 6))
                continue
            if failure in (Failure.PERMANENT, Failure.REJECTED_KEY):
                log.info("futu_buybacks: %s: %s (%s: not retried)", code, data, failure.value)
                raise PageError(code, key, str(data), failure)
            failures += 1
            if failures > retries:
                raise PageError(code, key, str(data), Failure.TRANSIENT)
            log.info("futu_buybacks: %s: %s; retry %d of %d", code, data, failures, retries)
            sleep(backoff * 2 ** (failures - 1))
        yield key, data
        key = data["next_key"]
