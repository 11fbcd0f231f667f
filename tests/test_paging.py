"""Every page exactly once, retries, frequency refusals, failures not retried: with a fake fetch
(no network)."""

import pandas as pd
import pytest
from test_ratelimit import FakeClock

from futu_buybacks._failures import Failure, classify
from futu_buybacks._paging import MAX_REFUSALS, PageError, iter_pages
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
    assert (classify(message) is Failure.FREQUENCY) is expected


F, T, K, P = Failure.FREQUENCY, Failure.TRANSIENT, Failure.REJECTED_KEY, Failure.PERMANENT
MESSAGES = [
    # the simulator (futu_buybacks/simulator/_server.py)
    (FREQUENCY_MESSAGE, F), ("unknown stock HK.99999", P), ("num out of range (1~50): 0", P),
    ("invalid nextKey '100'", K), ("buyback data is only available for HK and A-share securities", P),
    ("invalid request body: Error parsing message", P), ("simulated server error", T),
    # OpenD, as reported by users and in the vendor's docs
    ("Unknow stock01835", P), ("行情权限不足", P), ("缺少必要的参数: securityFirm", P), ("服务器繁忙", T),
    ("获取数据频率太高", F), ("unknown protocol 3235", P),
    # the SDKs' own transport (futu-api / moomoo-api 9.6 to 10.11)
    ("Timeout", T), ("PacketErr.Timeout", T), ("Abnormal event timeout", T), ("Connect timeout", T),
    ("Disconnect", T), ("PacketErr.Disconnect", T), ("Connection lost", T), ("Connection closed", T),
    ("Not connected", T), ("PacketErr.SendFail", T), ("[Errno 32] Broken pipe", T),
    ("proto_id:3235 conn_id:7 check sha error!", T), ("Packet data error", T),
    ("ERROR. format of code HK00700 is wrong. (US.AAPL, HK.00700, SZ.000001)", P),
    ("ERROR. the type of code param is wrong", P), ("Parameter error", P),
    # the shim
    ("the reply to protocol 3235 could not be decoded (corrupt or truncated body)", T),
    ("reply to protocol 3235 is not a valid Response: Error parsing message", T),
    ("OpenD answered protocol 3235 with retType -100 and no message", T),
    ("unknown protocol 3235 (this OpenD does not know protocol 3235, get_corporate_actions_buybacks: "
     "upgrade OpenD to 10.6 or later)", P),
    ("num must be an int in 1..50, got 0", P),
    ("code market 'US' is not served by the buyback service; accepted: ...", P),
    # nobody listed it: retried
    ("something new", T), ("", T),
]


@pytest.mark.parametrize("message, expected", MESSAGES, ids=[m for m, _ in MESSAGES])
def test_every_known_message_is_classified(message, expected):
    assert classify(message, next_key="50") is expected


def test_a_key_message_for_the_first_page_is_permanent():
    assert classify("invalid nextKey ''", next_key=None) is Failure.PERMANENT
    assert classify("invalid nextKey ''", next_key="") is Failure.PERMANENT


def test_a_message_matching_transient_and_permanent_is_retried():
    assert classify("参数校验超时") is Failure.TRANSIENT


@pytest.mark.parametrize("message", ["unknown stock HK.99999", "行情权限不足", "num out of range (1~50): 0"])
def test_a_permanent_failure_is_not_retried(message):
    fetch = Pages(25, failures=[message])
    sleeps = []
    with pytest.raises(PageError) as info:
        list(iter_pages(fetch, "HK.99999", num=10, retries=2, sleep=sleeps.append))
    assert fetch.calls == [None] and sleeps == []
    assert info.value.failure is Failure.PERMANENT and not info.value.rejected_key
    assert info.value.message == message


def test_a_rejected_key_is_not_retried_and_says_so():
    fetch = Pages(25, failures=[None, "invalid nextKey '10'"])
    pages = iter_pages(fetch, "HK.00700", num=10, retries=2, sleep=lambda s: None)
    assert rows([next(pages)]) == list(range(10))
    with pytest.raises(PageError) as info:
        next(pages)
    assert fetch.calls == [None, "10"]
    assert info.value.rejected_key and info.value.next_key == "10"


def test_a_failure_nobody_listed_is_retried_as_transient():
    fetch = Pages(5, failures=["something new", "something new"])
    assert rows(iter_pages(fetch, "HK.00700", num=10, retries=2, sleep=lambda s: None)) == list(range(5))
    assert fetch.calls == [None, None, None]


def test_refusals_beyond_the_cap_count_as_failures():
    fetch = Pages(5, failures=[FREQUENCY_MESSAGE] * (MAX_REFUSALS + 3))
    with pytest.raises(PageError) as info:
        list(iter_pages(fetch, "HK.00700", num=10, retries=2, sleep=lambda s: None))
    assert len(fetch.calls) == MAX_REFUSALS + 3 and info.value.failure is Failure.TRANSIENT
