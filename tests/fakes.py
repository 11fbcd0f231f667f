"""A fake of the SDK's synchronous request processor, the seam unit tests fake through."""

from futu_buybacks import RET_ERROR, RET_OK
from futu_buybacks._messages import request_class
from futu_buybacks._wire import HEADER_SIZE, FrameReader
from futu_buybacks.simulator._server import LOGIN_USER_ID


class FakeOpenD:
    """Answers packed requests with ``self.reply``; records the C2S of every request sent."""

    def __init__(self):
        self.sent = []
        self.reply = None
        self.host_error = None

    def processor(self, pack, unpack):
        def run(**kwargs):
            ret, msg, packet, *_ = pack(**kwargs)  # 5 values; 3 in moomoo-api 9.x
            assert ret == RET_OK, msg
            frame = FrameReader().feed(bytes(packet))[0]
            proto_id = frame.proto_id
            assert frame.sha1_ok and len(packet) == HEADER_SIZE + len(frame.body)
            self.sent.append(request_class(proto_id).FromString(frame.body).c2s)
            if self.host_error:
                return RET_ERROR, self.host_error, None
            return unpack(self.reply)
        return run


def fake_context(mocker, sdk):
    """An ``OpenQuoteContext`` of module ``sdk`` that never connects; requests go to a FakeOpenD."""
    # a subclass without __del__: moomoo-api 9.x closes in __del__, which needs a connected context
    cls = type("UnconnectedQuoteContext", (sdk.OpenQuoteContext,), {"__del__": lambda self: None})
    ctx = cls.__new__(cls)
    opend = FakeOpenD()
    mocker.patch.object(ctx, "_get_sync_query_processor", side_effect=opend.processor, create=True)
    mocker.patch.object(ctx, "get_sync_conn_id", return_value=0, create=True)
    return ctx, opend


def in_process_context(mocker, sdk, simulator):
    """An ``OpenQuoteContext`` of module ``sdk`` (the shim first in its MRO) that never connects:
    every request it packs is answered by ``simulator.reply_to`` in this process, through the
    SDK's own packing and unpacking, without a socket."""
    from futu_buybacks import BuybacksMixin
    from futu_buybacks._host import sdk_utils

    cls = type("InProcessQuoteContext", (BuybacksMixin, sdk.OpenQuoteContext), {"__del__": lambda self: None})
    ctx = cls.__new__(cls)
    reply_classes = sdk_utils(sdk.__name__).ProtobufMap.created_protobuf_map  # what its receive loop decodes with

    def processor(pack, unpack):
        def run(**kwargs):
            ret, msg, packet, *_ = pack(**kwargs)
            assert ret == RET_OK, msg
            packet = bytes(packet)
            (frame,) = FrameReader().feed(packet)
            assert frame.fmt == 0, "protobuf only"
            return unpack(type(reply_classes[frame.proto_id]).FromString(simulator.reply_to(packet)))
        return run

    mocker.patch.object(ctx, "_get_sync_query_processor", new=processor, create=True)
    mocker.patch.object(ctx, "get_sync_conn_id", new=lambda: 0, create=True)
    # what the SDK learns from InitConnect, which this context never sends (get_global_state reads it)
    mocker.patch.object(ctx, "get_login_user_id", new=lambda: LOGIN_USER_ID, create=True)
    return ctx
