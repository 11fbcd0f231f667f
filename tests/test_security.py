"""The simulator's exposure and robustness, and what the package refuses to do."""

import importlib
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest

import futu_buybacks
from futu_buybacks import RET_OK, load_buybacks
from futu_buybacks._wire import HEADER, MAGIC, MAX_BODY
from futu_buybacks.simulator import Simulator

from conftest import SDKS

PACKAGE = Path(futu_buybacks.__file__).parent


def closed_by_peer(sock, timeout=5.0):
    sock.settimeout(timeout)
    try:
        return sock.recv(1024) == b""
    except ConnectionResetError:
        return True


def assert_still_serving(sim):
    """A new client is served after whatever the last one did."""
    if not SDKS:
        with socket.create_connection((sim.host, sim.port)):
            return
    sdk = importlib.import_module(SDKS[0])
    futu_buybacks.install()
    ctx = sdk.OpenQuoteContext(host=sim.host, port=sim.port)
    try:
        assert ctx.get_corporate_actions_buybacks("HK.00700", num=1)[0] == RET_OK
    finally:
        ctx.close()


def test_binds_loopback_by_default():
    with Simulator() as sim:
        assert sim.host == "127.0.0.1"


def test_binding_elsewhere_is_announced_loudly():
    proc = subprocess.Popen([sys.executable, "-m", "futu_buybacks.simulator", "--host", "0.0.0.0", "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        first = proc.stderr.readline()
    finally:
        proc.terminate()
        proc.communicate(timeout=10)
    assert first.startswith("WARNING") and "0.0.0.0" in first and "other machines" in first


def test_oversized_body_closes_the_connection_and_the_server_survives():
    with Simulator() as sim:
        with socket.create_connection((sim.host, sim.port)) as sock:
            sock.sendall(HEADER.pack(MAGIC, 3235, 0, 0, 1, MAX_BODY + 1, bytes(20), bytes(8)))
            assert closed_by_peer(sock)
        assert_still_serving(sim)


@pytest.mark.parametrize("garbage", [b"GET / HTTP/1.1\r\n\r\n", bytes(range(256)) * 8,
                                     HEADER.pack(MAGIC, 3235, 0, 0, 1, 5, bytes(20), bytes(8)) + b"\xff" * 5,
                                     HEADER.pack(MAGIC, 3235, 7, 0, 1, 3, bytes(20), bytes(8)) + b"abc"])
def test_garbage_from_a_client_is_survived(garbage):
    with Simulator() as sim:
        with socket.create_connection((sim.host, sim.port)) as sock:
            sock.sendall(garbage)
            sock.settimeout(2)
            try:
                sock.recv(65536)  # an error reply or a close, never a crash
            except (socket.timeout, ConnectionResetError):
                pass
        assert_still_serving(sim)


def test_codes_are_validated_before_any_query_or_request(tmp_path):
    hostile = ["HK.00700'; DROP TABLE codes; --", "../../etc/passwd", "HK.0070\x00"]
    tables = load_buybacks(hostile, port=1, cache=tmp_path / "c.sqlite3")   # nothing listens on port 1
    assert set(tables.errors) == set(hostile) and tables.requests == 0
    assert all("code" in message for message in tables.errors.values())


def test_nothing_is_unpickled_or_evaluated():
    pattern = re.compile(r"\b(pickle|marshal|shelve|dill)\b|\beval\(|\bexec\(|yaml\.load\(")
    offenders = [f"{path.name}:{number}" for path in PACKAGE.rglob("*.py")
                 for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
                 if pattern.search(line)]
    assert offenders == []
