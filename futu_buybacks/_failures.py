"""What a failed page means: wait and ask again, retry, or give up (no I/O, one table).

A page that fails comes back as ``(RET_ERROR, message)`` and nothing else: OpenD's ``retMsg``,
a text of the SDK's own transport, or one of the shim's.  The native method (futu-api /
moomoo-api 10.6+) hands over neither ``retType`` nor ``errCode``, so the message is all there is
to go by, and :func:`classify` is the one place that reads it.  :data:`CLASSES` is the table:
the first class with a hint (a case-insensitive substring) in the message wins.

- ``FREQUENCY``: over OpenD's rate limit.  ``iter_pages`` waits out half a window and asks again;
  not counted as a failure.
- ``TRANSIENT``: the request did not get through (timeout, disconnect, a reply that cannot be
  decoded, OpenD busy).  Retried ``retries`` times with backoff.
- ``REJECTED_KEY``: OpenD does not accept the page key (only when one was sent).  Not retried;
  the loader restarts the code from its first page, once.
- ``PERMANENT``: retrying cannot fix it (unknown stock, a parameter refused, no quote right, an
  OpenD without the protocol).  Not retried.
- No hint: ``TRANSIENT``.

For a request that is not a page (``_trading_days``), :func:`is_transport_failure` tells the
messages of a request that never got an answer from those of OpenD's own refusals.

Transient is tried before the give-up classes, so a message matching both is retried, and an
unknown message is retried too: a wrong guess that way costs ``retries`` requests; the other
way it would cost the code's records for this run.  docs/reliability.md has the table with the
messages it was written from.
"""

import enum
from typing import Optional, Tuple

from ._protocol import UNKNOWN_PROTOCOL_HINTS


class Failure(enum.Enum):
    """The class of a failed page, and so what is done about it."""

    FREQUENCY = "frequency refusal"     # over OpenD's rate limit: wait, ask again, not a failure
    TRANSIENT = "transient"             # the request did not get through: retry with backoff
    REJECTED_KEY = "rejected next_key"  # OpenD does not accept the page key: no retry of that key
    PERMANENT = "permanent"             # retrying cannot fix it: unknown stock, bad parameter, no right


FREQUENCY_HINTS = ("频率", "frequen", "too many", "too often", "rate limit")
#: The request never got an answer from OpenD (what :func:`is_transport_failure` looks for).
TRANSPORT_HINTS = (
    # the SDKs' transport: "Timeout", "PacketErr.Timeout", "Abnormal event timeout", "Connect timeout",
    # "Disconnect", "PacketErr.Disconnect", "Connection lost", "Connection closed", "Not connected",
    # "PacketErr.SendFail", an OSError's text, "proto_id:3235 conn_id:N check sha error!",
    # "Packet data error"
    "timeout", "timed out", "超时", "disconnect", "断开", "connection lost", "connection closed",
    "connection reset", "connection refused", "connection aborted", "not connected", "sendfail", "send fail",
    "broken pipe", "errno", "sha error", "packet data error",
    # the shim, for a reply it cannot decode
    "could not be decoded", "not a valid response",
)
TRANSIENT_HINTS = TRANSPORT_HINTS + (
    # OpenD and its backend, busy or unreachable ("服务器繁忙", "server busy", "请稍后再试")
    "busy", "繁忙", "稍后", "try again", "try later", "unavailable", "network", "网络",
)
REJECTED_KEY_HINTS = ("nextkey", "next_key", "next key", "分页标识")
PERMANENT_HINTS = (
    # a security OpenD does not know ("unknown stock HK.99999"; OpenD 1.x: "Unknow stock01835")
    "unknown stock", "unknow stock", "unknown security", "unknown code", "not found", "未知股票", "未知证券",
    "股票不存在", "证券不存在", "代码不存在", "标的不存在",
    # a parameter OpenD, the SDK or the shim refuses ("num out of range (1~50): 0",
    # "ERROR. format of code ... is wrong", "Parameter error", "num must be an int in 1..50, got 0",
    # "buyback data is only available for HK and A-share securities", "缺少必要的参数: ...")
    "invalid param", "invalid argument", "parameter error", "param error", "wrong type", "wrong value",
    "is wrong", "out of range", "must be", "is not of the form", "not served", "only available for",
    "invalid request", "参数", "超出范围", "不支持", "not supported", "unsupported",
    # no right to the data ("行情权限不足", "no quote right")
    "权限", "permission", "no right", "quote right", "authoriz", "authoris",
    # an OpenD older than the protocol
    *UNKNOWN_PROTOCOL_HINTS,
)

#: The table: (class, hints), in the order they are tried; a message no hint matches is TRANSIENT.
CLASSES: Tuple[Tuple[Failure, Tuple[str, ...]], ...] = (
    (Failure.FREQUENCY, FREQUENCY_HINTS),
    (Failure.TRANSIENT, TRANSIENT_HINTS),
    (Failure.REJECTED_KEY, REJECTED_KEY_HINTS),
    (Failure.PERMANENT, PERMANENT_HINTS),
)


def classify(message: object, next_key: Optional[str] = None) -> Failure:
    """The class of a page that failed with ``message`` when asked with ``next_key``.

    A message about the page key is ``REJECTED_KEY`` only if a key was sent (``next_key`` not
    None or ``""``); for the first page it is ``PERMANENT``.  A message no hint matches is
    ``TRANSIENT``.
    """
    text = str(message).lower()
    for failure, hints in CLASSES:
        if any(hint in text for hint in hints):
            if failure is Failure.REJECTED_KEY and next_key in (None, ""):
                return Failure.PERMANENT
            return failure
    return Failure.TRANSIENT


def is_transport_failure(message: object) -> bool:
    """Whether a ``(RET_ERROR, message)`` says the request got no answer from OpenD (a timeout, a
    dropped connection, a reply the SDK could not read) rather than OpenD's own refusal.

    An empty message counts as one: the SDKs hand over an empty ``retMsg`` for a reply body they
    could not parse.
    """
    text = str(message).lower()
    return not text or any(hint in text for hint in TRANSPORT_HINTS)
