"""The fast frame path itself: on, identical to the oracle under every pandas option, and safe.

The differential tests compare whole results, which would also pass if the fast path had
switched itself off; these tests call it directly, so they fail if it is off or wrong.
"""

import importlib
import logging

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from test_differential import SHAPES, shaped_reply

import futu_buybacks
from futu_buybacks import _frames
from futu_buybacks._frames import Unsupported, typed_frame
from futu_buybacks._schema import FRAMES, HK, A

from conftest import SDKS, assert_same_frame, string_configurations
from fakes import fake_context
from strategies import Response, replies


def assert_like_the_oracle(s2c, schema):
    items = getattr(s2c, schema.list_field)
    assert_same_frame(typed_frame(items, schema)[0], _frames.oracle_frame(items, schema))


@pytest.fixture
def fast_path(monkeypatch):
    """The fast path on, also in the matrix cell that runs the rest of the suite without it."""
    monkeypatch.delenv(_frames.FRAMES_ENV, raising=False)


def test_the_fast_path_is_on(mocker, fast_path):
    reply = shaped_reply(A, 5, 0.0)
    _frames.vendor_frames(reply.s2c, FRAMES)  # the self-check runs on first use
    spy = mocker.spy(_frames, "typed_frame")
    _frames.vendor_frames(reply.s2c, FRAMES)
    assert spy.call_count == 1
    assert _frames._self_check(), "the fast path disagrees with the oracle on this pandas / protobuf"
    assert all(_frames._checked.values()), _frames._checked


def test_the_reference_only_switch(monkeypatch, mocker):
    monkeypatch.setenv(_frames.FRAMES_ENV, "reference")
    spy = mocker.spy(_frames, "typed_frame")
    reply = shaped_reply(A, 5, 0.0)
    assert_same_frame(_frames.vendor_frames(reply.s2c, FRAMES)[A.key],
                      _frames.oracle_frame(reply.s2c.aBuyBackList, A))
    assert spy.call_count == 0


@pytest.mark.parametrize("schema, rows, sparse, whole_fields",
                         SHAPES + [(HK, 7, 0.6, False), (A, 300, 0.15, False), (A, 300, 0.3, True)],
                         ids=lambda v: getattr(v, "market", v))
def test_equal_to_the_oracle_on_the_benchmark_shapes(schema, rows, sparse, whole_fields):
    assert_like_the_oracle(shaped_reply(schema, rows, sparse, whole_fields).s2c, schema)


@pytest.mark.parametrize("options", string_configurations())
def test_equal_to_the_oracle_under_every_string_option(options):
    """The options are read when the frame is built: changing them between calls changes both."""
    assert_like_the_oracle(shaped_reply(A, 5, 0.0).s2c, A)  # built once under the defaults first
    with pd.option_context(*[v for opt in options for v in opt]):
        for schema, rows, sparse, whole_fields in SHAPES[:4]:
            reply = shaped_reply(schema, rows, sparse, whole_fields)
            assert_like_the_oracle(reply.s2c, schema)
            for key, frame in _frames.vendor_frames(reply.s2c, FRAMES).items():
                schema_of_key = HK if key == HK.key else A
                assert_same_frame(frame, _frames.oracle_frame(getattr(reply.s2c, schema_of_key.list_field),
                                                               schema_of_key))


@settings(max_examples=150, deadline=None, database=None)
@given(replies())
def test_equal_to_the_oracle_on_generated_replies(response):
    for schema in FRAMES:
        if len(getattr(response.s2c, schema.list_field)):
            try:
                assert_like_the_oracle(response.s2c, schema)
            except Unsupported:  # a uint64 past int64 or a string that is not UTF-8: the oracle's job
                pass


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
    assert_like_the_oracle(reply.s2c, A)


def test_columns_unset_in_every_row_and_items_without_fields():
    for schema in FRAMES:
        reply = shaped_reply(schema, 6, 0.0)
        for item in getattr(reply.s2c, schema.list_field):
            for field in schema.fields[1:3] + schema.fields[-1:]:  # a string, a number and the last field
                item.ClearField(field)
        assert_like_the_oracle(reply.s2c, schema)
    empty = Response()
    empty.retType = 0
    for _ in range(3):
        empty.s2c.aBuyBackList.add()
    assert_like_the_oracle(empty.s2c, A)


@pytest.mark.parametrize("options", string_configurations())
def test_the_strings_dtype_named_is_the_one_pandas_infers(options):
    """Where ``pandas_dtype(str)`` names an extension dtype (pandas 2.3 and later, strings inferred
    as str), the fast path converts the string cells to it directly: it must be what pandas infers."""
    with pd.option_context(*[v for opt in options for v in opt]):
        known = _frames._string_dtype()
        inferred = pd.Series(np.array(["a", float("nan")], dtype=object)).dtype
        if isinstance(pd.api.types.pandas_dtype(str), np.dtype):
            assert known is None
        else:
            assert known == inferred


def test_a_strings_dtype_pandas_would_not_infer_is_not_used(monkeypatch):
    monkeypatch.setattr(_frames, "_HINTS", _frames._ByDtype())
    monkeypatch.setattr(_frames, "pandas_dtype", lambda _: pd.CategoricalDtype())
    assert _frames._string_dtype() is None
    assert_like_the_oracle(shaped_reply(A, 50, 0.15).s2c, A)


class _WireItem:
    """An item as protobuf's cpp backend (protobuf 3) reads it from the wire: a string field whose
    bytes are not UTF-8 reads as ``bytes``, where upb and pure Python would not have parsed it."""

    _DEFAULTS = {"str": "", "int": 0, "float": 0.0}

    def __init__(self, schema, values):
        self._kinds = {c.field: c.kind for c in schema.columns}
        self._values = values

    def __getattr__(self, field):
        return self._values.get(field, self._DEFAULTS[self._kinds[field]])

    def HasField(self, field):
        return field in self._values


@pytest.mark.parametrize("options", string_configurations())
def test_a_string_cell_that_is_not_str_is_the_oracles(options, fast_path):
    """pandas infers such a column (bytes among str) as object where it would infer the str dtype:
    the fast path must not convert the bytes to their repr."""
    items = [_WireItem(A, {"changeDate": 1, "seller": "甲", "eventProceDesc": "实施"}),
             _WireItem(A, {"changeDate": 2, "seller": b"\xff\xfe", "shareType": "A股"})]
    with pd.option_context(*[v for opt in options for v in opt]):
        expected = _frames.oracle_frame(items, A)
        assert expected["seller"].tolist() == ["甲", b"\xff\xfe"]
        try:
            frame = typed_frame(items, A)[0]
        except Unsupported:
            frame = _frames.oracle_frame(items, A)
        assert_same_frame(frame, expected)


def test_integers_past_int64_go_to_the_oracle():
    reply = shaped_reply(HK, 3, 0.0)
    reply.s2c.hkBuyBackList[1].publDate = 2**64 - 1
    with pytest.raises(Unsupported):
        typed_frame(reply.s2c.hkBuyBackList, HK)
    assert_same_frame(_frames.vendor_frames(reply.s2c, FRAMES)[HK.key],
                      _frames.oracle_frame(reply.s2c.hkBuyBackList, HK))


def test_an_unexpected_error_falls_back_logs_once_and_never_escapes(mocker, caplog, fast_path):
    if not SDKS:
        pytest.skip("no SDK installed")
    ctx, opend = fake_context(mocker, importlib.import_module(SDKS[0]))
    opend.reply = shaped_reply(A, 5, 0.0)
    mocker.patch.object(_frames, "_failed_once", [])
    mocker.patch.object(_frames, "typed_frame", side_effect=RuntimeError("a pandas that changed"))
    with caplog.at_level(logging.WARNING, logger="futu_buybacks"):
        results = [futu_buybacks.get_corporate_actions_buybacks(ctx, "SZ.000001", num=5) for _ in range(3)]
    for ret, data in results:
        assert ret == 0
        assert_same_frame(data[A.key], _frames.oracle_frame(opend.reply.s2c.aBuyBackList, A))
    warnings = [r for r in caplog.records if "fast frame path failed" in r.getMessage()]
    assert len(warnings) == 1 and "a pandas that changed" in warnings[0].getMessage()


def test_a_failed_self_check_switches_to_the_reference(mocker, caplog, fast_path):
    mocker.patch.object(_frames, "_checked", {})
    mocker.patch.object(_frames, "_self_check", return_value=False)
    spy = mocker.spy(_frames, "oracle_frame")
    reply = shaped_reply(HK, 4, 0.0)
    with caplog.at_level(logging.WARNING, logger="futu_buybacks"):
        frames = _frames.vendor_frames(reply.s2c, FRAMES)
        _frames.vendor_frames(reply.s2c, FRAMES)
    assert_same_frame(frames[HK.key], _frames.oracle_frame(reply.s2c.hkBuyBackList, HK))
    assert spy.call_count == 3  # both calls' frames, and the comparison's
    assert len([r for r in caplog.records if "differ from the reference" in r.getMessage()]) == 1


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
    items = list(reply.s2c.aBuyBackList)
    assert items[0].changeRegDate != 1 and items[0].seller != "changed"
