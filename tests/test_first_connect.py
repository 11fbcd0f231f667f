"""The first connection succeeds or fails within ``connect_timeout``, with a message saying what was seen.

The SDK's constructor retries forever; against a port that accepts but does not speak OpenD,
``fetch`` used to run for over 11 minutes without a word.  Each peer below misbehaves one way;
through ``load_buybacks`` and through the command, the run ends within the timeout.
"""

import contextlib
import socket
import subprocess
import sys
import threading
import time

import pytest

from futu_buybacks import load_buybacks
from futu_buybacks._errors import TransportError
from futu_buybacks._messages import PROTO_INIT_CONNECT
from futu_buybacks._wire import FrameReader, encode_frame

from conftest import SDKS

pytestmark = [pytest.mark.e2e, pytest.mark.skipif(not SDKS, reason="no SDK installed")]

TIMEOUT = 2.0
GARBAGE = b"HTTP/1.1 400 Bad Request\r\n\r\n"

#: peer -> what the message says after "cannot reach OpenD at 127.0.0.1:PORT: "
SEEN = {
    "closed port": "connection refused",
    "dropped packets": "no answer to the connection within 2 s (OpenD's host down, or packets dropped?)",
    "silent": "connected, but no answer to InitConnect within 2 s (not OpenD?)",
    "accepts and closes": "the peer closed the connection (not OpenD?)",
    "garbage": "the peer answered in another protocol (not OpenD?): b'HTTP/1.1 400 Bad Request\\r\\n\\r\\n'",
    "answers only the first connection": "OpenD answered, but the SDK's connection was not ready within 2 s",
}


def _accepting(server, serve, stop):
    while not stop.is_set():
        try:
            conn, _ = server.accept()
        except OSError:  # closed
            return
        threading.Thread(target=serve, args=(conn,), daemon=True).start()


def _answer_init_connect(conn):
    reader, frames = FrameReader(), []
    while not frames:
        data = conn.recv(4096)
        if not data:
            return
        frames = reader.feed(data)
    conn.sendall(encode_frame(PROTO_INIT_CONNECT, 0, frames[0].serial, b""))


@contextlib.contextmanager
def peer(kind):
    """A port on 127.0.0.1 that misbehaves as ``kind`` (a key of SEEN); yields the port."""
    if kind == "closed port":
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        yield port
        return
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    held, stop = [], threading.Event()
    try:
        if kind == "dropped packets":  # a full accept queue: Linux drops the SYNs of further connections
            server.listen(0)
            filler = socket.create_connection(server.getsockname())
            held.append(filler)
        else:
            server.listen(8)
            first = [True]

            def serve(conn):
                held.append(conn)
                if kind == "accepts and closes":
                    conn.close()
                elif kind == "garbage":
                    conn.sendall(GARBAGE)
                elif kind == "answers only the first connection" and first:
                    first.clear()
                    _answer_init_connect(conn)
            threading.Thread(target=_accepting, args=(server, serve, stop), daemon=True).start()
        yield server.getsockname()[1]
    finally:
        stop.set()
        server.close()
        for sock in held:
            sock.close()


def expected(port, kind):
    return f"cannot reach OpenD at 127.0.0.1:{port}: {SEEN[kind]}"


@pytest.mark.parametrize("kind", list(SEEN))
def test_load_buybacks_fails_within_the_timeout_saying_what_it_saw(kind, tmp_path):
    with peer(kind) as port:
        before = set(threading.enumerate())
        start = time.monotonic()
        with pytest.raises(TransportError) as raised:
            load_buybacks(["HK.00700"], port=port, sdk=SDKS[0], cache=False, progress=False,
                          connect_timeout=TIMEOUT)
        elapsed = time.monotonic() - start
        assert str(raised.value).startswith(expected(port, kind)), str(raised.value)
        assert elapsed < TIMEOUT + 2.0  # slack for a busy machine (make soak runs beside a busy process)
        deadline = time.monotonic() + 5  # the SDK's threads for the context it closed end by themselves
        while time.monotonic() < deadline:
            left = [t for t in threading.enumerate() if t not in before and t.is_alive() and not t.daemon]
            if not left:
                break
            time.sleep(0.05)
        assert not left


def fetch(port, out_dir):
    """``futu-buybacks fetch`` against ``port``; the result and its wall time."""
    start = time.monotonic()
    result = subprocess.run([sys.executable, "-m", "futu_buybacks", "fetch", "HK.00700", "--port", str(port),
                             "--sdk", SDKS[0], "--connect-timeout", str(TIMEOUT), "--no-cache",
                             "--out-dir", str(out_dir)], capture_output=True, text=True, timeout=60)
    return result, time.monotonic() - start


@pytest.fixture(scope="module")
def closed_port_run(tmp_path_factory):
    """The command against a closed port: it gives up as soon as it has started, so its wall time
    is what starting the interpreter, pandas and the command costs on this machine right now."""
    with peer("closed port") as port:
        return port, *fetch(port, tmp_path_factory.mktemp("closed"))


@pytest.mark.parametrize("kind", [k for k in SEEN if k != "answers only the first connection"])
def test_fetch_exits_3_within_the_timeout_with_the_message(kind, tmp_path, closed_port_run):
    """Bounded by the timeout after the command's own start-up (measured beside it: on a busy
    machine starting Python and pandas alone took over 10 s, which an absolute bound failed on)."""
    port, result, startup = closed_port_run
    elapsed = startup
    if kind != "closed port":
        with peer(kind) as port:
            result, elapsed = fetch(port, tmp_path)
    assert result.returncode == 3, result.stderr
    assert expected(port, kind) in result.stderr
    assert "Traceback" not in result.stderr
    assert elapsed < startup + TIMEOUT + 3.0


def test_connect_timeout_is_an_option_with_its_default_in_the_help():
    result = subprocess.run([sys.executable, "-m", "futu_buybacks", "fetch", "--help"], capture_output=True,
                            text=True, timeout=60)
    assert "--connect-timeout" in result.stdout and "(default: 15)" in " ".join(result.stdout.split())


@pytest.mark.parametrize("value", ["0", "-1", "soon", "inf"])
def test_a_bad_connect_timeout_is_a_message(value, tmp_path, capsys):
    from futu_buybacks._cli import main
    assert main(["fetch", "HK.00700", "--connect-timeout", value, "--out-dir", str(tmp_path)]) == 2
    stderr = capsys.readouterr().err
    assert f"--connect-timeout must be a positive number of seconds, got {value!r}" in stderr
    assert "Traceback" not in stderr


@pytest.mark.parametrize("value", [0, -1.5, "15", True, float("nan"), float("inf")])
def test_load_buybacks_refuses_a_bad_connect_timeout_before_connecting(value):
    from futu_buybacks._errors import InvalidArgument
    with pytest.raises(InvalidArgument, match="connect_timeout must be a positive number of seconds"):
        load_buybacks(["HK.00700"], port=1, cache=False, connect_timeout=value)


def test_a_context_closed_while_it_connects_leaves_no_sdk_thread_failing_or_alive():
    """Ctrl-C or the connect timeout closes a context of ours before it is ready.  The timer of
    its first connect then failed in the SDK's thread, on an attribute the close had cleared (a
    traceback on stderr: futu-api about 1 close in 10, moomoo-api 9.6 most closes), or waited
    forever for a connection the close dropped, which kept the process from exiting."""
    import importlib

    from futu_buybacks import _host
    from futu_buybacks.simulator import Simulator, synthetic_dataset

    sdk = importlib.import_module(SDKS[0])

    def close_many(wait_for_the_first_connect):
        """Threads left that are not daemons, and exceptions in SDK threads, after 100 such closes."""
        before = {t for t in threading.enumerate() if not t.daemon}
        failures = []
        hook, threading.excepthook = threading.excepthook, lambda args: failures.append(repr(args.exc_value))
        try:
            with Simulator(synthetic_dataset(["HK.00001"], 5)) as sim:
                for _ in range(100):
                    ctx = _host.start_connecting(sdk, "127.0.0.1", sim.port)
                    if wait_for_the_first_connect:
                        _host.let_first_connect_settle(ctx)
                    _host.close_and_wait(ctx)
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline and {t for t in threading.enumerate() if not t.daemon} - before:
                time.sleep(0.05)
        finally:
            threading.excepthook = hook
        return {t for t in threading.enumerate() if not t.daemon} - before, failures

    assert close_many(wait_for_the_first_connect=True) == (set(), [])
    # closed at once, the SDK's timer fails or waits forever (as measured: 1 in 10, most of the
    # rest); neither may keep the process alive
    left, _ = close_many(wait_for_the_first_connect=False)
    assert left == set()
