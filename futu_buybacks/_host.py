"""The one place that touches the host SDK's internals.

Checked against futu-api 9.6.5608, 10.5.6508, 10.11.7108 and moomoo-api 9.6.5608, 10.11.7108
(moomoo's modules live under ``moomoo.`` instead of ``futu.``).  The SDKs differ inside: moomoo-api
9.6 still has the older network manager, whose ``pack_pb_req`` returns 3 values instead of 5 and
whose processor sends differently; we only hand ``pack_pb_req``'s result to the SDK's own
processor, so both generations work unchanged.  We use:

- ``OpenContextBase._get_sync_query_processor(pack, unpack)`` and ``get_sync_conn_id()``: the
  path every synchronous SDK method takes, so the host's encryption, JSON/protobuf format,
  serial numbers, timeouts, reconnects and locking all apply to our requests;
- ``<sdk>.common.utils.pack_pb_req(message, proto_id, conn_id)``: the host's framing;
- ``OpenContextBase.__host`` / ``__port`` (name-mangled): the OpenD address, to share one rate
  limiter per OpenD;
- ``<sdk>.common.utils.ProtobufMap.created_protobuf_map``: the table from protocol id to reply
  class that the host's receive loop decodes with.  SDKs before 10.6 have no entry for 3235, so
  a reply would be dropped as undecodable; we add our class.  Where the SDK has its own entry we
  leave it: the native method and the shim then share one decoding, and ``decode_reply`` reads
  either class (same field names).
- ``OpenContextBase._pop_all_req_info`` (repaired, futu-api 9.6.5608 only, see
  :func:`repair_disconnect_handling`);
- ``<sdk>.common.ft_logger.logger.console_level``, and the network manager's ``_req_queue`` and
  ``_w_sock`` (``ctx._net_mgr``): to keep the SDK's console lines off stdout while the loader
  runs, its closing "Disconnected" line included (:func:`quiet_console`, :func:`close_and_wait`).

Opening a context of our own (:func:`start_connecting`, :func:`is_ready`,
:func:`wants_encryption`) uses only the SDKs' public surface, but what it relies on was read in
each version above: ``OpenQuoteContext(..., is_async_connect=True)`` returns at once and connects
on a timer thread, retrying every 6 s (8 s in moomoo-api 9.6) until ``close()``; ``ctx.status``
is the string ``"READY"`` once InitConnect was answered; ``SysConfig.is_proto_encrypt()`` says
whether a context will encrypt.  Without ``is_async_connect`` the constructor itself retries
forever, which is why the loader never calls it that way.  The timer of that first connect
fails, or waits forever, when the context is closed under it: :func:`start_connecting` makes it
a daemon and :func:`let_first_connect_settle` lets it finish first.
"""

import contextlib
import importlib
import logging
import sys
import threading
import time
import types
from typing import Any, Dict, Iterator, Tuple

from ._codes import BuybackQuery
from ._errors import BuybacksError, HostUnsupported
from ._messages import response_class
from ._protocol import PROTO_ID, RET_ERROR, RET_OK, build_request, decode_reply

SDK_PACKAGES = ("futu", "moomoo")
log = logging.getLogger("futu_buybacks")


def sdk_package_of(ctx: Any) -> str:
    """``"futu"`` or ``"moomoo"``: the SDK whose ``OpenQuoteContext`` ``ctx`` is."""
    for klass in type(ctx).__mro__:
        root = klass.__module__.partition(".")[0]
        if root in SDK_PACKAGES:
            return root
    raise HostUnsupported(
        f"{type(ctx).__name__} is not a futu-api or moomoo-api OpenQuoteContext")


def sdk_utils(package: str) -> Any:
    """The SDK's ``common.utils`` module (already imported by the SDK itself)."""
    return sys.modules.get(package + ".common.utils") or __import__(
        package + ".common.utils", fromlist=["pack_pb_req"])


def opend_address(ctx: Any) -> Any:
    """``(host, port)`` the context talks to (name-mangled attributes of OpenContextBase)."""
    host = getattr(ctx, "_OpenContextBase__host", None)
    port = getattr(ctx, "_OpenContextBase__port", None)
    return (host, port) if host is not None else id(ctx)


def start_connecting(module: Any, host: str, port: int) -> Any:
    """An ``OpenQuoteContext`` of SDK ``module`` that connects in the background; poll :func:`is_ready`.

    It is constructed in a daemon thread of its own.  The constructor starts the first connect on
    a ``threading.Timer``, which takes its daemon flag from the thread that creates it.  Closed
    while that connect is still in flight (status CONNECTING: Ctrl-C, or our connect timeout),
    the context drops the connection without finishing its pending connect result, and the timer
    waits on it without a timeout, forever (``_connect_sync`` -> ``result.wait()``: futu-api
    9.6.5608, 10.5.6508, 10.11.7108, moomoo-api 10.11.7108).  A daemon timer cannot keep the
    process from exiting; from the main thread it did ("interrupted", then no exit).
    """
    made: list = []

    def construct() -> None:
        try:
            made.append(module.OpenQuoteContext(host=host, port=port, is_async_connect=True))
        except BaseException as exc:  # raised again in the caller's thread
            made.append(exc)

    thread = threading.Thread(target=construct, name="futu-buybacks connect", daemon=True)
    thread.start()
    thread.join()
    if isinstance(made[0], BaseException):
        raise made[0]
    return made[0]


def let_first_connect_settle(ctx: Any, timeout: float = 1.0) -> None:
    """Before closing a context :func:`start_connecting` made that is not ready: wait a moment
    (until it is ready, at most ``timeout``) for its first connect to finish.

    That connect runs on a ``threading.Timer``, and every SDK here fails in that thread when the
    context is closed under it, printing a traceback on stderr: futu-api 9.6.5608, 10.5.6508,
    10.11.7108 and moomoo-api 10.11.7108 if the timer fired but has not yet reached
    ``self._reconnect_timer.cancel()`` (``close()`` set it to None: about 1 close in 10), or
    wait forever if the connection was dropped under it (see :func:`start_connecting`);
    moomoo-api 9.6.5608 on ``self._net_mgr``, which its ``close()`` sets to None (most closes).
    Against a reachable OpenD the connect takes milliseconds; against one that does not answer
    the wait ends at ``timeout`` and the close goes ahead.
    """
    deadline = time.monotonic() + timeout
    while not is_ready(ctx) and time.monotonic() < deadline:
        time.sleep(0.002)


def is_ready(ctx: Any) -> bool:
    """Whether the context's connection is up and InitConnect was answered."""
    return ctx.status == "READY"


def wants_encryption(package: str) -> bool:
    """Whether a context opened now would encrypt its link (``SysConfig.enable_proto_encrypt``).

    Only an SDK already imported can have been told to; one that is not answers False without
    being imported.
    """
    config = sys.modules.get(package + ".common.sys_config")
    return bool(config is not None and config.SysConfig.is_proto_encrypt())


def has_reply_class(package: str) -> bool:
    """Whether the SDK's receive loop can decode replies to protocol 3235 (native or ours)."""
    return sdk_utils(package).ProtobufMap.created_protobuf_map.get(PROTO_ID) is not None


def register_reply_class(package: str) -> bool:
    """Teach the SDK to decode replies to 3235 if it cannot yet.  True if we added our class."""
    table: Dict[int, Any] = sdk_utils(package).ProtobufMap.created_protobuf_map
    if table.get(PROTO_ID) is not None:
        return False
    table[PROTO_ID] = response_class(PROTO_ID)()
    return True


def _unpack(response: Any) -> Tuple[int, str, Any]:
    try:
        return RET_OK, "", decode_reply(response)
    except BuybacksError as exc:
        return RET_ERROR, str(exc), None


_prepared: Dict[str, bool] = {}  # package -> whether its 9.6 disconnect bug was repaired
_prepare_lock = threading.Lock()


def prepare(package: str) -> bool:
    """Make the SDK ready for the shim, once per process: reply class, disconnect repair.

    Run by ``install()`` and by the first request through the shim (the mixin path never calls
    ``install()``).  True if the futu-api 9.6 disconnect bug was found and repaired.
    """
    repaired = _prepared.get(package)
    if repaired is None:
        with _prepare_lock:
            repaired = _prepared.get(package)
            if repaired is None:
                register_reply_class(package)
                repaired = _prepared[package] = repair_disconnect_handling(package)
                if repaired:
                    log.info("futu_buybacks: repaired %s's reconnect after a disconnect (futu-api 9.6 bug)",
                             package)
    return repaired


def request(ctx: Any, query: BuybackQuery) -> Tuple[int, Any]:
    """Send one validated query through ``ctx``'s own request machinery; ``(ret, data or msg)``."""
    package = sdk_package_of(ctx)
    prepare(package)
    pack_pb_req = sdk_utils(package).pack_pb_req

    def pack(conn_id: int) -> Any:
        return pack_pb_req(build_request(query), PROTO_ID, conn_id)

    processor = ctx._get_sync_query_processor(pack, _unpack)
    ret, msg, data = processor(conn_id=ctx.get_sync_conn_id())
    if ret != RET_OK:
        return RET_ERROR, msg
    return RET_OK, data


def _pop_all_req_info(self: Any, err: Any) -> None:
    """What ``OpenContextBase._pop_all_req_info`` does in 10.x: fail every pending request."""
    with self._lock:
        for req_info in self._req_map.values():
            req_info.err = err
            req_info.msg = err.name
            if req_info.is_sync:
                req_info.notify_finish()
        self._req_map.clear()


def repair_disconnect_handling(package: str) -> bool:
    """Repair a disconnect bug of futu-api 9.6.5608; True if this SDK had it.

    Its ``_pop_all_req_info`` calls ``req_info.is_sync()``, but ``is_sync`` is a property (a
    bool), so ``on_disconnect`` raises whenever a request is pending: the pending call waits 20 s
    ("Abnormal event timeout") and the context never reconnects, for every method, not only
    ours.  We probe the SDK's method on a stand-in object and replace it only if the probe raises
    that TypeError; 10.x (and moomoo-api 9.6) have the corrected line already.
    """
    base = sys.modules.get(f"{package}.common.open_context_base")
    cls = getattr(base, "OpenContextBase", None)
    method = getattr(cls, "_pop_all_req_info", None)
    if method is None or method is _pop_all_req_info:  # moomoo-api 9.6 has no such method
        return False
    try:
        # A stand-in with only what the method reads, not a host object: an OpenContextBase made
        # without __init__ would run __del__ -> close() on attributes it lacks (moomoo-api 9.6).
        probe = types.SimpleNamespace(_lock=threading.RLock(), _req_map={
            1: base.ReqInfo(proto_id=0, serial_no=0, req_time=0.0, is_sync=True)})
        err = base.PacketErr.Disconnect
        method(probe, err)
    except TypeError:
        cls._pop_all_req_info = _pop_all_req_info
        return True
    except Exception:  # a different SDK layout: leave it alone
        return False
    return False


#: Above every level the SDKs log at: their console logger prints nothing.
_SILENT = logging.CRITICAL + 1


@contextlib.contextmanager
def quiet_console(package: str) -> Iterator[None]:
    """Keep the SDK's console lines off stdout for the duration; its previous level after.

    Every SDK writes "New connect ready ...", "Disconnected ..." and the like to stdout through a
    ``StreamHandler`` on the ``FTConsoleLog`` logger, and moomoo-api 9.6 also copies every file
    log line there, coloured.  Each SDK's ``FTLog`` singleton checks its own ``console_level``
    before it writes, so raising that level silences it; its log file is left as it was.  Checked on
    futu-api 9.6.5608 and 10.11.7108, moomoo-api 9.6.5608 and 10.11.7108 (the same ``ft_logger``
    module, ``console_level`` a property setting the logger's and the handler's level).
    """
    logger = getattr(importlib.import_module(package + ".common.ft_logger"), "logger", None)
    previous = getattr(logger, "console_level", None)
    if previous is None:  # an SDK layout we do not know: leave its logging alone
        yield
        return
    logger.console_level = _SILENT
    try:
        yield
    finally:
        logger.console_level = previous


def close_and_wait(ctx: Any, timeout: float = 2.0) -> None:
    """``ctx.close()``, returning once the SDK's network thread has handled the disconnect.

    ``close()`` returns before the network thread runs ``on_disconnect``, which writes
    "Disconnected ..." to the console; a caller that silenced the console (:func:`quiet_console`)
    must not restore it before that.  The network manager runs the work put on its
    ``_req_queue`` in order (after a byte on ``_w_sock`` wakes it), so a marker queued after the
    close runs after ``on_disconnect``.  ``ctx._net_mgr`` is read before ``close()``, which clears
    it on moomoo-api 9.6.  Checked on futu-api 9.6.5608, 10.11.7108, moomoo-api 9.6.5608, 10.11.7108.
    """
    net = getattr(ctx, "_net_mgr", None)
    ctx.close()
    queue, wake = getattr(net, "_req_queue", None), getattr(net, "_w_sock", None)
    if queue is None or wake is None:
        return
    done = threading.Event()
    queue.put(done.set)
    try:
        wake.send(b"1")
    except OSError:  # the network thread is gone, and the disconnect with it
        return
    done.wait(timeout)
