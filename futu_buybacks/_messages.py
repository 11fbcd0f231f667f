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
from typing import Any, Dict, Iterator, Type

from google.protobuf import descriptor_pool
from google.protobuf import message_factory as _factory

PROTO_BUYBACKS = 3235
PROTO_INIT_CONNECT = 1001
PROTO_GLOBAL_STATE = 1002
PROTO_KEEP_ALIVE = 1004
PROTO_TRADE_DATE = 3219
PROTO_STATIC_INFO = 3202  # Qot_GetStaticInfo: the SDK's get_stock_basicinfo (the simulator answers it)

#: Protocol id -> protobuf package of its Request/Response messages.
PACKAGES = {
    PROTO_INIT_CONNECT: "InitConnect",
    PROTO_GLOBAL_STATE: "GetGlobalState",
    PROTO_KEEP_ALIVE: "KeepAlive",
    PROTO_BUYBACKS: "Qot_GetCorporateActionsBuybacks",
    PROTO_TRADE_DATE: "Qot_RequestTradeDate",
    PROTO_STATIC_INFO: "Qot_GetStaticInfo",
}

DESCRIPTOR_FILE = "_descriptors.pb"


def descriptor_set() -> Any:
    """The shipped ``FileDescriptorSet`` (what ``make protos`` compiled from ``protos/``)."""
    from google.protobuf import descriptor_pb2  # ~30 ms to import: only when first needed
    data = pkgutil.get_data(__name__.rpartition(".")[0], DESCRIPTOR_FILE)
    assert data is not None, f"{DESCRIPTOR_FILE} is missing from the package"
    return descriptor_pb2.FileDescriptorSet.FromString(data)


_lock = threading.Lock()
_classes: Dict[str, Type[Any]] = {}  # every message class of the private pool, by full name


def _all_messages(descriptors: Any) -> Iterator[Any]:
    for descriptor in descriptors:
        yield descriptor
        yield from _all_messages(descriptor.nested_types)


def _class_maker(pool: Any) -> Any:
    """``descriptor -> class``: protobuf >= 4.22's ``GetMessageClass``; on 3.20 one factory for the
    pool (each factory makes classes of its own, and a second class for a descriptor is not the one
    the first class's fields hold)."""
    return getattr(_factory, "GetMessageClass", None) or _factory.MessageFactory(pool).GetPrototype


def _load() -> Dict[str, Type[Any]]:
    """Build the private pool and a class for each of its messages, once, and keep them all.

    Why keep them: upb holds the classes of a pool weakly, in a cache the collector cannot see, so
    a nested class (``S2C``, the items, ``Security``) that no live message uses is collected.
    Then ``descriptor._concrete_class`` answers ``SystemError: error return without exception
    set`` (the SDKs' JSON decoder, ``pbjson.dict2pb``, reads it for every nested message, and
    dropped every reply after the first collection); and code run during a collection (a
    ``__del__``, another thread) could be handed a class the pass had cleared but not freed:
    SIGSEGV (docs/reliability.md, "Threads").  A few dozen classes, well under 1 ms once the
    descriptors are read.
    """
    global _classes
    with _lock:  # two threads on first use must not build two pools
        if not _classes:
            pool = descriptor_pool.DescriptorPool()
            files = descriptor_set().file
            for file_proto in files:
                pool.Add(file_proto)
            class_for = _class_maker(pool)
            classes = {}
            for file_proto in files:
                messages = pool.FindFileByName(file_proto.name).message_types_by_name.values()
                for descriptor in _all_messages(messages):
                    classes[descriptor.full_name] = class_for(descriptor)
            _classes = classes  # published whole: a reader never sees a half-filled table
    return _classes


def message_class(full_name: str) -> Type[Any]:
    """The message class for a full name such as ``"Qot_GetCorporateActionsBuybacks.Response"``."""
    return (_classes or _load())[full_name]


def request_class(proto_id: int) -> Type[Any]:
    return message_class(PACKAGES[proto_id] + ".Request")


def response_class(proto_id: int) -> Type[Any]:
    return message_class(PACKAGES[proto_id] + ".Response")
