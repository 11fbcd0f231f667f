"""The sliding window, on a fake clock (no sleeping)."""

import logging
import threading

import pytest

from futu_buybacks import InvalidArgument, RateLimiter
from futu_buybacks._ratelimit import parse_rate, shared_limiter


class FakeClock:
    def __init__(self):
        self.now = 1000.0
        self.lock = threading.Lock()

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        assert seconds > 0
        with self.lock:
            self.now += seconds


def arrivals(limiter, clock, n):
    times = []
    for _ in range(n):
        limiter.acquire()
        times.append(clock.now)
    return times


@pytest.mark.parametrize("count, period", [(30, 30.0), (30, 3.0), (5, 1.0)])
def test_never_more_than_count_in_any_window_and_no_idle_time(count, period):
    clock = FakeClock()
    limiter = RateLimiter((count, period), clock=clock, sleep=clock.sleep)
    times = arrivals(limiter, clock, count * 4 + 3)
    for i in range(len(times) - count):
        assert times[i + count] - times[i] >= period  # what OpenD counts: never refused
    # no idle time beyond the window (plus its margin): bursts start exactly when a slot frees
    assert times[count] - times[0] == pytest.approx(period * 1.02)
    assert times[-1] - times[0] == pytest.approx(period * 1.02 * 4)
    assert limiter.waited == pytest.approx(times[-1] - times[0])


def test_threads_share_the_window():
    clock = FakeClock()
    limiter = RateLimiter("10/10", clock=clock, sleep=clock.sleep)
    times, lock = [], threading.Lock()

    def worker():
        for _ in range(10):
            limiter.acquire()
            with lock:
                times.append(clock.now)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    times.sort()
    assert len(times) == 40
    for i in range(len(times) - 10):
        assert times[i + 10] - times[i] >= 10.0


def test_penalize_holds_off_for_the_given_time():
    clock = FakeClock()
    limiter = RateLimiter("30/30", clock=clock, sleep=clock.sleep)
    limiter.acquire()
    limiter.penalize(5.0)
    start = clock.now
    limiter.acquire()
    assert clock.now - start == pytest.approx(5.0)


@pytest.mark.parametrize("text, expected", [("30/30", (30, 30.0)), (" 15 / 30 ", (15, 30.0)), ("30/3.5", (30, 3.5))])
def test_parse_rate(text, expected):
    assert parse_rate(text) == expected


@pytest.mark.parametrize("text", ["30", "a/b", "0/30", "30/0", "-1/30", 30, None, (30,), (30, "30"),
                                  (30, float("inf")), (float("nan"), 30), (True, 30), {"30": 30}])
def test_bad_rate(text):
    with pytest.raises(InvalidArgument, match="rate"):
        parse_rate(text)


def test_one_limiter_per_opend_address():
    with shared_limiter(("127.0.0.1", 1), "30/30") as a, shared_limiter(("127.0.0.1", 1), "30/30") as same:
        assert same is a
        with shared_limiter(("127.0.0.1", 2), "30/30") as other:
            assert other is not a


def test_loaders_running_together_get_the_strictest_rate_and_each_alone_its_own(caplog):
    """Found: the rate asked for last applied to every loader of that OpenD, silently; a
    loader asking 30/30 beside one asking 10/30 made both run at 30/30 and broke the promise."""
    address = ("127.0.0.1", 3)
    with caplog.at_level(logging.INFO, logger="futu_buybacks"):
        with shared_limiter(address, "10/30") as first:
            assert (first.count, first.period) == (10, 30.0)
            with shared_limiter(address, "30/30") as second:
                assert second is first and (first.count, first.period) == (10, 30.0)
                with shared_limiter(address, "5/3") as third:
                    assert (third.count, third.period) == (5, 30.0)  # 5 in any 3 s and 10 in any 30 s
                assert (first.count, first.period) == (10, 30.0)
            assert (first.count, first.period) == (10, 30.0)
    assert "asked for 10/30, 30/30: they run at 10/30 together" in caplog.text
    with shared_limiter(address, "30/30") as alone:  # nothing else runs now: its own rate
        assert alone is first and (alone.count, alone.period) == (30, 30.0)
    with pytest.raises(RuntimeError):
        with shared_limiter(address, "15/30"):
            raise RuntimeError("a load that fails still withdraws its rate")
    with shared_limiter(address, "20/30") as after:
        assert (after.count, after.period) == (20, 30.0)


def test_the_window_outlives_the_loader_that_filled_it():
    address = ("127.0.0.1", 4)
    clock = FakeClock()
    with shared_limiter(address, "3/10") as limiter:
        limiter._clock, limiter._sleep = clock, clock.sleep
        arrivals(limiter, clock, 3)
    with shared_limiter(address, "3/10") as again:  # the next cell, a moment later
        start = clock.now
        arrivals(again, clock, 1)
    assert clock.now - start >= 10.0  # it waited for the window, instead of a fresh budget
