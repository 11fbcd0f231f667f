"""A fake of the SDK's synchronous request processor, the seam unit tests fake through."""

from futu_buybacks import RET_ERROR, RET_OK
from futu_buybacks._messages import request_class
from futu_buybacks._wire import HEADER_SIZE, FrameReader


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
