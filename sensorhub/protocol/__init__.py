"""Wire formats of the sensorhub firmware protocol: constants and a sans-IO codec."""

from sensorhub.protocol.codec import (
    Command,
    DataPacket,
    DeviceInfo,
    Message,
    Response,
    StatusPacket,
    decode,
    encode,
    encode_data,
)

__all__ = [
    "Command",
    "DataPacket",
    "DeviceInfo",
    "Message",
    "Response",
    "StatusPacket",
    "decode",
    "encode",
    "encode_data",
]
