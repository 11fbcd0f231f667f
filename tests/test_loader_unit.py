"""What the loader spends on pages that fail, with a fake context (no network, no SDK).

Any object with ``get_corporate_actions_buybacks`` is a context to the loader (with a cache in
memory: it cannot say which server it is); this one answers from a list of rows and can refuse
page keys.
"""

import datetime as dt
import functools

import pandas as pd
import pytest

from futu_buybacks import Cache, RateLimiter, load_buybacks
from futu_buybacks._schema import HK
from futu_buybacks._sources import UNIDENTIFIED

SOURCE = UNIDENTIFIED  # a fake context can't say what it talks to: it loads into memory only


def hk_rows(count, newest=0):
    return [{"end_date": 1_800_000_000 - 86400 * (newest + i), "share_type": "普通股"} for i in range(count)]


class FakeOpenD:
    """``rows`` of one HK code, pages keyed by offset; ``rejects(key)`` refuses a key as the simulator does."""

    def __init__(self, rows, rejects=lambda key: False, unknown=()):
        self.rows, self.rejects, self.unknown = rows, rejects, set(unknown)
        self.calls = []

    def get_corporate_actions_buybacks(self, code, next_key=None, num=None):
        self.calls.append((code, next_key))
        if code in self.unknown:
            return -1, f"unknown stock {code}"
        if next_key and self.rejects(next_key):
            return -1, f"invalid nextKey {next_key!r}"
        start = int(next_key or 0)
        end = min(start + num, len(self.rows))
        return 0, {"next_key": str(end) if end < len(self.rows) else "-1",
                   "hk_buy_back_list": pd.DataFrame(self.rows[start:end], columns=HK.names),
                   "a_buy_back_list": pd.DataFrame()}


def load(fake, cache, **kwargs):
    return load_buybacks(["HK.00700"], fake, cache=cache, limiter=RateLimiter("1000/1"), progress=False, **kwargs)


def stuck_cache(key):
    """A cache as a run interrupted mid full fetch leaves it: first page stored, ``key`` saved."""
    cache = Cache(":memory:")
    cache.store_page(cache.begin_full_fetch(SOURCE, "HK.00700", 1.0), hk_rows(1), next_key=key, now=1.0)
    state = cache.state(SOURCE, "HK.00700")
    assert not state.complete and state.resume_key == key and state.full_at is None
    return cache


def test_a_rejected_resume_key_restarts_the_full_fetch_and_heals():
    fake = FakeOpenD(hk_rows(120), rejects=lambda key: key == "stale")
    cache = stuck_cache("stale")
    tables = load(fake, cache)
    assert tables.ok and tables.requests == 1 + 3 and len(tables.hk_buy_back_list) == 120
    assert fake.calls == [("HK.00700", "stale"), ("HK.00700", None), ("HK.00700", "50"), ("HK.00700", "100")]
    assert cache.state(SOURCE, "HK.00700").complete
    assert load(fake, cache, fresh_for=dt.timedelta(0)).requests == 1  # an ordinary refresh from now on


def test_a_server_rejecting_every_key_is_tried_once_more_not_forever():
    fake = FakeOpenD(hk_rows(120), rejects=lambda key: True)
    tables = load(fake, stuck_cache("stale"))
    assert tables.errors == {"HK.00700": "invalid nextKey '50'"}
    assert fake.calls == [("HK.00700", "stale"), ("HK.00700", None), ("HK.00700", "50")]
    assert tables.requests == 3


def test_a_key_rejected_during_a_refresh_starts_the_refresh_again_once():
    fake = FakeOpenD(hk_rows(120))
    cache = Cache(":memory:")
    load(fake, cache)
    fake.rows[:0] = hk_rows(60, newest=-60)  # 60 new records: a refresh needs two pages
    fake.rejects, fake.calls = (lambda key: True), []
    tables = load(fake, cache, fresh_for=dt.timedelta(0))
    assert fake.calls == [("HK.00700", None), ("HK.00700", "50")] * 2
    assert tables.errors == {"HK.00700": "invalid nextKey '50'"} and cache.state(SOURCE, "HK.00700").complete


def test_unknown_codes_cost_one_request_each():
    codes = ["HK.09991", "HK.09992", "HK.09993", "HK.09994"]
    fake = FakeOpenD(hk_rows(10), unknown=codes)
    tables = load_buybacks(codes, fake, cache=False, retries=2, limiter=RateLimiter("1000/1"), progress=False)
    assert tables.errors == {code: f"unknown stock {code}" for code in codes}
    assert tables.requests == len(fake.calls) == 4


@pytest.mark.parametrize("retries", [0, 2, 5])
def test_a_transient_failure_costs_retries_plus_one(retries, monkeypatch):
    from futu_buybacks import _loader
    monkeypatch.setattr(_loader, "iter_pages", functools.partial(_loader.iter_pages, sleep=lambda seconds: None))
    fake = FakeOpenD(hk_rows(10))
    fake.get_corporate_actions_buybacks = lambda code, next_key=None, num=None: (
        fake.calls.append((code, next_key)) or (-1, "Timeout"))
    tables = load_buybacks(["HK.00700"], fake, cache=False, retries=retries, limiter=RateLimiter("1000/1"),
                           progress=False)
    assert tables.errors == {"HK.00700": "Timeout"} and tables.requests == len(fake.calls) == retries + 1
