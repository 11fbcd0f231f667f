"""Fuzzing the reply decoder: arbitrary bytes, damaged replies and arbitrary well-formed replies
never make it raise anything but our typed errors, and never make the method raise at all.

``make test`` runs a few hundred examples per property; ``make soak`` sets FUZZ_EXAMPLES=10000.
"""

import importlib
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import futu_buybacks
from futu_buybacks import RET_ERROR, RET_OK
from futu_buybacks._errors import BuybacksError
from futu_buybacks._protocol import decode_reply_bytes
from futu_buybacks._schema import FRAMES

from conftest import SDKS
from fakes import fake_context
from strategies import Response, replies

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "300"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@st.composite
def any_reply(draw):
    """A well-formed Response, successful or not, with any content."""
    response = draw(replies())
    if draw(st.booleans()):
        response.retType = draw(st.integers(-2**31, 2**31 - 1))
        if draw(st.booleans()):
            response.retMsg = draw(st.text(max_size=30))
        if draw(st.booleans()):
            response.errCode = draw(st.integers(-2**31, 2**31 - 1))
    return response


@st.composite
def damaged_reply(draw):
    """A valid reply's bytes, truncated, extended or with bytes overwritten."""
    body = bytearray(draw(replies()).SerializeToString())
    for _ in range(draw(st.integers(1, 4))):
        action = draw(st.sampled_from(["cut", "flip", "append"]))
        if action == "cut" and body:
            del body[draw(st.integers(0, len(body) - 1)):]
        elif action == "flip" and body:
            body[draw(st.integers(0, len(body) - 1))] = draw(st.integers(0, 255))
        else:
            body += draw(st.binary(max_size=16))
    return bytes(body)


def check_decoded(body: bytes) -> None:
    try:
        data = decode_reply_bytes(body)
    except BuybacksError as exc:
        assert str(exc)
        return
    for schema in FRAMES:
        assert tuple(data[schema.key].columns) == schema.names
    assert isinstance(data["next_key"], str)


@FUZZ
@given(st.binary(max_size=512))
def test_arbitrary_bytes(body):
    check_decoded(body)


@FUZZ
@given(damaged_reply())
def test_damaged_replies(body):
    check_decoded(body)


@FUZZ
@given(any_reply())
def test_well_formed_replies_yield_the_declared_columns(response):
    try:
        data = decode_reply_bytes(response.SerializeToString())
    except BuybacksError:
        assert response.retType != RET_OK
        return
    assert response.retType == RET_OK
    for schema in FRAMES:
        frame = data[schema.key]
        assert tuple(frame.columns) == schema.names
        assert len(frame) == len(getattr(response.s2c, schema.list_field))


@pytest.mark.skipif(not SDKS, reason="no SDK installed")
@FUZZ
@given(body=st.one_of(st.binary(max_size=256), damaged_reply()))
def test_the_method_never_raises(mocker, body):
    """Through the SDK's own unpacking: it swallows parse errors and hands over what it got."""
    ctx, opend = fake_context(mocker, importlib.import_module(SDKS[0]))
    response = Response()
    try:
        response.ParseFromString(body)
    except Exception:
        pass  # as the SDK does: it prints the error and goes on with the message
    opend.reply = response
    ret, data = futu_buybacks.get_corporate_actions_buybacks(ctx, "HK.00700", num=10)
    assert ret in (RET_OK, RET_ERROR)
    assert isinstance(data, str if ret == RET_ERROR else dict)
