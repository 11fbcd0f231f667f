"""The shim's result is identical to the native method's, on the same generated replies.

Where the SDK ships the native method (futu-api / moomoo-api 10.6+), both run on the same
reply through the same faked transport: the native code builds its frames its own way, the shim
its way.  Everywhere else the shim is compared with ``oracle_frame``, the native algorithm
written out.  Generated replies cover sparse fields, empty lists, unicode, 64-bit extremes
and extreme floats; the benchmark shapes are checked explicitly.
"""

import importlib
import random

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings

import futu_buybacks
from futu_buybacks._errors import TransportError
from futu_buybacks._frames import oracle_frame
from futu_buybacks._protocol import decode_reply_bytes
from futu_buybacks._schema import FRAMES, HK, A

from conftest import SDKS, assert_same_frame, assert_same_result, has_native, string_configurations
from fakes import fake_context
from strategies import Response, replies

NATIVE_SDKS = [name for name in SDKS if has_native(name)]


def native_and_shim(mocker, sdk_name, reply):
    sdk = importlib.import_module(sdk_name)
    ctx, opend = fake_context(mocker, sdk)
    opend.reply = reply
    native = sdk.OpenQuoteContext.__dict__["get_corporate_actions_buybacks"]
    assert not getattr(native, "__futu_buybacks__", False)
    return native(ctx, "HK.00700", num=50), futu_buybacks.get_corporate_actions_buybacks(ctx, "HK.00700", num=50)


def shim_vs_oracle(reply):
    from futu_buybacks._protocol import decode_reply
    data = decode_reply(reply)
    for schema in FRAMES:
        assert_same_frame(data[schema.key], oracle_frame(getattr(reply.s2c, schema.list_field), schema))


SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                           HealthCheck.too_slow])


@pytest.mark.parametrize("sdk_name", NATIVE_SDKS or [pytest.param(None, marks=pytest.mark.skip(
    reason="no SDK with a native method installed (futu-api / moomoo-api 10.6+)"))])
@SETTINGS
@given(reply=replies())
def test_identical_to_native_method(mocker, sdk_name, reply):
    native, shim = native_and_shim(mocker, sdk_name, reply)
    assert_same_result(native, shim)


@SETTINGS
@given(reply=replies())
def test_identical_to_native_algorithm(reply):
    shim_vs_oracle(reply)


def shaped_reply(schema, rows, sparse, whole_fields=False):
    """The benchmark shapes: 50-row HK / A pages, sparse A pages, 5,000-row replies.

    ``sparse`` is the share left unset: of the cells, each at random, or with ``whole_fields`` of
    the fields, each then unset in every item (as a server leaves out what a market lacks).
    """
    rng = random.Random(rows * 31 + sparse + whole_fields)
    response = Response()
    response.retType = 0
    response.s2c.nextKey = "50"
    items = getattr(response.s2c, schema.list_field)
    descriptor = items.add().DESCRIPTOR
    del items[0]
    absent = set(rng.sample(range(len(descriptor.fields)), round(sparse * len(descriptor.fields)))
                 if whole_fields else ())
    for i in range(rows):
        item = items.add()
        for number, field in enumerate(descriptor.fields):
            if number in absent or (sparse and not whole_fields and rng.random() < sparse):
                continue
            if field.type == 9:
                setattr(item, field.name, f"{field.name}-{i % 17}")
            elif field.type == 1:
                setattr(item, field.name, rng.random() * 1e9)
            else:
                setattr(item, field.name, 1_775_664_000 - 86_400 * (i % 10_000))
    return response


# (schema, rows, share unset, whole fields unset)
SHAPES = [(HK, 50, 0.0, False), (A, 50, 0.0, False), (A, 50, 0.15, False), (A, 50, 0.15, True),
          (A, 5000, 0.0, False), (HK, 5000, 0.15, False), (HK, 5000, 0.15, True)]


@pytest.mark.parametrize("schema, rows, sparse, whole_fields", SHAPES, ids=lambda v: getattr(v, "market", v))
def test_benchmark_shapes(mocker, schema, rows, sparse, whole_fields):
    reply = shaped_reply(schema, rows, sparse, whole_fields)
    shim_vs_oracle(reply)
    for sdk_name in NATIVE_SDKS:
        native, shim = native_and_shim(mocker, sdk_name, reply)
        assert_same_result(native, shim)


@pytest.mark.parametrize("options", string_configurations())
def test_identical_under_every_string_option(mocker, options):
    """pandas options that change string inference, set before the call, as a user sets them: the
    shim follows them exactly as the native method does (both read them at the call)."""
    with pd.option_context(*[value for option in options for value in option]):
        for schema, rows, sparse, whole_fields in SHAPES[:4]:
            reply = shaped_reply(schema, rows, sparse, whole_fields)
            shim_vs_oracle(reply)
            for sdk_name in NATIVE_SDKS:
                native, shim = native_and_shim(mocker, sdk_name, reply)
                assert_same_result(native, shim)


def test_string_fields_that_are_not_utf8(mocker):
    """proto2 does not check UTF-8 on parse: such a field reads as bytes, and must come out as the
    native method makes it (the fast path hands these replies to the reference path)."""
    response = shaped_reply(HK, 60, 0.1)
    response.s2c.hkBuyBackList[7].shareType = "QQ"
    response.s2c.hkBuyBackList[8].publDateStr = "QQ"
    body = response.SerializeToString().replace(b"QQ", b"\xff\x80")
    try:
        reply = Response.FromString(body)
    except UnicodeDecodeError:  # the pure-python backend checks UTF-8 while parsing
        with pytest.raises(TransportError):
            decode_reply_bytes(body)
        return
    assert isinstance(reply.s2c.hkBuyBackList[7].shareType, bytes)
    shim_vs_oracle(reply)
    for sdk_name in NATIVE_SDKS:
        native, shim = native_and_shim(mocker, sdk_name, reply)
        assert_same_result(native, shim)
