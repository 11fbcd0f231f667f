"""``make soak``: the long runs. Each is bounded, and any failure or crash fails the soak.

1. The whole suite ``SOAK_RUNS`` times (default 5), each in a new random global order
   (pytest-random-order, seed printed) over two worker processes (pytest-xdist), with faulthandler
   on and ``SOAK_LOAD`` busy processes (default 1) beside them: a crash that depends on which
   tests ran before, or on a busy machine, shows up here with every thread's Python traceback.
2. ``FUZZ_EXAMPLES`` examples per property (default 10,000) and the chaos load over
   ``CHAOS_CODES`` codes (default 300).

Run it with ``make soak``; ``SOAK_RUNS=20 make soak`` for a longer one.  Reproduce a failed run
with the seed it printed: ``.venv/bin/python -m pytest -n 2 --dist worksteal -p random_order
--random-order-bucket=global --random-order-seed=SEED``.
"""

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYTEST = [sys.executable, "-X", "faulthandler", "-m", "pytest", "-q", "-p", "no:cacheprovider"]
WORKERS = ["-n", "2", "--dist", "worksteal"]  # a worker without tests left takes over half of another's


def busy() -> subprocess.Popen:
    """One process that keeps a core busy until it is killed."""
    return subprocess.Popen([sys.executable, "-c", "while True: pass"], stdin=subprocess.DEVNULL)


def run(args: list, env: dict, what: str) -> bool:
    start = time.monotonic()
    result = subprocess.run(args, cwd=ROOT, env=env, stdin=subprocess.DEVNULL)
    took = time.monotonic() - start
    if result.returncode < 0:
        print(f"soak: {what} CRASHED with {signal.Signals(-result.returncode).name} after {took:.0f} s",
              flush=True)
    elif result.returncode:
        print(f"soak: {what} failed (exit {result.returncode}) after {took:.0f} s", flush=True)
    else:
        print(f"soak: {what} passed in {took:.0f} s", flush=True)
    return result.returncode == 0


def main() -> int:
    runs = int(os.environ.get("SOAK_RUNS", "5"))
    load = int(os.environ.get("SOAK_LOAD", "1"))
    env = dict(os.environ, PYTHONFAULTHANDLER="1")
    ok = True
    hogs = [busy() for _ in range(load)]
    try:
        for number in range(1, runs + 1):
            seed = random.SystemRandom().randrange(1, 2**31)
            ok &= run(PYTEST + WORKERS + ["-p", "random_order", "--random-order-bucket=global",
                                          f"--random-order-seed={seed}"], env,
                      f"suite run {number}/{runs} (random order, seed {seed}, {load} busy process(es))")
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()
    long_env = dict(env, FUZZ_EXAMPLES=os.environ.get("FUZZ_EXAMPLES", "10000"),
                    CHAOS_CODES=os.environ.get("CHAOS_CODES", "300"))
    ok &= run(PYTEST + WORKERS + ["tests/test_fuzz.py",
                                  "tests/test_reliability.py::test_chaos_every_record_exactly_once"],
              long_env, "fuzz and chaos")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
