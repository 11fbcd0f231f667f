"""Request building and reply decoding, fed with values (no sockets)."""

import math

import pandas as pd
import pytest

from futu_buybacks._codes import make_query
from futu_buybacks._errors import ServerError, TransportError
from futu_buybacks._frames import empty_frame, oracle_frame, vendor_frames
from futu_buybacks._messages import request_class, response_class
from futu_buybacks._protocol import build_request, decode_reply, decode_reply_bytes, end_of_pages
from futu_buybacks._schema import FRAMES, HK, A
from futu_buybacks.simulator import synthetic_records
from futu_buybacks.simulator._dataset import record_to_item

from conftest import assert_same_frame

Response = response_class(3235)


def reply_with(records, schema, next_key=None):
    response = Response()
    response.retType = 0
    items = getattr(response.s2c, schema.list_field)
    for record in records:
        record_to_item(record, items.add())
    if next_key is not None:
        response.s2c.nextKey = next_key
    return response


def test_build_request_first_page_sends_only_the_security():
    request = build_request(make_query("SZ.000001"))
    assert request.c2s.security.market == 22 and request.c2s.security.code == "000001"
    assert not request.c2s.HasField("nextKey") and not request.c2s.HasField("num")
    assert isinstance(request, request_class(3235))


def test_build_request_passes_next_key_and_num_unchanged():
    c2s = build_request(make_query("HK.00700", next_key="20", num=50)).c2s
    assert (c2s.nextKey, c2s.num) == ("20", 50)


def test_decode_hk_reply():
    records = synthetic_records("HK.00700", 5)
    data = decode_reply(reply_with(records, HK, next_key="5"))
    assert data["next_key"] == "5"
    frame = data["hk_buy_back_list"]
    assert list(frame.columns) == list(HK.names)
    assert frame["buy_back_sum"].dtype == "int64" and frame["percentage"].dtype == "float64"
    assert frame.to_dict("records")[0]["publ_date"] == records[0]["publ_date"]
    assert list(data["a_buy_back_list"].columns) == list(A.names) and data["a_buy_back_list"].empty


def test_absent_next_key_reads_minus_one():
    assert decode_reply(reply_with([], HK))["next_key"] == "-1"


def test_unset_fields_are_nan_and_int_columns_become_float():
    records = synthetic_records("SH.600519", 3)
    del records[1]["buy_back_sum"]
    del records[2]["share_type"]
    frame = decode_reply(reply_with(records, A))["a_buy_back_list"]
    assert frame["buy_back_sum"].dtype == "float64"
    assert math.isnan(frame["buy_back_sum"][1]) and frame["buy_back_sum"][0] == records[0]["buy_back_sum"]


def test_zero_and_empty_values_that_are_set_are_kept():
    record = {"publ_date": 0, "publ_date_str": "", "buy_back_money": 0.0, "buy_back_sum": 0}
    frame = decode_reply(reply_with([record], HK))["hk_buy_back_list"]
    row = frame.iloc[0]
    assert row["publ_date"] == 0 and row["publ_date_str"] == "" and row["buy_back_money"] == 0.0
    assert math.isnan(row["high_price"])


@pytest.mark.parametrize("schema", FRAMES)
def test_vendor_frame_equals_the_native_algorithm(schema):
    code = "HK.00700" if schema is HK else "SZ.000001"
    records = synthetic_records(code, 40)
    for i, record in enumerate(records):  # thin out fields in a pattern
        for j, column in enumerate(schema.names):
            if (i + j) % 7 == 0:
                record.pop(column, None)
    s2c = reply_with(records, schema).s2c
    frame = vendor_frames(s2c, [schema])[schema.key]
    assert_same_frame(frame, oracle_frame(getattr(s2c, schema.list_field), schema))


@pytest.mark.parametrize("schema", FRAMES)
def test_empty_frames_have_the_columns(schema):
    frame = empty_frame(schema)
    assert list(frame.columns) == list(schema.names) and len(frame) == 0
    assert_same_frame(frame, pd.DataFrame([], columns=list(schema.names)))


def test_error_reply_raises_server_error_with_opend_message():
    response = Response()
    response.retType = -1
    response.retMsg = "unknown stock"
    response.errCode = 7
    with pytest.raises(ServerError, match="^unknown stock$") as info:
        decode_reply(response)
    assert info.value.err_code == 7


def test_error_reply_without_message_still_says_something():
    response = Response()
    response.retType = -100
    with pytest.raises(ServerError, match="retType -100"):
        decode_reply(response)


@pytest.mark.parametrize("message, hint", [("unknown protocol 3235", True), ("未知协议", True),
                                           ("该市场不支持回购查询", False), ("unknown stock HK.99999", False)])
def test_only_an_unknown_protocol_gets_the_upgrade_hint(message, hint):
    response = Response()
    response.retType = -1
    response.retMsg = message
    with pytest.raises(ServerError) as info:
        decode_reply(response)
    assert str(info.value).startswith(message)
    assert ("upgrade OpenD to 10.6 or later" in str(info.value)) == hint


def test_a_reply_the_sdk_could_not_parse_is_a_decode_error():
    with pytest.raises(TransportError, match="could not be decoded"):
        decode_reply(Response())  # what the SDK hands over after swallowing a parse error


def test_decode_bytes_rejects_garbage():
    with pytest.raises(TransportError, match="not a valid Response"):
        decode_reply_bytes(b"\xff\xff\xff\xff garbage")


def test_end_of_pages_sends_nothing_and_has_empty_frames():
    data = end_of_pages()
    assert data["next_key"] == "-1"
    assert data["hk_buy_back_list"].empty and data["a_buy_back_list"].empty
