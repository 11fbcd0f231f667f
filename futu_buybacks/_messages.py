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
