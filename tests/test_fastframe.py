"""The fast frame path itself: on, identical to the oracle through both readers, and safe to share.

The differential tests compare whole results, which would also pass if the fast path had
switched itself off; these tests call it directly, so they fail if it is off or wrong.
"""

import pandas as pd
import pytest
from hypothesis import given, settings
from test_differential import SHAPES, shaped_reply

from futu_buybacks import _fastframe, _frames
from futu_buybacks._fastframe import Unsupported, fast_frame, merge_lists
from futu_buybacks._schema import FRAMES, HK, A

from conftest import assert_same_frame
from strategies import Response, replies


def both_readers(s2c, schema):
    """fast_frame from the items alone and through the twin, each compared with the oracle."""
    items = getattr(s2c, schema.list_field)
    oracle = _frames.oracle_frame(items, schema)
    twin = getattr(merge_lists(s2c), schema.list_field)
    for columns in (None, twin):
        fast = fast_frame(items, schema, columns)
        assert_same_frame(fast, oracle)
        assert_placements_ascend(fast)


def assert_placements_ascend(frame):
    """pandas keeps each block's columns in ascending order (merging blocks sorts them), and some
    of its shortcuts rely on it: a frame of one block is read by to_numpy without its placement."""
    for block in frame._mgr.blocks:
        positions = block.mgr_locs.as_array
        assert (positions[1:] > positions[:-1]).all(), positions


def test_a_frame_of_one_float_block():
    """Every column float64 (ints with gaps, floats, strings unset everywhere): one block, whose
    columns must be in order for to_numpy (found by the matrix on pandas 3.1 without pyarrow)."""
    for schema in FRAMES:
        response = Response()
        response.retType = 0
        items = getattr(response.s2c, schema.list_field)
        setattr(items.add(), schema.fields[-2], 0)  # a float field, set to its default
        both_readers(response.s2c, schema)
        assert fast_frame(items, schema)._mgr.nblocks == 1


def test_the_fast_path_is_on():
    assert _frames._fast_enabled(), "the fast path switched itself off on this pandas / protobuf"


@pytest.mark.parametrize("schema, rows, sparse, whole_fields",
                         SHAPES + [(HK, 7, 0.6, False), (A, 300, 0.15, False), (A, 300, 0.3, True)],
                         ids=lambda v: getattr(v, "market", v))
def test_both_readers_equal_the_oracle_on_the_benchmark_shapes(schema, rows, sparse, whole_fields):
    both_readers(shaped_reply(schema, rows, sparse, whole_fields).s2c, schema)


@settings(max_examples=150, deadline=None, database=None)
@given(replies())
def test_both_readers_equal_the_oracle_on_generated_replies(response):
    for schema in FRAMES:
        if len(getattr(response.s2c, schema.list_field)):
            try:
                both_readers(response.s2c, schema)
            except Unsupported:  # a uint64 past int64 or a string that is not UTF-8: the oracle's job
                pass


@settings(max_examples=100, deadline=None, database=None)
@given(replies(realistic=True))
def test_the_twin_holds_each_column_in_item_order(response):
    merged = merge_lists(response.s2c)
    for schema in FRAMES:
        items = getattr(response.s2c, schema.list_field)
        columns = getattr(merged, schema.list_field)
        for field in schema.fields:
            expected = [getattr(item, field) for item in items if item.HasField(field)]
            assert list(map(repr, getattr(columns, field))) == list(map(repr, expected)), field  # NaN too


def test_vendor_frames_reads_big_replies_through_the_twin(mocker):
    spy = mocker.patch.object(_frames, "merge_lists", side_effect=merge_lists)
    small, big = shaped_reply(A, 50, 0.0), shaped_reply(A, _fastframe.TWIN_ROWS, 0.0)
    _frames.vendor_frames(small.s2c, FRAMES)
    assert spy.call_count == 0
    frames = _frames.vendor_frames(big.s2c, FRAMES)
    assert spy.call_count == 1
    assert_same_frame(frames[A.key], _frames.oracle_frame(big.s2c.aBuyBackList, A))


@pytest.mark.parametrize("bad", ["uint64 past int64", "not UTF-8"])
def test_big_replies_the_fast_path_cannot_read_come_from_the_oracle(bad):
    reply = shaped_reply(A, _fastframe.TWIN_ROWS + 10, 0.15)
    item = reply.s2c.aBuyBackList[_fastframe.TWIN_ROWS - 3]
    if bad == "uint64 past int64":
        item.changeDate = 2**64 - 1
    else:
        item.seller = "QQ"  # replaced by bytes that are not UTF-8 on the wire (proto2 does not check)
        try:
            reply = type(reply).FromString(reply.SerializeToString().replace(b"QQ", b"\xff\x80"))
        except UnicodeDecodeError:
            pytest.skip("the pure-python backend checks UTF-8 while parsing")
    oracle = _frames.oracle_frame(reply.s2c.aBuyBackList, A)
    try:  # the protobuf 3.20 C++ backend hands such a string over as str: then no fallback needed
        assert_same_frame(fast_frame(reply.s2c.aBuyBackList, A, getattr(merge_lists(reply.s2c), A.list_field)),
                          oracle)
    except Unsupported:
        pass
    assert_same_frame(_frames.vendor_frames(reply.s2c, FRAMES)[A.key], oracle)


@pytest.mark.parametrize("field", ["changeDate", "buyBackMoney", "seller"])
@pytest.mark.parametrize("explicit_default", [False, True])
def test_a_single_default_cell(field, explicit_default):
    """One cell holding its field's default value: unset, or set to the default by the server."""
    reply = shaped_reply(A, 4, 0.0)
    item = reply.s2c.aBuyBackList[2]
    if explicit_default:
        setattr(item, field, type(getattr(item, field))())
    else:
        item.ClearField(field)
    both_readers(reply.s2c, A)


@pytest.mark.parametrize("kept_by", ["none", "the first item", "the last item", "an item set to the default"])
def test_fields_no_item_of_a_page_has(kept_by):
    """A page's fields that no item has are found before reading and not read (all-NaN float64
    columns); a field the first item lacks but another item has must still be read, to the last."""
    for schema in FRAMES:
        reply = shaped_reply(schema, 6, 0.0)
        items = getattr(reply.s2c, schema.list_field)
        full = list(getattr(shaped_reply(schema, 6, 0.0).s2c, schema.list_field))
        dropped = schema.fields[1:3] + schema.fields[-1:]  # a string, a number and the last field
        for item in items:
            for field in dropped:
                item.ClearField(field)
        if kept_by != "none":
            row = {"the first item": 0, "the last item": -1, "an item set to the default": 3}[kept_by]
            for field in dropped:
                value = getattr(full[row], field)
                setattr(items[row], field, type(value)() if row == 3 else value)
        absent = _fastframe._absent_fields(list(items), schema.fields)
        assert absent == (frozenset(dropped) if kept_by == "none" else frozenset())
        both_readers(reply.s2c, schema)
    empty = Response()
    empty.retType = 0
    for _ in range(3):
        empty.s2c.aBuyBackList.add()  # items with no field at all
    both_readers(empty.s2c, A)


def test_columns_missing_everywhere_or_in_one_chunk_of_a_big_reply():
    """Strings of big replies are read in chunks: a column unset in every row of every chunk is
    all-NaN float64, one unset only in the second chunk keeps its strings and gets NaN there."""
    reply = shaped_reply(A, _fastframe._CHUNK + 40, 0.0)
    for row, item in enumerate(reply.s2c.aBuyBackList):
        for field in ("seller", "payDate", "valueFloor"):
            item.ClearField(field)
        if row >= _fastframe._CHUNK:
            item.ClearField("buyBackMode")
    both_readers(reply.s2c, A)


def test_frames_do_not_share_their_axes():
    """Index objects are mutable (``.name``): each frame must have its own, as pandas makes them."""
    reply = shaped_reply(HK, 3, 0.0)
    first = _frames.vendor_frames(reply.s2c, FRAMES)
    for frame in first.values():
        frame.columns.name, frame.index.name = "renamed", "renamed"
    second = _frames.vendor_frames(reply.s2c, FRAMES)
    for frame in second.values():
        assert frame.columns.name is None and frame.index.name is None


def test_frames_do_not_share_their_data():
    reply = shaped_reply(A, 5, 0.0)
    first = _frames.vendor_frames(reply.s2c, FRAMES)[A.key]
    first.iloc[0, 0] = 1
    first.loc[0, "seller"] = "changed"
    del first["percentage"]
    second = _frames.vendor_frames(reply.s2c, FRAMES)[A.key]
    assert_same_frame(second, _frames.oracle_frame(reply.s2c.aBuyBackList, A))


@pytest.mark.skipif(int(pd.__version__.split(".")[0]) >= 3, reason="pandas 3 always infers str")
def test_pandas_2_with_inferred_strings():
    try:
        with pd.option_context("future.infer_string", True):
            pd.DataFrame([("a",)])
    except Exception as exc:  # pandas 2.2 without pyarrow cannot
        pytest.skip(f"future.infer_string unavailable: {exc}")
    with pd.option_context("future.infer_string", True):
        assert _frames._fast_enabled()
        for schema, rows, sparse, whole_fields in SHAPES[:4]:
            both_readers(shaped_reply(schema, rows, sparse, whole_fields).s2c, schema)
