"""A warm read from the packs (``Cache.frame``) is exactly the frame of the cache's rows.

The reference is ``tidy_frame(schema, cache.rows(...))``: SQLite selects the rows (the current
versions, or those of a moment, each code newest first) and ``_tidy`` builds the frame from them
(tests/test_tidy.py checks that against pandas' own construction).  The histories are drawn:
pages of full fetches (completed or not), refreshes, amended records, records the server
dropped, codes cleared; every moment of the history is read, codes in any order.
"""

import logging
import sqlite3

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_tidy import assert_same

from futu_buybacks import Cache, _packs
from futu_buybacks._cache import IDENTITY, SCHEMA_VERSION, CacheUnusable
from futu_buybacks._schema import HK, SCHEMA_BY_MARKET, A
from futu_buybacks._tidy import tidy_frame

from conftest import string_configurations
from strategies import cached_records

SRC, OTHER = "simulator:test", "opend:other"
CODES = ["HK.00700", "SH.600519", "HK.09988", "SZ.000001"]


def rows_frame(cache, schema, codes=None, as_of=None, source=SRC):
    return tidy_frame(schema, cache.rows(schema, source, codes, as_of=as_of))


@st.composite
def histories(draw):
    """``(steps, moments)``: each step ``(what, source, code, records, next_key)`` at a moment of
    its own, some records amended (a value other than the identity changed) or left out."""
    pools = {code: draw(cached_records(SCHEMA_BY_MARKET[code[:2]], max_size=6)) for code in CODES}
    steps = []
    for _ in range(draw(st.integers(1, 8))):
        code = draw(st.sampled_from(CODES))
        schema = SCHEMA_BY_MARKET[code[:2]]
        what = draw(st.sampled_from(["full", "full page", "refresh", "clear"]))
        records = []
        for record in pools[code]:
            if draw(st.booleans()):
                continue  # not on this page: a completed full fetch closes it
            if draw(st.integers(0, 3)) == 0:
                name = draw(st.sampled_from([n for n in schema.names if n not in IDENTITY[schema.key]]))
                record = dict(record, **{name: draw(cached_records(schema, max_size=1).filter(len))[0][name]})
            records.append(record)
        source, next_key = draw(st.sampled_from([SRC, SRC, OTHER])), draw(st.sampled_from(["-1", "k"]))
        steps.append((what, source, code, records, next_key))
    return steps


def replay(cache, steps):
    """Store ``steps``, the n-th at moment 100 * n; returns the moments."""
    moments = []
    for n, (what, source, code, records, next_key) in enumerate(steps, 1):
        now = 100.0 * n
        moments.append(now)
        if what == "clear":
            cache.clear(source, [code])
            continue
        fetch = cache.begin_full_fetch(source, code, now) if what != "refresh" else cache.begin_refresh(source, code)
        cache.store_page(fetch, records, next_key="-1" if what == "full" else next_key, now=now)
    return moments


CHECKS = settings(max_examples=30, deadline=None, database=None,
                  suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


#: The tidy frames' string dtype depends on the storage only (not on future.infer_string).
STORAGES = [p for p in string_configurations() if p.values[0] and p.values[0][-1][0] == "mode.string_storage"
            and len(p.values[0]) == 1]


@pytest.mark.parametrize("options", STORAGES)
@CHECKS
@given(steps=histories(), batch=st.integers(1, 8), order=st.permutations(CODES + ["HK.00001", "SZ.000002"]),
       data=st.data())
def test_the_packs_give_the_frame_of_the_rows_at_every_moment(monkeypatch, options, steps, batch, order, data):
    monkeypatch.setattr(_packs, "BATCH_ROWS", batch)  # decoded a few rows at a time too
    codes = order + data.draw(st.lists(st.sampled_from(CODES), max_size=3))  # and asked twice
    with pd.option_context(*[v for opt in options for v in opt]), Cache() as cache:
        try:
            pd.StringDtype()
        except ImportError:  # the pyarrow storage chosen, pyarrow not installed: no string dtype at all
            pytest.skip("this string storage needs pyarrow")
        moments = replay(cache, steps)
        between = data.draw(st.lists(st.sampled_from([*moments, *(m + 50 for m in moments)]), max_size=3))
        for as_of in [None, 0.0, moments[-1], *between]:
            for schema in (HK, A):
                for source in (SRC, OTHER):
                    for asked in (None, codes):
                        expected = rows_frame(cache, schema, asked, as_of, source)
                        assert_same(cache.frame(schema, source, asked, as_of=as_of), expected)


def test_a_pack_is_rewritten_with_its_rows_and_gone_with_them():
    records = [{**dict.fromkeys(HK.names), "end_date": 1_700_000_000 + i, "share_type": "普通股🚀\x00",
                "buy_back_money": 1.5 + i / 3, "buy_back_sum": 2**63 - 1} for i in range(3)]
    with Cache() as cache:
        cache.store_page(cache.begin_full_fetch(SRC, "HK.00700", 1.0), records, next_key="-1", now=1.0)
        cache.store_page(cache.begin_full_fetch(SRC, "HK.00700", 2.0), records[1:], next_key="-1", now=2.0)
        frame = cache.frame(HK, SRC, ["HK.00700"])
        assert_same(frame, rows_frame(cache, HK, ["HK.00700"]))
        assert frame["end_date"].tolist() == [1_700_000_002, 1_700_000_001]
        assert frame["share_type"].tolist() == ["普通股🚀\x00"] * 2
        assert frame["buy_back_money"].tolist() == [1.5 + 2 / 3, 1.5 + 1 / 3]
        assert len(cache.frame(HK, SRC, ["HK.00700"], as_of=1.5)) == 3
        assert cache.clear(SRC, ["HK.00700"]) == 3  # two current versions, one closed
        assert cache._db.execute("SELECT COUNT(*) FROM packs").fetchone()[0] == 0
        assert cache.frame(HK, SRC).empty and list(cache.frame(HK, SRC).dtypes) == list(rows_frame(cache, HK).dtypes)


def layout_2(path):
    """A cache as the version before the packs left it: versions of HK and A records."""
    with Cache(path) as cache:
        for now in (1.0, 2.0):
            for code in ("HK.00700", "SH.600519"):
                schema = SCHEMA_BY_MARKET[code[:2]]
                records = [{**dict.fromkeys(schema.names), IDENTITY[schema.key][0]: 1_700_000_000 + i,
                            "buy_back_money": now * i} for i in range(4)]
                cache.store_page(cache.begin_full_fetch(SRC, code, now), records, next_key="-1", now=now)
    db = sqlite3.connect(path)
    db.execute("DROP TABLE packs")
    db.execute("UPDATE meta SET value = '2' WHERE key = 'schema'")
    db.commit()
    db.close()


def test_a_cache_of_layout_2_is_upgraded_in_place_with_one_log_line(tmp_path, caplog):
    path = tmp_path / "c.sqlite3"
    layout_2(path)
    with pytest.raises(CacheUnusable, match="has layout 2 .*upgrades it in place, then it can be read offline"):
        Cache(path, read_only=True)
    with caplog.at_level(logging.WARNING, logger="futu_buybacks"), Cache(path) as cache:
        for schema in (HK, A):
            for as_of in (None, 1.5):
                frame = cache.frame(schema, SRC, as_of=as_of)
                assert len(frame) == 4 and frame["buy_back_money"].iloc[1] == (4.0 if as_of is None else 2.0)
                assert_same(frame, rows_frame(cache, schema, as_of=as_of))
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and f"{path} has layout 2 (this version uses {SCHEMA_VERSION}); upgraded it in " \
        "place (2 codes)" in warnings[0], warnings
    assert not list(tmp_path.glob("*.old-*"))
    with Cache(path, read_only=True) as cache:  # and now offline too
        assert len(cache.frame(A, SRC)) == 4
