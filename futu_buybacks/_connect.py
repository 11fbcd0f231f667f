"""The loader's first connection to OpenD: it succeeds or fails within a deadline, and says why.

The SDKs' constructor retries forever, silently, against anything that is not a ready OpenD:
a closed port, a host that drops packets, a port that accepts but never answers, or answers in
another protocol.  So before any SDK context exists, :func:`probe` opens a plain socket and
sends one InitConnect: anything that answers with OpenD's framing ("FT" first) is taken for an
OpenD; everything else becomes a message naming the address and what was seen.  Only then is
the SDK's context created, connecting in the background, and waited for up to the same deadline;
if it is not ready by then it is closed, so none of its threads is left retrying.

Why a probe of our own rather than the SDK's own connection alone: what the SDK saw (refused,
reset, no answer) stays inside its threads and differs between versions (moomoo-api 9.6 has
another network layer and fewer states), while a socket answers the same on every version and
fails at once for a refused or closed port instead of after the deadline.  The probe's
InitConnect is unencrypted and its reply is not parsed (a refusal in OpenD's framing still proves
an OpenD); when the SDK is set to encrypt (an OpenD with an RSA key may drop a plain
InitConnect), the probe only connects and the SDK's encrypted handshake is bounded by the
deadline alone.  The framing is ``_wire.py``'s (sans-IO), which the simulator speaks too.
"""

import importlib
import importlib.util
import socket
import time
from typing import Any, Callable, Optional

from ._errors import InvalidArgument, TransportError
from ._host import SDK_PACKAGES, close_and_wait, is_ready, let_first_connect_settle, start_connecting, wants_encryption
from ._interrupts import ctrl_c_held
from ._messages import PROTO_INIT_CONNECT, request_class
from ._wire import HEADER_SIZE, MAGIC, encode_frame

#: Seconds the first connection may take before the loader gives up (``connect_timeout``).
DEFAULT_CONNECT_TIMEOUT = 15.0
#: What the SDKs send as clientVer unless told otherwise (``CLIENT_VERSION``).
_CLIENT_VERSION = 300
_PACKET_ENC_ALGO_NONE = -1
_POLL = 0.02


def probe(host: str, port: int, timeout: float, *, handshake: bool = True) -> Optional[str]:
    """None if an OpenD answers at ``host:port`` within ``timeout`` seconds, else what was seen.

    ``handshake=False`` only checks that the TCP connection is accepted.
    """
    deadline = time.monotonic() + timeout
    try:
        sock = socket.create_connection((host, port), timeout=timeout)
    except socket.timeout:
        return f"no answer to the connection within {timeout:g} s (OpenD's host down, or packets dropped?)"
    except ConnectionRefusedError:
        return "connection refused"
    except OSError as exc:
        return exc.strerror or str(exc)
    with sock:
        if not handshake:
            return None
        received = b""
        try:
            sock.sendall(_init_connect_frame())
            while len(received) < len(MAGIC):
                sock.settimeout(max(deadline - time.monotonic(), 0.001))
                chunk = sock.recv(HEADER_SIZE)
                if not chunk:
                    return "the peer closed the connection (not OpenD?)"
                received += chunk
                if not received.startswith(MAGIC[:len(received)]):
                    return f"the peer answered in another protocol (not OpenD?): {received[:48]!r}"
        except socket.timeout:
            return f"connected, but no answer to InitConnect within {timeout:g} s (not OpenD?)"
        except OSError:  # reset, broken pipe
            return "the peer closed the connection (not OpenD?)"
    return None


def _init_connect_frame() -> bytes:
    request = request_class(PROTO_INIT_CONNECT)()
    c2s = request.c2s
    c2s.clientVer, c2s.clientID = _CLIENT_VERSION, "futu-buybacks-probe"
    c2s.recvNotify, c2s.packetEncAlgo = False, _PACKET_ENC_ALGO_NONE
    return encode_frame(PROTO_INIT_CONNECT, 0, 1, request.SerializeToString())


def resolve_sdk(sdk: Optional[str]) -> Optional[str]:
    """The SDK package to connect with: ``sdk`` checked, else the installed one (None if neither is).

    Raises :class:`InvalidArgument` for a name that is no SDK or an SDK that is not installed, so
    that a typo fails before anything is fetched instead of as an import error later.
    """
    if sdk is None:
        return next((name for name in SDK_PACKAGES if importlib.util.find_spec(name)), None)
    if sdk not in SDK_PACKAGES:
        raise InvalidArgument(f"sdk must be 'futu' or 'moomoo' (or None: the installed one), got {sdk!r}")
    if importlib.util.find_spec(sdk) is None:
        raise InvalidArgument(f"{sdk}-api is not installed: pip install {sdk}-api")
    return sdk


def open_context(host: str, port: int, sdk: Optional[str] = None, *,
                 timeout: float = DEFAULT_CONNECT_TIMEOUT,
                 after_sdk_import: Callable[[], None] = lambda: None) -> Any:
    """A ready ``OpenQuoteContext`` on ``host:port`` with the shim installed, within ``timeout`` seconds.

    Raises :class:`TransportError` ("cannot reach OpenD at host:port: what was seen") otherwise.
    ``after_sdk_import`` runs right after the SDK's import, which replaces the SIGINT handler
    (the loader puts its own back).  The import's own time does not count against ``timeout``.
    """
    from ._shim import install
    name = resolve_sdk(sdk)
    if name is None:
        raise TransportError("neither futu-api nor moomoo-api is installed: pip install futu-api (or moomoo-api)")
    address = f"cannot reach OpenD at {host}:{port}"
    handshake = not wants_encryption(name)
    started = time.monotonic()
    seen = probe(host, port, timeout, handshake=handshake)
    if seen is not None:
        hint = (f". Start OpenD, or the simulator: python -m futu_buybacks.simulator --port {port}"
                if seen == "connection refused" else "")
        raise TransportError(f"{address}: {seen}{hint}")
    imported = time.monotonic()
    with ctrl_c_held():  # the SDK's import sets its os._exit(0) handler; a Ctrl-C meanwhile waits for ours
        install()
        module = importlib.import_module(name)
    after_sdk_import()
    deadline = started + timeout + (time.monotonic() - imported)
    ctx = None
    try:
        with ctrl_c_held():  # a Ctrl-C between making the context and holding it here would lose it
            ctx = start_connecting(module, host, port)
        while not is_ready(ctx):
            if time.monotonic() >= deadline:
                if handshake:
                    raise TransportError(f"{address}: OpenD answered, but the SDK's connection was not ready "
                                         f"within {timeout:g} s")
                raise TransportError(f"{address}: connected, but the SDK's encrypted connection was not ready "
                                     f"within {timeout:g} s (another RSA key? not OpenD?)")
            time.sleep(_POLL)
    except BaseException:  # the timeout, or Ctrl-C while connecting: an open context would keep the process alive
        if ctx is not None:
            with ctrl_c_held():
                let_first_connect_settle(ctx)
                close_and_wait(ctx)
        raise
    return ctx
