"""Protobuf message classes of the protocols futu-buybacks speaks, from a private descriptor pool.

Why a private pool: futu-api / moomoo-api 10.6+ register files and packages with the same
names (``Qot_GetCorporateActionsBuybacks.proto``, ``Qot_Common.Security``...) in protobuf's
default pool.  Adding ours there fails with "duplicate file name" on the upb/cpp backends and is
silently ignored (keeping the SDK's definitions) on the pure-python one.  A pool of our own
avoids both, whatever the SDK version or import order.

The descriptors are compiled from ``protos/`` by ``make protos`` into ``_descriptors.pb``
(a ``FileDescriptorSet``) and shipped with the package, so no code generation or protoc is
needed at run time, and the same bytes work on protobuf 3.20 through 7.x.
"""

import pkgutil
import threading
from functools import cache
from typing import Any, Type

from google.protobuf import descriptor_pool
from google.protobuf import message_factory as _factory

PROTO_BUYBACKS = 3235
PROTO_INIT_CONNECT = 1001
PROTO_GLOBAL_STATE = 1002
PROTO_KEEP_ALIVE = 1004

#: Protocol id -> protobuf package of its Request/Response messages.
PACKAGES = {
    PROTO_INIT_CONNECT: "InitConnect",
    PROTO_GLOBAL_STATE: "GetGlobalState",
    PROTO_KEEP_ALIVE: "KeepAlive",
    PROTO_BUYBACKS: "Qot_GetCorporateActionsBuybacks",
}

DESCRIPTOR_FILE = "_descriptors.pb"


def descriptor_set() -> Any:
    """The shipped ``FileDescriptorSet`` (what ``make protos`` compiled from ``protos/``)."""
    from google.protobuf import descriptor_pb2  # ~30 ms to import: only when first needed
    data = pkgutil.get_data(__name__.rpartition(".")[0], DESCRIPTOR_FILE)
    assert data is not None, f"{DESCRIPTOR_FILE} is missing from the package"
    return descriptor_pb2.FileDescriptorSet.FromString(data)


@cache
def _pool() -> descriptor_pool.DescriptorPool:
    pool = descriptor_pool.DescriptorPool()
    for file_proto in descriptor_set().file:
        pool.Add(file_proto)
    return pool


def _class_for(descriptor: Any) -> Type[Any]:
    get_class = getattr(_factory, "GetMessageClass", None)  # protobuf >= 4.22
    if get_class is not None:
        return get_class(descriptor)
    return _factory.MessageFactory(descriptor.file.pool).GetPrototype(descriptor)  # protobuf 3.20


@cache
def message_class(full_name: str) -> Type[Any]:
    """The message class for a full name such as ``"Qot_GetCorporateActionsBuybacks.Response"``."""
    return _class_for(_pool().FindMessageTypeByName(full_name))


def request_class(proto_id: int) -> Type[Any]:
    return message_class(PACKAGES[proto_id] + ".Request")


def response_class(proto_id: int) -> Type[Any]:
    return message_class(PACKAGES[proto_id] + ".Response")


#: Package of the twin messages built by :func:`twin_class` (in the private pool, never on the wire).
TWIN_PACKAGE = "futu_buybacks.twins"


_twin_lock = threading.Lock()  # a file can be added to a pool once: one builder at a time


@cache
def twin_class(full_name: str) -> Type[Any]:
    """The "columns twin" of a message: same field numbers and types, scalars repeated, lists merged.

    Protobuf merges a message field that occurs more than once, and merging appends repeated
    fields.  So the encoding of a 3235 ``S2C`` parsed as the twin of ``S2C`` holds, for each item
    list, one message whose field N is, in item order, the value of field N of every item that
    has it: a column, read by numpy without a Python object per value.
    """
    from google.protobuf import descriptor_pb2
    pool = _pool()
    package = f"{TWIN_PACKAGE}.{full_name}"  # one package per call: twins of shared types never clash
    twins = descriptor_pb2.FileDescriptorProto(
        name=f"{package.replace('.', '/')}.proto", package=package, syntax="proto2")
    done = set()

    def add_twin(original: Any) -> str:
        name = original.full_name.replace(".", "_")
        if name not in done:
            done.add(name)
            twin = twins.message_type.add(name=name)
            for field in original.fields:
                if field.message_type is not None:  # a list of items becomes one merged item
                    twin.field.add(name=field.name, number=field.number, type=field.type,
                                   type_name=f".{package}.{add_twin(field.message_type)}",
                                   label=descriptor_pb2.FieldDescriptorProto.LABEL_OPTIONAL)
                else:
                    twin.field.add(name=field.name, number=field.number, type=field.type,
                                   label=descriptor_pb2.FieldDescriptorProto.LABEL_REPEATED)
        return name

    top = add_twin(pool.FindMessageTypeByName(full_name))
    with _twin_lock:
        try:
            pool.FindFileByName(twins.name)
        except KeyError:
            pool.Add(twins)
    return _class_for(pool.FindMessageTypeByName(f"{package}.{top}"))


def item_descriptor(list_field: str) -> Any:
    """Descriptor of the items of a list of the 3235 ``S2C`` (``hkBuyBackList``, ``aBuyBackList``)."""
    s2c = _pool().FindMessageTypeByName(PACKAGES[PROTO_BUYBACKS] + ".S2C")
    return s2c.fields_by_name[list_field].message_type
