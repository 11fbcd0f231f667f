"""Protocol 3235 without I/O: build the request message, decode the reply into ``(ret, data)``.

Everything here takes and returns values (messages, bytes, frames); sockets, serial numbers,
encryption and retries belong to the SDK (through ``_host.py``) or to the simulator.
"""

from typing import Any, Dict

from ._codes import END_KEY, BuybackQuery
from ._errors import ServerError, TransportError
from ._frames import empty_frame, vendor_frames
from ._messages import PROTO_BUYBACKS, request_class, response_class
from ._schema import HK, A

RET_OK = 0
RET_ERROR = -1

PROTO_ID = PROTO_BUYBACKS
#: The OpenD / SDK release that added protocol 3235.
FIRST_RELEASE = "10.6"
#: Substrings of an error from an OpenD that does not know the protocol.
UNKNOWN_PROTOCOL_HINTS = ("unknown protocol", "unknown proto", "未知协议", "不支持的协议", "unsupported protocol",
                          "protocol not supported")

BuybackResult = Dict[str, Any]  # {"next_key": str, "hk_buy_back_list": DataFrame, "a_buy_back_list": DataFrame}


def build_request(query: BuybackQuery) -> Any:
    """The ``Qot_GetCorporateActionsBuybacks.Request`` for a validated query."""
    request = request_class(PROTO_ID)()
    c2s = request.c2s
    c2s.security.market = query.security.market
    c2s.security.code = query.security.symbol
    if query.next_key is not None:
        c2s.nextKey = query.next_key
    if query.num is not None:
        c2s.num = query.num
    return request


def decode_reply(response: Any) -> BuybackResult:
    """Turn a ``Response`` message (ours, or the SDK's own class) into the method's data dict.

    Raises :class:`ServerError` with OpenD's message when ``retType`` is not 0.
    """
    if not response.HasField("retType"):
        # The SDK swallows protobuf's parse error and hands over an empty message.
        raise TransportError(f"the reply to protocol {PROTO_ID} could not be decoded (corrupt or truncated body)")
    if response.retType != RET_OK:
        message = response.retMsg
        if isinstance(message, bytes):  # not UTF-8 (upb hands proto2 strings over unchecked)
            message = message.decode("utf-8", errors="replace")
        message = message or f"OpenD answered protocol {PROTO_ID} with retType {response.retType} and no message"
        if any(hint in message.lower() for hint in UNKNOWN_PROTOCOL_HINTS):
            message += (f" (this OpenD does not know protocol {PROTO_ID}, get_corporate_actions_buybacks: "
                        f"upgrade OpenD to {FIRST_RELEASE} or later)")
        raise ServerError(message, response.retType,
                          response.errCode if response.HasField("errCode") else None)
    s2c = response.s2c
    next_key = s2c.nextKey if s2c.HasField("nextKey") else END_KEY
    if not isinstance(next_key, str):  # upb hands over proto2 strings that are not UTF-8 as bytes
        raise TransportError(f"the reply to protocol {PROTO_ID} could not be decoded (nextKey is not UTF-8)")
    return {"next_key": next_key, **vendor_frames(s2c, (HK, A))}


def decode_reply_bytes(body: bytes) -> BuybackResult:
    """Parse a protobuf-encoded ``Response`` body and decode it (see :func:`decode_reply`)."""
    response = response_class(PROTO_ID)()
    try:
        response.ParseFromString(bytes(body))
    except Exception as exc:  # protobuf raises DecodeError, or RuntimeWarning-derived errors on upb
        raise TransportError(f"reply to protocol {PROTO_ID} is not a valid Response: {exc}") from exc
    return decode_reply(response)


def end_of_pages() -> BuybackResult:
    """The result for ``next_key="-1"``: nothing more to fetch, so nothing is sent."""
    return {"next_key": END_KEY, HK.key: empty_frame(HK), A.key: empty_frame(A)}

