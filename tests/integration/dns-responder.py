#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""A DNS server for the integration tests, in their own network namespaces only.

    dns-responder.py ADDRESS PORT ANSWER

answers every A query over UDP with ANSWER (TTL 5), every other query with no
records, and logs each query's source on standard output. Nothing else: the tests
need a resolver whose reachability they can see, not a real one.
"""
import socket
import struct
import sys


def name_end(packet, offset):
    """The offset after the question name at offset (labels only, as queries have)."""
    while True:
        length = packet[offset]
        if length == 0:
            return offset + 1
        offset += 1 + length


def answer(packet, address):
    if len(packet) < 12:
        return None
    ident, flags, qdcount = struct.unpack("!HHH", packet[:6])
    if flags & 0x8000 or qdcount != 1:
        return None
    end = name_end(packet, 12)
    question = packet[12:end + 4]
    qtype = struct.unpack("!H", packet[end:end + 2])[0]
    records = b""
    ancount = 0
    if qtype == 1:
        records = struct.pack("!HHHIH", 0xC00C, 1, 1, 5, 4) + socket.inet_aton(address)
        ancount = 1
    header = struct.pack("!HHHHHH", ident, 0x8180, 1, ancount, 0, 0)
    return header + question + records


def main():
    bind, port, address = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((bind, port))
    print(f"listening on {bind}:{port}, answering {address}", flush=True)
    while True:
        packet, peer = sock.recvfrom(4096)
        try:
            reply = answer(packet, address)
        except (IndexError, struct.error):
            reply = None
        print(f"query from {peer[0]}", flush=True)
        if reply:
            sock.sendto(reply, peer)


if __name__ == "__main__":
    main()
