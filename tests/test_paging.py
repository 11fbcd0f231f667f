"""Every page exactly once, retries, frequency refusals: with a fake fetch (no network)."""

import pandas as pd
import pytest
from test_ratelimit import FakeClock

from futu_buybacks._paging import PageError, is_frequency_refusal, iter_pages
from futu_buybacks._ratelimit import RateLimiter
from futu_buybacks.simulator import FREQUENCY_MESSAGE


class Pages:
    """A fake ``get_corporate_actions_buybacks`` over ``total`` rows, with scripted failures."""

    def __init__(self, total, failures=()):
        self.total, self.failures, self.calls = total, list(failures), []

    def __call__(self, code, next_key=None, num=None):
        self.calls.append(next_key)
        if self.failures:
            failure = self.failures.pop(0)
            if failure:
                return -1, failure
        start = int(next_key or 0)
        end = min(start + num, self.total)
        frame = pd.DataFrame({"end_date": list(range(start, end))})
        return 0, {"next_key": str(end) if end < self.total else "-1", "hk_buy_back_list": frame}


def rows(pages):
    return [v for _, data in pages for v in data["hk_buy_back_list"]["end_date"]]


@pytest.mark.parametrize("total, num", [(0, 50), (1, 50), (50, 50), (51, 50), (123, 7)])
def test_every_row_exactly_once(total, num):
    fetch = Pages(total)
    assert rows(iter_pages(fetch, "HK.00700", num=num)) == list(range(total))
    assert len(fetch.calls) == max(1, -(-total // num))


def test_resumes_from_a_key():
    assert rows(iter_pages(Pages(30), "HK.00700", num=10, start_key="20")) == list(range(20, 30))


def test_a_failed_page_is_retried_without_losing_or_repeating():
    fetch = Pages(25, failures=[None, "Timeout", "Disconnect"])
    sleeps = []
    assert rows(iter_pages(fetch, "HK.00700", num=10, retries=2, sleep=sleeps.append)) == list(range(25))
    assert fetch.calls == [None, "10", "10", "10", "20"] and sleeps == [0.5, 1.0]


def test_a_page_that_keeps_failing_raises_after_the_pages_before_it():
    fetch = Pages(25, failures=[None, "Timeout", "Timeout", "Timeout"])
    pages = iter_pages(fetch, "HK.00700", num=10, retries=2, sleep=lambda s: None)
    assert rows([next(pages)]) == list(range(10))
    with pytest.raises(PageError) as info:
        next(pages)
    assert info.value.next_key == "10" and info.value.message == "Timeout"


def test_frequency_refusals_wait_out_the_window_and_do_not_count_as_failures():
    clock = FakeClock()
    limiter = RateLimiter("30/30", clock=clock, sleep=clock.sleep)
    fetch = Pages(20, failures=[FREQUENCY_MESSAGE] * 5)
    assert rows(iter_pages(fetch, "HK.00700", num=10, limiter=limiter, retries=0)) == list(range(20))
    assert clock.now - 1000.0 == pytest.approx(5 * 15.0)


@pytest.mark.parametrize("message, expected", [
    (FREQUENCY_MESSAGE, True), ("获取数据频率太高", True), ("Request frequency limit", True),
    ("Too many requests", True), ("unknown stock HK.99999", False), ("Timeout", False)])
def test_frequency_refusal_detection(message, expected):
    assert is_frequency_refusal(message) is expected
