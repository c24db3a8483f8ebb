#!/usr/bin/env python3
"""snmp_devices.py - simulated switches for bench/snmp.sh, all in one process.

Device i answers SNMPv2c on 127.77.(i // 250).(i % 250 + 1):PORT, with a
system group and an interface table (ifTable and ifXTable) of `--ports`
ports whose counters grow with the clock (64-bit ifHC* and their 32-bit
forms), some ports down and some shut. Every device has the same table;
its counters grow at its own rate. It answers GET, GETNEXT and GETBULK.

It counts what each poller asks, the poller being named by the community it
sends (the benchmark gives each its own): requests, varbinds, the columns
asked, and its polls of each device (requests closer together than --gap
seconds make one poll) with their request count and duration.

Signals: USR2 starts the measured window (the counts start again); USR1
writes the counts since then as JSON to --stats (atomically), polls still
going included. Only for the benchmark: it answers any community, knows no
SET, no v1 and no v3, and trusts its pollers not to send nonsense (a packet
it cannot read is dropped and counted).
"""
import argparse
import bisect
import json
import os
import selectors
import signal
import socket
import sys
import time

IF_ENTRY = (1, 3, 6, 1, 2, 1, 2, 2, 1)
IFX_ENTRY = (1, 3, 6, 1, 2, 1, 31, 1, 1, 1)

# response types
INTEGER, OCTETS, NULL, OID = 0x02, 0x04, 0x05, 0x06
COUNTER32, GAUGE32, TIMETICKS, COUNTER64 = 0x41, 0x42, 0x43, 0x46
NO_SUCH_OBJECT, NO_SUCH_INSTANCE, END_OF_MIB_VIEW = 0x80, 0x81, 0x82
GET, GETNEXT, RESPONSE, GETBULK = 0xA0, 0xA1, 0xA2, 0xA5
MAX_VARBINDS = 2048        # per answer, as snmpd's default cap
MAX_ANSWER = 65000         # bytes of one UDP answer


def enc_len(n):
    if n < 0x80:
        return bytes((n,))
    if n < 0x100:
        return bytes((0x81, n))
    return bytes((0x82, n >> 8, n & 0xFF))


def tlv(tag, body):
    return bytes((tag,)) + enc_len(len(body)) + body


def enc_uint(tag, n):
    return tlv(tag, n.to_bytes((n.bit_length() + 8) // 8, "big"))


def enc_int(n):
    return tlv(INTEGER, n.to_bytes((n.bit_length() + 8) // 8, "big", signed=True))


def enc_oid(o):
    body = bytearray((40 * o[0] + o[1],))
    for sub in o[2:]:
        chunk = [sub & 0x7F]
        sub >>= 7
        while sub:
            chunk.append(0x80 | (sub & 0x7F))
            sub >>= 7
        body.extend(reversed(chunk))
    return tlv(OID, bytes(body))


def dec_oid(b):
    out = [b[0] // 40, b[0] % 40]
    n = 0
    for c in b[1:]:
        n = (n << 7) | (c & 0x7F)
        if not c & 0x80:
            out.append(n)
            n = 0
    return tuple(out)


def rd(d, i):
    """The TLV at i: (tag, start of its content, end of its content)."""
    tag, n = d[i], d[i + 1]
    i += 2
    if n & 0x80:
        k = n & 0x7F
        n = int.from_bytes(d[i:i + k], "big")
        i += k
    return tag, i, i + n


def dec_int(d, s, e):
    return int.from_bytes(d[s:e], "big", signed=True)


class Mib:
    """One device's objects, sorted; values that grow are computed when asked."""

    def __init__(self, ports):
        objs = {}  # oid -> ("s", encoded value) | (kind, base, rate per second)
        objs[(1, 3, 6, 1, 2, 1, 1, 1, 0)] = ("s", tlv(OCTETS, b"Vakt bench switch, 52 ports"))
        objs[(1, 3, 6, 1, 2, 1, 1, 2, 0)] = ("s", enc_oid((1, 3, 6, 1, 4, 1, 9, 1, 1208)))
        objs[(1, 3, 6, 1, 2, 1, 1, 3, 0)] = ("up", 0, 100)
        objs[(1, 3, 6, 1, 2, 1, 1, 4, 0)] = ("s", tlv(OCTETS, b"noc@example.org"))
        objs[(1, 3, 6, 1, 2, 1, 1, 5, 0)] = ("name", 0, 0)
        objs[(1, 3, 6, 1, 2, 1, 1, 6, 0)] = ("s", tlv(OCTETS, b"bench rack"))
        objs[(1, 3, 6, 1, 2, 1, 1, 7, 0)] = ("s", enc_int(6))
        objs[(1, 3, 6, 1, 2, 1, 2, 1, 0)] = ("s", enc_int(ports))
        self.names = []
        for k in range(1, ports + 1):
            if k <= ports - 4:
                name, descr, speed = "Gi1/0/%d" % k, "GigabitEthernet1/0/%d" % k, 1000
            else:
                j = k - (ports - 4)
                name, descr, speed = "Te1/1/%d" % j, "TenGigabitEthernet1/1/%d" % j, 10000
            self.names.append(name)
            # the last eight gigabit ports are shut, four before them down
            admin = 2 if ports - 12 < k <= ports - 4 else 1
            oper = 1 if admin == 1 and not ports - 16 < k <= ports - 12 else 2
            live = oper == 1
            rate = 2000 * (1 + k % 13) * (10 if speed == 10000 else 1) if live else 0
            pkts = rate // 700
            col = lambda c: IF_ENTRY + (c, k)
            xcol = lambda c: IFX_ENTRY + (c, k)
            objs[col(1)] = ("s", enc_int(k))
            objs[col(2)] = ("s", tlv(OCTETS, descr.encode()))
            objs[col(3)] = ("s", enc_int(6))
            objs[col(4)] = ("s", enc_int(1500))
            objs[col(5)] = ("s", enc_uint(GAUGE32, min(speed * 1000000, 4294967295)))
            objs[col(6)] = ("s", tlv(OCTETS, bytes((0, 0x1B, 0x54, 0, k >> 8, k & 0xFF))))
            objs[col(7)] = ("s", enc_int(admin))
            objs[col(8)] = ("s", enc_int(oper))
            objs[col(9)] = ("s", enc_uint(TIMETICKS, 0))
            objs[col(10)] = ("c32", 1000 * k, rate)
            objs[col(11)] = ("c32", 10 * k, pkts)
            objs[col(12)] = ("c32", 0, pkts // 50)
            objs[col(13)] = ("c32", 0, 1 if live and k % 5 == 0 else 0)
            objs[col(14)] = ("c32", 0, 1 if live and k % 7 == 0 else 0)
            objs[col(15)] = ("c32", 0, 0)
            objs[col(16)] = ("c32", 2000 * k, rate // 2)
            objs[col(17)] = ("c32", 20 * k, pkts // 2)
            objs[col(18)] = ("c32", 0, pkts // 100)
            objs[col(19)] = ("c32", 0, 1 if live and k % 11 == 0 else 0)
            objs[col(20)] = ("c32", 0, 0)
            objs[col(21)] = ("s", enc_uint(GAUGE32, 0))
            objs[col(22)] = ("s", enc_oid((0, 0)))
            objs[xcol(1)] = ("s", tlv(OCTETS, name.encode()))
            for c, base, r in ((2, 0, pkts // 100), (3, 0, pkts // 100), (4, 0, pkts // 200),
                               (5, 0, pkts // 200)):
                objs[xcol(c)] = ("c32", base, r)
            objs[xcol(6)] = ("c64", 1000 * k, rate)
            objs[xcol(7)] = ("c64", 10 * k, pkts)
            objs[xcol(8)] = ("c64", 0, pkts // 100)
            objs[xcol(9)] = ("c64", 0, pkts // 100)
            objs[xcol(10)] = ("c64", 2000 * k, rate // 2)
            objs[xcol(11)] = ("c64", 20 * k, pkts // 2)
            objs[xcol(12)] = ("c64", 0, pkts // 200)
            objs[xcol(13)] = ("c64", 0, pkts // 200)
            objs[xcol(14)] = ("s", enc_int(1))
            objs[xcol(15)] = ("s", enc_uint(GAUGE32, speed))
            objs[xcol(16)] = ("s", enc_int(2))
            objs[xcol(17)] = ("s", enc_int(1))
            objs[xcol(18)] = ("s", tlv(OCTETS, b"uplink" if k > ports - 4 else b""))
            objs[xcol(19)] = ("s", enc_uint(TIMETICKS, 0))
        self.oids = sorted(objs)
        self.enc = [enc_oid(o) for o in self.oids]
        self.val = [objs[o] for o in self.oids]
        self.index = {o: i for i, o in enumerate(self.oids)}

    def varbind(self, i, dev, now):
        """Varbind i of device dev (its number) at time now, encoded."""
        v = self.val[i]
        kind = v[0]
        if kind == "s":
            body = self.enc[i] + v[1]
        else:
            f = 1.0 + (dev % 7) / 10.0
            if kind == "c64":
                body = self.enc[i] + enc_uint(COUNTER64, int(v[1] * f + v[2] * f * now)
                                              & 0xFFFFFFFFFFFFFFFF)
            elif kind == "c32":
                body = self.enc[i] + enc_uint(COUNTER32, int(v[1] * f + v[2] * f * now)
                                              & 0xFFFFFFFF)
            elif kind == "up":
                body = self.enc[i] + enc_uint(TIMETICKS, int((now + 1000 + dev) * 100)
                                              & 0xFFFFFFFF)
            else:
                body = self.enc[i] + tlv(OCTETS, b"sw%04d" % dev)
        return b"\x30" + enc_len(len(body)) + body


def column(o):
    """The column an OID belongs to, as a dotted string; a scalar is itself."""
    if o[:9] == IF_ENTRY and len(o) >= 10:
        return ".".join(map(str, o[:10]))
    if o[:10] == IFX_ENTRY and len(o) >= 11:
        return ".".join(map(str, o[:11]))
    return ".".join(map(str, o))


class Poller:
    def __init__(self):
        self.requests = self.varbinds_in = self.varbinds_out = 0
        self.bytes_in = self.bytes_out = 0
        self.by_type = {}
        self.columns = set()
        self.polls = []  # (device, start, duration s, requests) of closed polls
        self.open = {}   # device -> [start, last, requests]


class Devices:
    def __init__(self, args):
        self.args = args
        self.mib = Mib(args.ports)
        self.t0 = time.time()
        self.window_start = self.t0
        self.pollers = {}
        self.bad = 0
        self.dump_wanted = False
        self.reset_wanted = False

    def count(self, community, dev, now, pdu_type, nin, nout, bin_, bout, cols):
        p = self.pollers.get(community)
        if p is None:
            p = self.pollers[community] = Poller()
        p.requests += 1
        p.varbinds_in += nin
        p.varbinds_out += nout
        p.bytes_in += bin_
        p.bytes_out += bout
        p.by_type[pdu_type] = p.by_type.get(pdu_type, 0) + 1
        p.columns.update(cols)
        o = p.open.get(dev)
        if o is not None and now - o[1] > self.args.gap:
            p.polls.append((dev, o[0], o[1] - o[0], o[2]))
            o = None
        if o is None:
            p.open[dev] = [now, now, 1]
        else:
            o[1] = now
            o[2] += 1

    def answer(self, d, dev):
        """The answer to request d for device dev, or None if it is not one to answer."""
        tag, s, e = rd(d, 0)
        if tag != 0x30:
            return None
        tag, s1, e1 = rd(d, s)          # version
        if tag != INTEGER or dec_int(d, s1, e1) != 1:
            return None
        tag, s2, e2 = rd(d, e1)         # community
        community = bytes(d[s2:e2])
        ptype, ps, pe = rd(d, e2)       # PDU
        tag, rs, re = rd(d, ps)         # request-id
        reqid = bytes(d[ps:re])
        tag, s3, e3 = rd(d, re)
        a = dec_int(d, s3, e3)          # non-repeaters
        tag, s4, e4 = rd(d, e3)
        b = dec_int(d, s4, e4)          # max-repetitions
        tag, vs, ve = rd(d, e4)         # varbind list
        names = []
        i = vs
        while i < ve:
            _, bs, be = rd(d, i)
            _, os_, oe = rd(d, bs)
            names.append(dec_oid(d[os_:oe]))
            i = be
        now = time.time()
        t = now - self.t0
        mib = self.mib
        oids = mib.oids
        n = len(oids)
        out = []
        size = 0
        # the columns asked; a non-repeater counts as the OID it was answered with
        # (sysUpTime asked by its column "1.3.6.1.2.1.1.3" is the scalar sysUpTime.0)
        asked = list(names)
        if ptype == GET:
            for o in names:
                k = mib.index.get(o)
                if k is None:
                    out.append(tlv(0x30, enc_oid(o) + bytes((NO_SUCH_OBJECT, 0))))
                else:
                    out.append(mib.varbind(k, dev, t))
        elif ptype in (GETNEXT, GETBULK):
            if ptype == GETNEXT:
                nonrep, reps = len(names), 0
            else:
                nonrep, reps = max(0, min(a, len(names))), max(0, b)
            cur = [bisect.bisect_right(oids, o) for o in names]
            for j in range(nonrep):
                k = cur[j]
                if ptype == GETBULK and k < n and list(oids[k]) == list(names[j]) + [0]:
                    asked[j] = oids[k]
                out.append(mib.varbind(k, dev, t) if k < n else
                           tlv(0x30, enc_oid(names[j]) + bytes((END_OF_MIB_VIEW, 0))))
            size = sum(len(x) for x in out)
            rep = list(range(nonrep, len(names)))
            for _ in range(reps):
                row = []
                ended = 0
                for j in rep:
                    k = cur[j]
                    if k < n:
                        row.append(mib.varbind(k, dev, t))
                        cur[j] = k + 1
                    else:
                        ended += 1
                        row.append(tlv(0x30, enc_oid(names[j]) + bytes((END_OF_MIB_VIEW, 0))))
                rsize = sum(len(x) for x in row)
                # answers are cut at a whole repetition, as RFC 3416 allows
                if out and (len(out) + len(row) > MAX_VARBINDS or size + rsize > MAX_ANSWER):
                    break
                out.extend(row)
                size += rsize
                if ended == len(rep):
                    break
        else:
            return None
        pdu = tlv(RESPONSE, reqid + b"\x02\x01\x00\x02\x01\x00" + tlv(0x30, b"".join(out)))
        msg = tlv(0x30, b"\x02\x01\x01" + tlv(OCTETS, community) + pdu)
        self.count(community.decode("ascii", "replace"), dev, now, ptype, len(names), len(out),
                   len(d), len(msg), {column(o) for o in asked})
        return msg

    def stats(self):
        now = time.time()
        out = {"window_s": now - self.window_start, "devices": self.args.devices,
               "ports": self.args.ports, "unreadable": self.bad, "pollers": {}}
        for name, p in sorted(self.pollers.items()):
            polls = [{"device": d, "start": s - self.window_start, "duration": du,
                      "requests": r, "done": True} for d, s, du, r in p.polls]
            for d, (s, last, r) in sorted(p.open.items()):
                polls.append({"device": d, "start": s - self.window_start,
                              "duration": last - s, "requests": r,
                              "done": now - last > self.args.gap})
            out["pollers"][name] = {
                "requests": p.requests, "varbinds_asked": p.varbinds_in,
                "varbinds_answered": p.varbinds_out, "bytes_in": p.bytes_in,
                "bytes_out": p.bytes_out,
                "by_type": {{GET: "get", GETNEXT: "getnext", GETBULK: "getbulk"}.get(k, k): v
                            for k, v in p.by_type.items()},
                "columns": sorted(p.columns), "polls": polls}
        return out

    def dump(self):
        tmp = self.args.stats + ".tmp"
        with open(tmp, "w") as f:
            json.dump(self.stats(), f)
        os.rename(tmp, self.args.stats)

    def reset(self):
        self.pollers = {}
        self.bad = 0
        self.window_start = time.time()


def address(i, port):
    return ("127.77.%d.%d" % (i // 250, i % 250 + 1), port)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--devices", type=int, default=200)
    ap.add_argument("--ports", type=int, default=52)
    ap.add_argument("--port", type=int, default=16161)
    ap.add_argument("--gap", type=float, default=10.0,
                    help="seconds without a request that end a poll")
    ap.add_argument("--stats", required=True, help="where USR1 writes the counts (JSON)")
    ap.add_argument("--ready", help="file written once every device listens")
    args = ap.parse_args()
    if not 1 <= args.devices <= 250 * 250 or not 5 <= args.ports <= 10000:
        sys.exit("snmp_devices.py: --devices 1..62500, --ports 5..10000")
    devs = Devices(args)
    sel = selectors.DefaultSelector()
    socks = []
    for i in range(args.devices):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        s.bind(address(i, args.port))
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ, i)
        socks.append(s)
    signal.signal(signal.SIGUSR1, lambda *_: setattr(devs, "dump_wanted", True))
    signal.signal(signal.SIGUSR2, lambda *_: setattr(devs, "reset_wanted", True))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    if args.ready:
        with open(args.ready, "w") as f:
            f.write("%d devices on port %d\n" % (args.devices, args.port))
    while True:
        for key, _ in sel.select(timeout=1.0):
            s, dev = key.fileobj, key.data
            while True:
                try:
                    d, peer = s.recvfrom(65535)
                except BlockingIOError:
                    break
                try:
                    ans = devs.answer(d, dev)
                except (IndexError, ValueError):
                    ans = None
                if ans is None:
                    devs.bad += 1
                    continue
                try:
                    s.sendto(ans, peer)
                except OSError:
                    devs.bad += 1
        if devs.reset_wanted:
            devs.reset_wanted = False
            devs.reset()
        if devs.dump_wanted:
            devs.dump_wanted = False
            devs.dump()


if __name__ == "__main__":
    main()
