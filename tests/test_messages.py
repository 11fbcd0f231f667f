"""The shipped descriptors, the private pool, and coexistence with the SDK's own registrations."""

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest
from google.protobuf import descriptor_pb2

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


def run_child(code: str) -> str:
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout.strip().splitlines()[-1]


def test_messages_live_in_a_private_pool():
    """Our files never enter protobuf's default pool; where an SDK 10.6+ registered its own, it keeps it."""
    code = """
import importlib.util, sys
from google.protobuf import descriptor_pool
from futu_buybacks import _messages
ours = _messages.response_class(3235).DESCRIPTOR
default = descriptor_pool.Default()
assert ours.file.pool is not default
try:
    default.FindFileByName(ours.file.name)
    print("registered before any SDK import"); sys.exit()
except KeyError:
    pass
sdk = next((n for n in ("futu", "moomoo") if importlib.util.find_spec(n)), None)
if sdk:
    __import__(sdk)
try:
    theirs = default.FindMessageTypeByName(ours.full_name)
except KeyError:
    print("absent")
else:
    print("the SDK's" if theirs is not ours and theirs.file.pool is default else "ours")
"""
    assert run_child(code) in {"absent", "the SDK's"}


def test_every_message_class_outlives_garbage_collection():
    """A nested class no live message uses is still there after gc.collect(): the SDKs' JSON decoder
    (``pbjson.dict2pb``) reads ``descriptor._concrete_class`` of each nested message, which upb
    answers with SystemError once the class is collected."""
    code = """
import gc
from futu_buybacks import _messages
response = _messages.response_class(3235)()
response.s2c.aBuyBackList.add().seller = "x"
del response
gc.collect()
def walk(descriptor, seen):
    if descriptor.full_name in seen:
        return
    seen.add(descriptor.full_name)
    assert descriptor._concrete_class is _messages.message_class(descriptor.full_name), descriptor.full_name
    for field in descriptor.fields:
        if field.message_type is not None:
            walk(field.message_type, seen)
seen = set()
for proto_id in _messages.PACKAGES:
    walk(_messages.response_class(proto_id).DESCRIPTOR, seen)
    walk(_messages.request_class(proto_id).DESCRIPTOR, seen)
print(len(seen))
"""
    assert int(run_child(code)) >= 10


def test_python_code_run_by_a_collection_never_meets_a_half_destroyed_class():
    """The crash the thread test met (SIGSEGV in garbage collection), made deterministic: upb holds
    message classes in a cache the collector cannot see, and a class it clears but cannot yet free
    (still referenced from the same garbage) stays in that cache without its descriptor. Python code
    run in that pass (a ``__del__``, a weakref callback; in any thread) is handed it by ``.add()``,
    ``.s2c`` or a parse, and crashes in ``PyUpb_Descriptor_GetDef(NULL)``. Keeping every class of the
    private pool alive leaves nothing of ours for the collector to clear."""
    code = """
import gc
from futu_buybacks import _messages
Response = _messages.response_class(3235)

class Finalizer:
    def __del__(self):
        item = Response().s2c.aBuyBackList.add()  # the nested classes, from upb's cache
        item.seller = "x"
        assert type(item).DESCRIPTOR.name == "ABuyBackItem"

old = Finalizer()
gc.collect()  # old is in the oldest generation now: freed by its refcount in the middle of a pass
response = Response()
classes = [type(response.s2c), type(response.s2c.aBuyBackList.add()), type(response.s2c.hkBuyBackList.add())]
holder = classes + [old]  # tracked after the classes, so the collector clears it after them
holder.append(holder)
del response, classes, old, holder
gc.collect(0)
print("survived")
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, f"exit {result.returncode}: {result.stderr[-3000:]}"
    assert result.stdout.strip() == "survived"


def test_first_use_from_many_threads_builds_one_pool():
    """Threads racing on the first use get the same classes (a slow pool widens the window)."""
    code = """
import threading, time
from futu_buybacks import _messages
real = _messages.descriptor_pool.DescriptorPool
def slow_pool():
    time.sleep(0.3)
    return real()
_messages.descriptor_pool.DescriptorPool = slow_pool
barrier, got = threading.Barrier(4), []
def first_use():
    barrier.wait()
    got.append(_messages.response_class(3235))
threads = [threading.Thread(target=first_use) for _ in range(4)]
for thread in threads: thread.start()
for thread in threads: thread.join()
print(len(got), len(set(map(id, got))))
"""
    assert run_child(code) == "4 1"


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
