"""Schemathesis hooks for jingtu-server: request bodies of the framed MessagePack media type
(`application/vnd.jingtu.v1+msgpack`, docs/sync-protocol.md) are sent as frames: byte 0x01,
then the generated value packed as MessagePack, so that the generator's values reach the
server's decoder and its checks, not only its frame check."""

import msgpack
import schemathesis

MEDIA_TYPE = "application/vnd.jingtu.v1+msgpack"


@schemathesis.serializer(MEDIA_TYPE)
def framed_msgpack(ctx, value):
    if isinstance(value, (bytes, bytearray)):
        return {"data": bytes(value)}
    try:
        packed = msgpack.packb(value, use_bin_type=True)
    except (TypeError, ValueError, OverflowError):
        packed = msgpack.packb(repr(value), use_bin_type=True)
    return {"data": b"\x01" + packed}
