"""The tidy frames built a chunk at a time equal the ones built from every row at once.

The reference is the construction ``tidy_frame`` used before the chunked one (issue 13 §5):
``DataFrame.from_records`` of all the rows, then ``astype`` to the tidy dtypes.  That one loses
ints beyond 2**53 in a column that also holds a missing value (pandas casts such a column through
float64: 2**53 + 1 came back as 2**53, 2**63 - 1 raised TypeError); every frame is also compared
value by value with the rows, and only that comparison applies to those.
"""

import sqlite3

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from futu_buybacks import Cache
from futu_buybacks._schema import FRAMES, HK, A
from futu_buybacks._tidy import (
    FIRST_SEEN,
    FIRST_SEEN_DTYPE,
    empty_tidy_frame,
    tidy_dtypes,
    tidy_frame,
    tidy_frame_from_chunks,
)

from conftest import string_configurations
from strategies import cached_records, cached_rows

SRC = "simulator:test"
CHECKS = settings(max_examples=80, deadline=None, database=None,
                  suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def reference_frame(schema, rows, drop=()):
    names = ["code", *schema.names, FIRST_SEEN]
    frame = pd.DataFrame.from_records(list(rows), columns=names, coerce_float=False) if rows else \
        pd.DataFrame({name: [] for name in names})
    seconds = pd.to_numeric(frame.pop(FIRST_SEEN), errors="coerce").astype("float64")
    frame = frame.drop(columns=list(drop)).astype(
        {k: v for k, v in tidy_dtypes(schema).items() if k not in drop and k != FIRST_SEEN})
    frame[FIRST_SEEN] = pd.to_datetime(seconds, unit="s", utc=True).dt.round("us").astype(FIRST_SEEN_DTYPE)
    return frame


def assert_same(frame, expected):
    pd.testing.assert_frame_equal(frame, expected, check_exact=True, check_index_type=True,
                                  check_column_type=True)
    assert type(frame.index) is type(expected.index) and list(frame.dtypes) == list(expected.dtypes)
    for name in frame.columns:  # assert_frame_equal takes -0.0 for 0.0
        if frame[name].dtype == np.float64:
            assert np.array_equal(np.signbit(frame[name].to_numpy()), np.signbit(expected[name].to_numpy()))


def assert_values_are_the_rows(schema, frame, rows):
    """Every cell is the stored value exactly (None for a missing one), dtypes are the tidy ones."""
    assert list(frame.dtypes) == [pd.api.types.pandas_dtype(d) for d in tidy_dtypes(schema).values()]
    assert list(frame.columns) == ["code", *schema.names, FIRST_SEEN]
    assert frame.index.equals(pd.RangeIndex(len(rows)))
    for i, name in enumerate(frame.columns[:-1]):  # first_seen: to the microsecond, as the reference
        got = [None if v is pd.NA or v != v else v for v in frame[name].tolist()]
        assert got == [row[i] for row in rows], name


def beyond_float(schema, rows):
    """The int columns holding a missing value and an int that float64 may not hold exactly."""
    return [c.name for i, c in enumerate(schema.columns, 1) if c.kind == "int"
            and any(r[i] is None for r in rows) and any(r[i] is not None and abs(r[i]) > 2**53 for r in rows)]


def assert_as_before(schema, frame, rows):
    assert_values_are_the_rows(schema, frame, rows)
    lossy = beyond_float(schema, rows)
    assert_same(frame.drop(columns=lossy), reference_frame(schema, rows, drop=lossy))


@st.composite
def split(draw, rows):
    """``rows`` cut into chunks at random places, empty chunks among them."""
    cuts = sorted(draw(st.lists(st.integers(0, len(rows)), max_size=6)))
    edges = [0, *cuts, len(rows)]
    return [rows[a:b] for a, b in zip(edges, edges[1:])]


@pytest.mark.parametrize("schema", FRAMES, ids=lambda s: s.market)
@CHECKS
@given(data=st.data())
def test_chunks_build_the_frame_all_rows_build(schema, data):
    rows = data.draw(cached_rows(schema))
    chunks = data.draw(split(rows))
    assert_as_before(schema, tidy_frame_from_chunks(schema, iter(chunks)), rows)
    assert_as_before(schema, tidy_frame(schema, rows), rows)


@pytest.mark.parametrize("options", string_configurations())
def test_as_before_under_every_string_option(options):
    """The ``string`` dtype's storage (python or pyarrow) is the options' when the frame is built."""
    rows = [("HK.00700", 1, "2026-04-09", None, None, 1.5, 2, None, 3.0, 2.5, 9, 0.1, "普通股", 1.7e9),
            ("HK.09988", None, None, 5, "", None, None, 0.5, None, None, None, None, None, None)] * 3
    with pd.option_context(*[v for opt in options for v in opt]):
        try:
            pd.StringDtype()
        except ImportError:  # the pyarrow storage chosen, pyarrow not installed: no string dtype at all
            pytest.skip("this string storage needs pyarrow")
        frame = tidy_frame_from_chunks(HK, [rows[:1], rows[1:4], rows[4:]])
        assert_as_before(HK, frame, rows)
        assert frame["code"].dtype == pd.StringDtype()  # this option's storage


@pytest.mark.parametrize("schema", FRAMES, ids=lambda s: s.market)
def test_no_rows_and_no_chunks_give_the_empty_frame(schema):
    for chunks in ([], [[]], [[], []]):
        assert_same(tidy_frame_from_chunks(schema, chunks), reference_frame(schema, []))
    assert_same(empty_tidy_frame(schema), reference_frame(schema, []))


@pytest.mark.filterwarnings("ignore:invalid value encountered in cast:RuntimeWarning")
def test_64_bit_ints_next_to_missing_values_are_exact():
    """Which the construction before was not (see the module's docstring)."""
    big = [2**63 - 1, -2**63, None, 2**53 + 1, 0]
    rows = [("HK.00700", None, "普通股🚀\x00", v, None, float("inf") if v else -0.0, v, None, None, None, v, None,
             "", 1.7e9) for v in big]
    frame = tidy_frame_from_chunks(HK, [rows[:2], rows[2:3], [], rows[3:]])
    assert_values_are_the_rows(HK, frame, rows)
    assert frame["end_date"].tolist() == [2**63 - 1, -2**63, pd.NA, 2**53 + 1, 0]
    assert beyond_float(HK, rows) == ["end_date", "buy_back_sum", "cumulative_sum"]
    with pytest.raises(TypeError, match="cannot safely cast"):
        reference_frame(HK, rows)
    assert reference_frame(HK, rows[2:4])["end_date"].tolist() == [pd.NA, 2**53]
    fine = [row for row in rows if row[3] is not None]  # without the missing value it was exact
    assert_same(tidy_frame_from_chunks(HK, [fine[:1], fine[1:]]), reference_frame(HK, fine))


@settings(CHECKS, max_examples=40)
@given(data=st.data())
def test_the_cache_read_in_chunks_is_the_cache_read_at_once(data):
    """Through SQLite: stored records read back in chunks of any size, several codes in the order asked."""
    codes = ["HK.00700", "SZ.000001", "HK.09988", "SH.600519"]
    with Cache(":memory:") as cache:
        for number, code in enumerate(codes):
            schema = HK if code.startswith("HK") else A
            records = data.draw(cached_records(schema))
            fetch = cache.begin_full_fetch(SRC, code, 1.6e9 + number)
            cache.store_page(fetch, records, next_key="-1", now=1.6e9 + number)
        wanted = data.draw(st.permutations(codes + ["HK.00001"]))
        size = data.draw(st.integers(1, 7))
        for schema in (HK, A):
            rows = cache.rows(schema, SRC, wanted)
            chunks = list(cache.row_chunks(schema, SRC, wanted, size=size))
            assert all(0 < len(chunk) <= size for chunk in chunks) and sum(chunks, []) == rows
            assert_as_before(schema, tidy_frame_from_chunks(schema, cache.row_chunks(schema, SRC, wanted, size=size)),
                             rows)
            assert sum(cache.row_chunks(schema, SRC, None, size=size), []) == cache.rows(schema, SRC)


def _filled(path, codes=("HK.00700", "HK.09988"), per_code=30):
    from futu_buybacks.simulator import synthetic_records
    cache = Cache(path)
    for code in codes:
        cache.store_page(cache.begin_full_fetch(SRC, code, 1.6e9), synthetic_records(code, per_code),
                         next_key="-1", now=1.6e9)
    return cache


def test_a_read_in_progress_does_not_hold_up_a_writer(tmp_path):
    path = tmp_path / "c.sqlite3"
    with _filled(path) as cache:
        chunks = cache.row_chunks(HK, SRC, ["HK.00700", "HK.09988"], size=10)
        first = next(chunks)
        writer = sqlite3.connect(path, timeout=0.1, isolation_level=None)
        writer.execute("BEGIN IMMEDIATE")
        writer.execute("DELETE FROM hk_records")
        writer.execute("COMMIT")
        writer.close()
        rest = sum(chunks, [])  # the read goes on in the snapshot it started in
        assert len(first) + len(rest) == 60 and cache.rows(HK, SRC) == []


def test_reading_needs_no_sort(tmp_path):
    """The index walks each code newest first, so the first rows of a million come without sorting them all."""
    with _filled(tmp_path / "c.sqlite3") as cache:
        statements = []
        cache._db.set_trace_callback(statements.append)
        for codes in (["HK.09988", "HK.00700"], None):
            list(cache.row_chunks(HK, SRC, codes))
        cache._db.set_trace_callback(None)
        reads = [s for s in statements if s.lstrip().upper().startswith("SELECT R.CODE")]
        assert len(reads) == 3  # one per code asked (each walked by the index), one for every code
        for sql in reads:
            plan = " / ".join(row[-1] for row in cache._db.execute("EXPLAIN QUERY PLAN " + sql))
            assert "TEMP B-TREE" not in plan, plan
