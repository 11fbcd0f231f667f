"""The shipped descriptors, the private pool, and coexistence with the SDK's own registrations."""

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest
from google.protobuf import descriptor_pb2, descriptor_pool

from futu_buybacks import _messages

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.skipif(importlib.util.find_spec("grpc_tools") is None, reason="grpcio-tools not installed")
def test_shipped_descriptors_match_protos(tmp_path):
    out = tmp_path / "descriptors.pb"
    protos = sorted(str(p) for p in (ROOT / "protos").glob("*.proto"))
    subprocess.run([sys.executable, "-m", "grpc_tools.protoc", f"-I{ROOT / 'protos'}", "--include_imports",
                    f"--descriptor_set_out={out}", *protos], check=True)
    fresh = descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes())
    shipped = _messages.descriptor_set()
    assert {f.name: f for f in fresh.file} == {f.name: f for f in shipped.file}, \
        "futu_buybacks/_descriptors.pb is stale: run `make protos`"


def test_field_numbers_of_protocol_3235():
    response = _messages.response_class(3235).DESCRIPTOR
    s2c = response.fields_by_name["s2c"].message_type
    assert [(f.name, f.number) for f in response.fields] == [
        ("retType", 1), ("retMsg", 2), ("errCode", 3), ("s2c", 4)]
    assert [(f.name, f.number) for f in s2c.fields] == [
        ("hkBuyBackList", 1), ("aBuyBackList", 2), ("nextKey", 3)]
    hk = s2c.fields_by_name["hkBuyBackList"].message_type
    a = s2c.fields_by_name["aBuyBackList"].message_type
    assert [f.number for f in hk.fields] == list(range(1, 13))
    assert [f.number for f in a.fields] == list(range(1, 28))
    c2s = _messages.request_class(3235).DESCRIPTOR.fields_by_name["c2s"].message_type
    assert [(f.name, f.number) for f in c2s.fields] == [("security", 1), ("nextKey", 2), ("num", 3)]
    assert response.fields_by_name["retType"].default_value == -400


def test_messages_live_in_a_private_pool():
    default = descriptor_pool.Default()
    ours = _messages.response_class(3235).DESCRIPTOR.file.pool
    assert ours is not default
    # Our file is not in the default pool (unless an SDK 10.6+ registered its own there).
    try:
        registered = default.FindFileByName("Qot_GetCorporateActionsBuybacks.proto")
    except KeyError:
        registered = None
    assert registered is None or registered.pool is default


def test_import_after_and_before_an_sdk_that_registers_the_same_names():
    """With the SDK's own file of the same name in the default pool, both import, in either order."""
    code = """
import importlib.util, sys
order = sys.argv[1]
sdk = next((n for n in ("futu", "moomoo") if importlib.util.find_spec(n)), None)
if order == "sdk-first" and sdk: __import__(sdk)
from futu_buybacks import _messages
cls = _messages.response_class(3235)
if sdk: __import__(sdk)
r = cls(); r.retType = 0; r.s2c.nextKey = "5"
assert cls.FromString(r.SerializeToString()).s2c.nextKey == "5"
print("ok")
"""
    for order in ("sdk-first", "ours-first"):
        result = subprocess.run([sys.executable, "-c", code, order], capture_output=True, text=True)
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip().endswith("ok")
