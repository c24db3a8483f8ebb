#!/usr/bin/env python3
"""snmp_receivers.py - where bench/snmp.sh's pollers send what they polled.

Three stand-ins, one per poller, each counting what it received:

  collector PORT   a Vakt collector for one agent (plaintext): answers Hello
                   with a HelloAck of protocol 2 (max_series --max-series, as
                   the collector's default), acknowledges every Batch,
                   answers Heartbeats; counts batches, samples, results,
                   series defined and the highest series id.
                   It stores nothing: the agent does all its normal work
                   (batches, the compact form, the spool, acks). With
                   --last it answers protocol 1 (every sample with its
                   names) and keeps the last value of each check's
                   metrics, written with the counts ("last": {"check":
                   {"metric": value or null when unknown}}); bench/icmp.sh
                   compares them with fping's.
  udp PORT         collectd's network plugin's receiver: counts packets and
                   the values in them.
  scrape URL       Prometheus: scrapes URL&target=T for every target of
                   --targets every --interval seconds, each at its own offset
                   in the interval (as Prometheus spreads its targets),
                   --workers at once; counts scrapes, failures, samples and
                   scrape durations.

Signals: USR2 starts the measured window (the counts start again); USR1
writes the counts since then as JSON to --stats (atomically). Only for the
benchmark: it listens on 127.0.0.1 and trusts its peer.
"""
import argparse
import json
import os
import signal
import socket
import struct
import sys
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests",
                                "integration"))
import wire  # noqa: E402  (Vakt's frames, shared with the integration tests)

HELLO_ACK, HEARTBEAT = 2, 6


class Counts:
    """Counters a signal resets or dumps; the lock guards them against the scrape workers."""

    def __init__(self, path):
        self.path = path
        self.lock = threading.Lock()
        self.reset()

    def reset(self):
        with self.lock:
            self.c = {}
            self.durations = []
            self.last = {}
            self.start = time.time()

    def add(self, **kv):
        with self.lock:
            for k, v in kv.items():
                self.c[k] = self.c.get(k, 0) + v

    def dump(self):
        with self.lock:
            out = dict(self.c)
            out["window_s"] = time.time() - self.start
            out["durations"] = list(self.durations)
            if self.last:
                out["last"] = {k: dict(v) for k, v in self.last.items()}
        with open(self.path + ".tmp", "w") as f:
            json.dump(out, f)
        os.rename(self.path + ".tmp", self.path)


def hook_signals(counts):
    # from a thread: the handler runs in the main thread, which may hold the lock
    later = lambda f: threading.Thread(target=f).start()
    signal.signal(signal.SIGUSR1, lambda *_: later(counts.dump))
    signal.signal(signal.SIGUSR2, lambda *_: later(counts.reset))
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))


HIGH = bytes(range(0x80, 0x100))


def packed_count(b):
    """The number of varints in a packed field: the bytes without the high bit end one each."""
    return len(b.translate(None, HIGH))


def last_value(counts, sample):
    """Keeps a full-form sample's value as the last of its check and metric."""
    check = metric = ""
    value, unknown = 0.0, False
    for num, _, v in wire.fields(sample):
        if num == 2:
            check = v.decode()
        elif num == 4:
            metric = v.decode()
        elif num == 7:
            value = struct.unpack("<d", v)[0]
        elif num == 10:
            unknown = v != 0
    with counts.lock:
        counts.last.setdefault(check, {})[metric] = None if unknown else value


def collector_session(conn, counts, protocol=2, max_series=1000000):
    hello_ack = (wire.f_varint(1, protocol) + wire.f_bytes(2, "bench stand-in") +
                 wire.f_varint(3, 16 * 1024 * 1024) + wire.f_varint(4, wire.now_ms()) +
                 wire.f_varint(5, 60))
    if max_series:
        hello_ack += wire.f_varint(7, max_series)
    with conn:
        while True:
            body = wire.recv_frame(conn)
            if body is None:
                return
            for num, _, v in wire.fields(body):
                if num == wire.HELLO:
                    conn.sendall(wire.frame(wire.f_bytes(HELLO_ACK, hello_ack)))
                    counts.add(sessions=1)
                elif num == wire.BATCH:
                    seq = samples = results = defined = max_id = 0
                    for n2, _, v2 in wire.fields(v):
                        if n2 == 1:
                            seq = v2
                        elif n2 == 4:
                            # a SeriesDef: its id (field 1) comes first
                            defined += 1
                            if v2[:1] == b"\x08":
                                max_id = max(max_id, wire.read_varint(v2, 1)[0])
                        elif n2 == 2:
                            samples += 1
                            if protocol == 1:
                                last_value(counts, v2)
                        elif n2 == 3:
                            results += 1
                        elif n2 == 5:
                            samples += packed_count(v2)
                    conn.sendall(wire.frame(wire.ack(seq)))
                    counts.add(batches=1, samples=samples, results=results, bytes=len(body) + 4,
                               defined=defined)
                    with counts.lock:
                        counts.c["max_id"] = max(counts.c.get("max_id", 0), max_id)
                elif num == wire.HEARTBEAT:
                    conn.sendall(wire.frame(wire.heartbeat()))


def collector(args, counts):
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", int(args.where)))
    srv.listen(8)
    while True:
        conn, _ = srv.accept()
        conn.settimeout(None)
        threading.Thread(target=collector_session,
                         args=(conn, counts, 1 if args.last else 2, args.max_series),
                         daemon=True).start()


def udp(args, counts):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    s.bind(("127.0.0.1", int(args.where)))
    while True:
        d = s.recv(65535)
        i, values = 0, 0
        while i + 4 <= len(d):
            ptype, plen = struct.unpack_from(">HH", d, i)
            if plen < 4:
                break
            if ptype == 0x0006 and plen >= 6:
                values += struct.unpack_from(">H", d, i + 4)[0]
            i += plen
        counts.add(packets=1, values=values, bytes=len(d))


def scrape_one(url, counts, timeout):
    t = time.time()
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            text = r.read().decode("utf-8", "replace")
        ok = True
    except OSError:
        ok, text = False, ""
    du = time.time() - t
    samples = sum(1 for line in text.splitlines() if line and not line.startswith("#"))
    # snmp_exporter answers a failed walk with its own metrics only
    failed = not ok or "snmp_scrape_walk_duration_seconds" not in text
    with counts.lock:
        c = counts.c
        c["scrapes"] = c.get("scrapes", 0) + 1
        c["failed"] = c.get("failed", 0) + failed
        c["samples"] = c.get("samples", 0) + samples
        counts.durations.append(du)


def scrape(args, counts):
    with open(args.targets) as f:
        targets = [line.strip() for line in f if line.strip()]
    pool = ThreadPoolExecutor(max_workers=args.workers)
    start = time.time()
    k = 0
    while True:
        for i, t in enumerate(targets):
            due = start + k * args.interval + i * args.interval / len(targets)
            wait = due - time.time()
            if wait > 0:
                time.sleep(wait)
            pool.submit(scrape_one, args.where + "&target=" + t, counts, args.interval)
        k += 1


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("mode", choices=("collector", "udp", "scrape"))
    ap.add_argument("where", help="PORT (collector, udp) or the URL to scrape, up to target=")
    ap.add_argument("--stats", required=True, help="where USR1 writes the counts (JSON)")
    ap.add_argument("--targets", help="scrape: a file with one target a line")
    ap.add_argument("--interval", type=float, default=60.0)
    ap.add_argument("--workers", type=int, default=8)
    ap.add_argument("--max-series", type=int, default=1000000,
                    help="collector: HelloAck's max_series (0: left out, as a collector "
                         "before the field: 100,000 ids)")
    ap.add_argument("--last", action="store_true",
                    help="collector: protocol 1, keep each check's last values")
    args = ap.parse_args()
    counts = Counts(args.stats)
    hook_signals(counts)
    {"collector": collector, "udp": udp, "scrape": scrape}[args.mode](args, counts)


if __name__ == "__main__":
    main()
