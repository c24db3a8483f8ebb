"""icmp_responder.py - answers ICMP echo requests late, for tests.

Run inside a network namespace whose kernel ignores echo requests
(net.ipv4.icmp_echo_ignore_all=1): a raw socket still sees each request, and
this script sends its reply DELAY_MS later, with the request's identifier,
sequence and payload, as a host on a slow link would. Loss is made apart
(nftables). Usage:

    python3 icmp_responder.py DELAY_MS

It prints "ready" once it listens and serves until killed; at most 10,000
replies wait at once (more are dropped), and it answers only IPv4 echo
requests.
"""
import heapq
import select
import socket
import sys
import time


def checksum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(int.from_bytes(data[i:i + 2], "big") for i in range(0, len(data), 2))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


def main():
    delay = int(sys.argv[1]) / 1000.0
    sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    print("ready", flush=True)
    due = []  # (time, seq, packet, address)
    n = 0
    while True:
        wait = max(0.0, due[0][0] - time.monotonic()) if due else None
        ready, _, _ = select.select([sock], [], [], wait)
        if ready:
            data, addr = sock.recvfrom(65535)
            ihl = (data[0] & 0x0F) * 4
            icmp = data[ihl:]
            if len(icmp) >= 8 and icmp[0] == 8 and len(due) < 10000:
                reply = bytearray(b"\0\0\0\0" + icmp[4:])
                reply[2:4] = checksum(bytes(reply)).to_bytes(2, "big")
                n += 1
                heapq.heappush(due, (time.monotonic() + delay, n, bytes(reply), addr))
        now = time.monotonic()
        while due and due[0][0] <= now:
            _, _, reply, addr = heapq.heappop(due)
            sock.sendto(reply, addr)


if __name__ == "__main__":
    main()
