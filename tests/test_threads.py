"""Threads sharing one context: every result belongs to its own request, no deadlock."""

import concurrent.futures
import itertools
import random

import pytest

from conftest import assert_same_result

pytestmark = pytest.mark.e2e

THREADS, CALLS = 8, 100


def test_eight_threads_share_one_context(ctx, simulator):
    codes = sorted(simulator.dataset.records)
    # Every (code, page) the threads will ask for, answered one at a time first.
    calls = [(code, key, num) for code, num in itertools.product(codes, (1, 7, 50))
             for key in (None, str(num))]
    expected = {call: ctx.get_corporate_actions_buybacks(call[0], next_key=call[1], num=call[2]) for call in calls}
    assert len({result[1]["next_key"] if result[0] == 0 else result[1] for result in expected.values()}) > 3

    def worker(seed):
        rng = random.Random(seed)
        for _ in range(CALLS):
            call = rng.choice(calls)
            got = ctx.get_corporate_actions_buybacks(call[0], next_key=call[1], num=call[2])
            assert_same_result(got, expected[call])  # pandas at work in every thread at once
        return CALLS

    with concurrent.futures.ThreadPoolExecutor(THREADS) as pool:
        futures = [pool.submit(worker, seed) for seed in range(THREADS)]
        done = [future.result(timeout=120) for future in futures]
    assert sum(done) == THREADS * CALLS
