"""Every row of docs/api.md's input table against the native method: what is sent, what comes back.

The rows are read from the docs ("Input, compared with the native method"), so the table and the
tests cannot drift.  With the transport faked (pytest-mock), the request body the shim sends is
the native method's byte for byte, or the shim refuses without sending.  Through the SDK against
the simulator, the shim's result is the documented one and, where the SDK ships the native method
(futu-api / moomoo-api 10.6+), identical to the native method's.  On older SDKs the native method
is stood in for by ``vendor_call``, its transcription, checked against it wherever it exists.
"""

import decimal
import fractions
import importlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import numpy as np
import pandas as pd
import pytest

import futu_buybacks
from futu_buybacks import RET_ERROR, RET_OK
from futu_buybacks._messages import request_class, response_class
from futu_buybacks._protocol import PROTO_ID, end_of_pages
from futu_buybacks._wire import FrameReader
from futu_buybacks.simulator import synthetic_records
from futu_buybacks.simulator._dataset import record_to_item

from conftest import SDKS, assert_same_result, has_native
from fakes import fake_context

API = (Path(__file__).resolve().parents[1] / "docs" / "api.md").read_text(encoding="utf-8")
SECTION = "### Input, compared with the native method"
#: The names the table's calls use.
NAMESPACE = {"np": np, "pd": pd, "Decimal": decimal.Decimal, "Fraction": fractions.Fraction}
#: How a row's cells start: what the native method does, what the shim does.
NATIVE = ("completes", "OpenD refuses", "fails before sending")
SHIM = ("the same request", "no request", "refused")
METHOD = "get_corporate_actions_buybacks"


@dataclass(frozen=True)
class Row:
    call: str                     # the arguments as written in the table
    native: str                   # one of NATIVE
    shim: str                     # one of SHIM
    words: Optional[str]          # for "refused": what the shim's message says
    args: Tuple[Any, ...] = field(compare=False)
    kwargs: Dict[str, Any] = field(compare=False)


def _outcome(cell: str, outcomes: Tuple[str, ...]) -> str:
    found = [outcome for outcome in outcomes if cell.startswith(outcome)]
    assert len(found) == 1, f"cell {cell!r} starts with none of {outcomes}"
    return found[0]


def read_table(text: str) -> List[Row]:
    """The rows of the table under SECTION; a line of it that does not parse fails loudly."""
    section = text.split(SECTION, 1)[1].split("\n###", 1)[0]
    lines = [line for line in section.splitlines() if line.startswith("| `")]
    rows = []
    for line in lines:
        match = re.fullmatch(r"\| `([^`]+)` \| ([^|]+?) \| ([^|]+?) \|", line)
        assert match, f"not a row of call | native | shim: {line!r}"
        call, native, shim = match.groups()
        args, kwargs = eval(f"_call({call})", {**NAMESPACE, "_call": lambda *a, **k: (a, k)})
        shim_outcome = _outcome(shim, SHIM)
        words = None
        if shim_outcome == "refused":
            quoted = re.fullmatch(r'refused: "(.+)"', shim)
            assert quoted, f"a refusal names words of its message: {line!r}"
            words = quoted.group(1)
        rows.append(Row(call, _outcome(native, NATIVE), shim_outcome, words, args, kwargs))
    return rows


ROWS = read_table(API)
IDS = [row.call for row in ROWS]
SDK_PARAMS = SDKS or [pytest.param(None, marks=pytest.mark.skip(reason="no SDK installed"))]


def test_the_table_is_there_and_follows_the_rule():
    """What the native method completes the shim completes; what it cannot send the shim refuses."""
    assert len(ROWS) >= 50 and len(set(IDS)) == len(IDS)
    for row in ROWS:
        if row.native == "completes":
            assert row.shim in ("the same request", "no request"), row
        elif row.native == "fails before sending":
            assert row.shim == "refused", row
    for parameter in ("next_key=", "num="):
        assert {row.native for row in ROWS if parameter in row.call} == set(NATIVE), parameter
    assert {row.shim for row in ROWS} == set(SHIM)


def test_a_row_that_does_not_parse_fails_loudly():
    table = f"{SECTION}\n\n| call | native | shim |\n|---|---|---|\n"
    assert read_table(table + '| `"HK.00700"` | completes | the same request |\n')[0].args == ("HK.00700",)
    for bad in ['| `"HK.00700"` | works | the same request |', '| `"HK.00700"` | completes | refused |',
                '| `"HK.00700"` | completes | the same request | extra |']:
        with pytest.raises(AssertionError):
            read_table(table + bad + "\n")


# -- with the transport faked ---------------------------------------------------------------------

#: futu-api 10.11.7108 ``Market`` prefixes (``split_stock_str`` knows them) and their QotMarket numbers.
VENDOR_MARKETS = {"N/A": 0, "HK": 1, "US": 11, "SH": 21, "SZ": 22, "HK_FUTURE": 2, "SG": 31, "JP": 41,
                  "AU": 51, "MY": 61, "CA": 71, "FX": 81, "CC": 91, "EC": 101}


def vendor_call(code: Any, next_key: Any = None, num: Any = None) -> Tuple[int, Any]:
    """The native method up to the socket, transcribed from futu-api 10.11.7108
    (``OpenQuoteContext.get_corporate_actions_buybacks``, ``GetCorporateActionsBuybacksQuery.pack_req``,
    ``split_stock_str``, and the processor turning an exception into ``RET_ERROR``):
    ``(RET_OK, request body)`` or ``(RET_ERROR, message)``."""
    if code is None or not isinstance(code, (str, bytes)):
        return RET_ERROR, "ERROR. the type of code param is wrong"
    text = str(code)
    split = text.find(".")
    if not (0 <= split < len(text) - 1 and text[:split] in VENDOR_MARKETS):
        return RET_ERROR, f"ERROR. format of code {text} is wrong. (US.AAPL, HK.00700, SZ.000001)"
    try:
        request = request_class(PROTO_ID)()
        request.c2s.security.market = VENDOR_MARKETS[text[:split]]
        request.c2s.security.code = text[split + 1:]
        if next_key is not None:
            request.c2s.nextKey = next_key
        if num is not None:
            request.c2s.num = int(num)
        return RET_OK, request.SerializeToString()
    except Exception as exc:
        return RET_ERROR, str(exc)


def page_reply() -> Any:
    reply = response_class(PROTO_ID)()
    reply.retType = 0
    for record in synthetic_records("HK.00700", 3):
        record_to_item(record, reply.s2c.hkBuyBackList.add())
    reply.s2c.nextKey = "3"
    return reply


class Recorder:
    """The SDK's synchronous processor up to the socket: a request that cannot be packed is
    ``RET_ERROR`` (as ``OpenContextBase._get_sync_query_processor`` does); the body of every other
    is recorded, and answered with a three-row page."""

    def __init__(self) -> None:
        self.bodies: List[bytes] = []

    def processor(self, pack: Any, unpack: Any) -> Any:
        def run(**kwargs: Any) -> Any:
            try:
                ret, msg, packet, *_ = pack(**kwargs)
                if ret != RET_OK:
                    return ret, msg, None
            except Exception as exc:
                return RET_ERROR, str(exc), None
            self.bodies.append(FrameReader().feed(bytes(packet))[0].body)
            return unpack(page_reply())
        return run


def native_method(sdk: Any) -> Any:
    native = sdk.OpenQuoteContext.__dict__[METHOD]
    assert not getattr(native, "__futu_buybacks__", False), "install() must keep the native method"
    return native


def faked(ctx: Any, method: Any, row: Row) -> Tuple[Tuple[int, Any], List[bytes]]:
    """``method``'s result for the row's call on ``ctx``, and the request bodies it sent."""
    recorder = Recorder()
    ctx._get_sync_query_processor.side_effect = recorder.processor
    return method(ctx, *row.args, **row.kwargs), recorder.bodies


@pytest.mark.parametrize("sdk_name", SDK_PARAMS)
@pytest.mark.parametrize("row", ROWS, ids=IDS)
def test_sends_what_the_native_method_sends(mocker, sdk_name, row):
    sdk = importlib.import_module(sdk_name)
    ctx, _ = fake_context(mocker, sdk)
    vendor_ret, vendor_out = vendor_call(*row.args, **row.kwargs)
    native_result = None
    native_sent = [vendor_out] if vendor_ret == RET_OK else []
    if has_native(sdk_name):
        native_result, sent = faked(ctx, native_method(sdk), row)
        assert sent == native_sent, "vendor_call is not the native method"
        assert native_result[0] == (RET_OK if sent else RET_ERROR)
    assert len(native_sent) == (0 if row.native == "fails before sending" else 1), "the table is wrong"

    shim_result, shim_sent = faked(ctx, futu_buybacks.get_corporate_actions_buybacks, row)
    if row.shim == "the same request":
        assert shim_sent == native_sent
        if native_result is not None:
            assert_same_result(native_result, shim_result)
        assert shim_result[0] == RET_OK, shim_result
    elif row.shim == "no request":
        assert shim_sent == []
        assert_same_result(shim_result, (RET_OK, end_of_pages()))
    else:
        ret, message = shim_result
        assert shim_sent == [] and ret == RET_ERROR and isinstance(message, str)
        assert row.words in message and len(message) < 400


# -- through the SDK, against the simulator -------------------------------------------------------

def through(simulator: Any, method: Any, ctx: Any, row: Row) -> Tuple[Tuple[int, Any], int]:
    """``method``'s result for the row's call on ``ctx``, and how many requests reached OpenD."""
    before = simulator.requests[PROTO_ID]
    result = method(ctx, *row.args, **row.kwargs)
    return result, simulator.requests[PROTO_ID] - before


@pytest.mark.e2e
@pytest.mark.parametrize("row", ROWS, ids=IDS)
def test_shim_through_the_sdk(ctx, simulator, row):
    (ret, data), sent = through(simulator, futu_buybacks.get_corporate_actions_buybacks, ctx, row)
    if row.shim == "refused":
        assert (ret, sent) == (RET_ERROR, 0) and row.words in data
    elif row.shim == "no request":
        assert sent == 0
        assert_same_result((ret, data), (RET_OK, end_of_pages()))
    else:
        assert sent == 1
        assert ret == (RET_OK if row.native == "completes" else RET_ERROR), data


@pytest.mark.e2e
@pytest.mark.native
@pytest.mark.parametrize("row", ROWS, ids=IDS)
def test_identical_to_the_native_method_through_the_sdk(ctx, simulator, sdk, row):
    if not has_native(sdk.__name__):
        pytest.skip(f"{sdk.__name__} {sdk.__version__} has no native method")
    native, native_sent = through(simulator, native_method(sdk), ctx, row)
    expected = {"completes": (RET_OK, 1), "OpenD refuses": (RET_ERROR, 1), "fails before sending": (RET_ERROR, 0)}
    assert (native[0], native_sent) == expected[row.native], native[1]
    shim, _ = through(simulator, futu_buybacks.get_corporate_actions_buybacks, ctx, row)
    if row.shim == "refused":
        assert shim[0] == RET_ERROR and row.words in shim[1]
    else:
        assert_same_result(native, shim)
