"""MS-TURN test input: there is no MS-TURN peer on Debian (Skype for Business, Teams and the
Edge Server are Microsoft's), so this writes MS-TURN messages laid out as the MS-TURN
specification ([MS-TURN] v20240423, §2.2: a 20-byte header with a 128-bit transaction ID and
no RFC 5389 magic cookie in it, the MAGIC-COOKIE *attribute* 0x000F with value 0x72C64BC6,
MS-VERSION 0x8008, and attributes such as USERNAME and REALM whose values are not padded to a
multiple of 4) as text2pcap input, one UDP datagram per message (make.sh):

    python3 msturn_gen.py request | text2pcap -q -4 10.212.0.1,10.212.0.2 -u 50000,3478 - a.pcap
    python3 msturn_gen.py response | text2pcap -q -4 10.212.0.2,10.212.0.1 -u 3478,50000 - b.pcap
    mergecap -w msturn-udp.pcap a.pcap b.pcap

The exchange is the one [MS-TURN] §4 shows: Allocate (401 with REALM and NONCE), Allocate
with credentials, its success with MAPPED-ADDRESS, Send Request and Data Indication; the
client's messages are requests, the server's responses. Lengths are those of the attributes
written: a message whose USERNAME is 7 bytes long has a length that is not a multiple of 4.
"""

from __future__ import annotations

import struct
import sys

MAGIC_COOKIE_ATTR, MAGIC = 0x000F, 0x72C64BC6
MS_VERSION = 0x8008
USERNAME, REALM, NONCE, MAPPED, ERROR_CODE, DATA, DEST = 0x0006, 0x0014, 0x0015, 0x0001, \
    0x0009, 0x0013, 0x0012


def attr(kind: int, value: bytes) -> bytes:
    return struct.pack("!HH", kind, len(value)) + value  # no padding (MS-TURN)


def message(mtype: int, tid: int, *attrs: bytes) -> bytes:
    body = attr(MAGIC_COOKIE_ATTR, struct.pack("!I", MAGIC)) + b"".join(attrs)
    return struct.pack("!HH", mtype, len(body)) + tid.to_bytes(16, "big") + body


def address(ip: str, port: int) -> bytes:
    return struct.pack("!BBH", 0, 1, port) + bytes(int(x) for x in ip.split("."))


def requests() -> list[bytes]:
    version = attr(MS_VERSION, struct.pack("!I", 1))
    return [
        message(0x0003, 1, version),
        message(0x0003, 2, version, attr(USERNAME, b"h12user"), attr(REALM, b"h12.tst"),
                attr(NONCE, b"5f1c0a9")),
        message(0x0004, 3, attr(DEST, address("10.212.3.1", 3480)), attr(DATA, b"hello")),
    ]


def responses() -> list[bytes]:
    return [
        message(0x0113, 1, attr(ERROR_CODE, b"\0\0\x04\x01Unauthorized"),
                attr(REALM, b"h12.tst"), attr(NONCE, b"5f1c0a9")),
        message(0x0103, 2, attr(MAPPED, address("10.212.3.2", 49300))),
        message(0x0115, 4, attr(DEST, address("10.212.3.1", 3480)), attr(DATA, b"hi!")),
    ]


def main() -> None:
    msgs = requests() if sys.argv[1] == "request" else responses()
    for n, data in enumerate(msgs):
        print(f"1796410000.{n * 20000 + (0 if sys.argv[1] == 'request' else 1000):06d}")
        for off in range(0, len(data), 16):
            print(f"{off:06x} " + " ".join(f"{b:02x}" for b in data[off:off + 16]))
        print()


if __name__ == "__main__":
    main()
