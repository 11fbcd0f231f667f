"""A loader run in its own process, for the crash and two-process tests.

    python loader_process.py SDK PORT CACHE CODES RATE [KILL_MODE KILL_AT]

KILL_MODE ``mid`` sends itself SIGKILL inside the KILL_AT-th cache transaction, before its
COMMIT; ``after`` right after that COMMIT.  When it finishes it writes a JSON summary to the
file named by $LOADER_RESULT (the SDK's own log lines share stdout).  $LOADER_MARGIN, if set,
is the rate limiter's safety margin (a fraction of the window).
"""

import importlib
import json
import os
import signal
import sys

from futu_buybacks import RateLimiter, _cache, load_buybacks
from futu_buybacks._ratelimit import DEFAULT_MARGIN


def kill_at_transaction(mode: str, count: int) -> None:
    original = _cache._Transaction.__exit__
    seen = [0]

    def exit_then_maybe_die(self, *exc):
        seen[0] += 1
        if mode == "mid" and seen[0] == count:
            os.kill(os.getpid(), signal.SIGKILL)
        result = original(self, *exc)
        if mode == "after" and seen[0] == count:
            os.kill(os.getpid(), signal.SIGKILL)
        return result

    _cache._Transaction.__exit__ = exit_then_maybe_die


def main(sdk: str, port: str, cache: str, codes: str, rate: str, mode: str = "", at: str = "0") -> None:
    if mode:
        kill_at_transaction(mode, int(at))
    ctx = importlib.import_module(sdk).OpenQuoteContext(host="127.0.0.1", port=int(port))
    limiter = RateLimiter(rate, margin=float(os.environ.get("LOADER_MARGIN", DEFAULT_MARGIN)))
    try:
        tables = load_buybacks(codes.split(","), ctx, cache=cache, limiter=limiter, progress=False)
    finally:
        ctx.close()
    summary = {"requests": tables.requests, "errors": tables.errors,
               "hk": len(tables.hk_buy_back_list), "a": len(tables.a_buy_back_list)}
    with open(os.environ["LOADER_RESULT"], "w", encoding="utf-8") as handle:
        json.dump(summary, handle)


if __name__ == "__main__":
    main(*sys.argv[1:])
