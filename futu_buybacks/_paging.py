"""Every page of one code, under the rate limit, with retries (no storage, no frames of our own).

Works through any object with ``get_corporate_actions_buybacks`` (the native method or the
shim); a context without it goes through the shim function.
"""

import logging
import time
from typing import Any, Callable, Iterator, Optional, Tuple

from ._codes import END_KEY
from ._errors import BuybacksError
from ._protocol import RET_OK
from ._ratelimit import RateLimiter

#: Substrings of OpenD's messages for a request refused over the rate limit.
FREQUENCY_HINTS = ("频率", "frequen", "too many", "too often")
MAX_REFUSALS = 20
log = logging.getLogger("futu_buybacks")

FetchPage = Callable[..., Tuple[int, Any]]


class PageError(BuybacksError):
    """A page still failed after the retries; ``next_key`` is where the code stopped."""

    def __init__(self, code: str, next_key: Optional[str], message: str):
        super().__init__(f"{code}: {message}")
        self.code, self.next_key, self.message = code, next_key, message


def is_frequency_refusal(message: str) -> bool:
    text = str(message).lower()
    return any(hint in text for hint in FREQUENCY_HINTS)


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

    ``key`` is the ``next_key`` the page was asked with (None for the first).  A failed page is
    retried ``retries`` times with exponential backoff; a refusal for frequency waits out the
    window (``limiter.penalize``) and is retried without counting as a failure.  A page that
    still fails raises :class:`PageError`; the pages yielded before it stand.
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
            if is_frequency_refusal(data) and refusals < MAX_REFUSALS:
                refusals += 1
                log.info("futu_buybacks: %s: OpenD refused a request for frequency (%s); waiting", code, data)
                if limiter is not None:
                    limiter.penalize(limiter.period / 2)
                else:
                    sleep(backoff * 2 ** min(refusals, 6))
                continue
            failures += 1
            if failures > retries:
                raise PageError(code, key, str(data))
            log.info("futu_buybacks: %s: %s; retry %d of %d", code, data, failures, retries)
            sleep(backoff * 2 ** (failures - 1))
        yield key, data
        key = data["next_key"]
