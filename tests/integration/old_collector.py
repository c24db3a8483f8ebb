"""old_collector.py - a stand-in for a collector from before batches in parts.

It speaks protocol PROTOCOL (1 or 2) in plaintext the way such a collector
did: its HelloAck says its max_frame and nothing of `parts`, it acknowledges
every batch by its seq, answers heartbeats, and refuses a frame over its
max_frame with an Error and a close. With CUT set to 1 it closes its first
connection at the first batch, unacknowledged (an ack lost with the link).
Each frame it gets is written to OUT as one line (samples counts a compact
batch's series ids too), so that a test can say what the agent sent:

    batch seq=12 bytes=310 samples=0 results=0 events=0 more=0
    cut seq=1
    heartbeat bytes=8
    toobig bytes=6473

Usage:

    python3 old_collector.py PORT MAX_FRAME OUT [PROTOCOL [CUT]]

It serves one connection after another on 127.0.0.1:PORT until killed. Only
for tests: it trusts the agent it talks to and bounds what it reads by
MAX_FRAME.
"""
import os
import socket
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import wire  # noqa: E402


def hello_ack(max_frame, protocol):
    body = (wire.f_varint(1, protocol) + wire.f_bytes(2, "vakt-collector 0.1.0 (before parts)") +
            wire.f_varint(3, max_frame) + wire.f_varint(4, wire.now_ms()) +
            wire.f_varint(5, 10))
    return wire.frame(wire.f_bytes(wire.HELLO_ACK, body))


def batch_line(body):
    """The line of a Batch frame: its seq, its size and what it holds."""
    for num, _, v in wire.fields(body):
        if num != wire.BATCH:
            continue
        n = {1: 0, 2: 0, 3: 0, 10: 0, 11: 0}
        for n2, _, v2 in wire.fields(v):
            if n2 in (1, 11):
                n[n2] = v2
            elif n2 == 5:  # packed sids: one varint a sample
                n[2] += sum(1 for b in v2 if not b & 0x80)
            elif n2 in n:
                n[n2] += 1
        return n[1], "batch seq=%d bytes=%d samples=%d results=%d events=%d more=%d" % (
            n[1], len(body), n[2], n[3], n[10], n[11])
    return None, None


def serve(conn, max_frame, protocol, cut, out):
    conn.settimeout(60)
    while True:
        hdr = wire._recv_exact(conn, 4)
        if hdr is None:
            return
        (n,) = struct.unpack(">I", hdr)
        if n == 0 or n > max_frame:
            out.write("toobig bytes=%d\n" % n)
            conn.sendall(wire.frame(wire.error("frame larger than the maximum (%d > %d)" %
                                               (n, max_frame))))
            return
        body = wire._recv_exact(conn, n)
        if body is None:
            return
        name, _ = wire.decode(body)
        if name == "hello":
            out.write("hello bytes=%d\n" % n)
            conn.sendall(hello_ack(max_frame, protocol))
        elif name == "batch":
            seq, line = batch_line(body)
            out.write(line + "\n")
            if cut:
                out.write("cut seq=%d\n" % seq)
                return
            conn.sendall(wire.frame(wire.ack(seq)))
        elif name == "heartbeat":
            out.write("heartbeat bytes=%d\n" % n)
            conn.sendall(wire.frame(wire.heartbeat()))
        else:
            out.write("%s bytes=%d\n" % (name, n))


def main():
    port, max_frame, path = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    protocol = int(sys.argv[4]) if len(sys.argv) > 4 else 1
    cut = len(sys.argv) > 5 and sys.argv[5] == "1"
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", port))
    ls.listen(4)
    with open(path, "a", buffering=1) as out:
        while True:
            conn, _ = ls.accept()
            out.write("connection\n")
            try:
                serve(conn, max_frame, protocol, cut, out)
            except (OSError, ValueError) as e:
                out.write("closed: %s\n" % e)
            conn.close()
            cut = False


if __name__ == "__main__":
    main()
