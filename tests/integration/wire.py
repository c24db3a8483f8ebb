"""wire.py - a small encoder/decoder for Vakt frames, for integration tests.

A frame is a 4-byte big-endian length, then a protobuf vakt.Frame
(common/vakt.proto). Written by hand from the wire format so that tests need
no protobuf package and can also build frames a real agent never would.
Only for tests: it trusts nothing it reads, but bounds nothing it writes.
"""
import socket
import struct
import time

# wire types
VARINT, I64, LEN, I32 = 0, 1, 2, 5

# vakt.Frame oneof members, by field number
HELLO, HELLO_ACK, BATCH, ACK, ERROR, HEARTBEAT = 1, 2, 3, 4, 5, 6
FRAME_NAMES = {HELLO: "hello", HELLO_ACK: "hello_ack", BATCH: "batch", ACK: "ack",
               ERROR: "error", HEARTBEAT: "heartbeat"}
GAUGE, COUNTER, DERIVE = 0, 1, 2
# vakt.Outcome
OK, DOWN, TIMEOUT, ERR = 1, 2, 3, 4

# what a socket raises when the peer says nothing within its timeout
Timeout = socket.timeout


# --- encoding ---------------------------------------------------------------

def varint(n):
    """Unsigned LEB128; negative numbers as 64-bit two's complement, like protobuf."""
    if n < 0:
        n += 1 << 64
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def key(num, wiretype):
    return varint((num << 3) | wiretype)


def f_varint(num, v):
    return key(num, VARINT) + varint(v)


def f_bytes(num, b):
    if isinstance(b, str):
        b = b.encode()
    return key(num, LEN) + varint(len(b)) + b


def f_double(num, v):
    return key(num, I64) + struct.pack("<d", v)


def now_ms():
    return int(time.time() * 1000)


def hello(protocol=1, software="wire.py", site="s", agent="a", capabilities=(), time_ms=None,
          stream=0):
    body = f_varint(1, protocol) + f_bytes(2, software) + f_bytes(3, site) + f_bytes(4, agent)
    for c in capabilities:
        body += f_bytes(5, c)
    body += f_varint(6, now_ms() if time_ms is None else time_ms)
    if stream:
        body += f_varint(7, stream)
    return f_bytes(HELLO, body)


def heartbeat(time_ms=None):
    return f_bytes(HEARTBEAT, f_varint(1, now_ms() if time_ms is None else time_ms))


def result(host="h", check="c", instance="", time_ms=None, outcome=OK, reason="",
           interval=1, duration_ms=1):
    """A Result message (not yet wrapped in a field); time_ms defaults to now."""
    return (f_bytes(1, host) + f_bytes(2, check) + f_bytes(3, instance) +
            f_varint(4, now_ms() if time_ms is None else time_ms) + f_varint(5, outcome) +
            f_bytes(6, reason) + f_varint(7, interval) + f_varint(8, duration_ms))


def sample(host="h", check="c", instance="", metric="m", time_ms=None, kind=GAUGE,
           value=0.0, counter=None, interval=1, unknown=False):
    """A Sample message (not yet wrapped in a field); time_ms defaults to now."""
    if time_ms is None:
        time_ms = int(time.time() * 1000)
    body = (f_bytes(1, host) + f_bytes(2, check) + f_bytes(3, instance) +
            f_bytes(4, metric) + f_varint(5, time_ms) + f_varint(6, kind) +
            f_double(7, value))
    if counter is not None:
        body += f_varint(8, counter)
    body += f_varint(9, interval)
    if unknown:
        body += f_varint(10, 1)
    return body


def batch(seq, samples, results=(), more=False):
    """A protocol-1 batch; more=True makes it a part of batch seq with more to follow."""
    body = (f_varint(1, seq) + b"".join(f_bytes(2, s) for s in samples) +
            b"".join(f_bytes(3, r) for r in results))
    if more:
        body += f_varint(11, 1)
    return f_bytes(BATCH, body)


def series_def(sid, host="h", check="c", instance="", metric="m", kind=GAUGE, interval=1,
               width=0):
    """A SeriesDef message (protocol 2), not yet wrapped in a field."""
    body = (f_varint(1, sid) + f_bytes(2, host) + f_bytes(3, check) + f_bytes(4, instance) +
            f_bytes(5, metric) + f_varint(6, kind) + f_varint(7, interval))
    if width:
        body += f_varint(8, width)
    return body


def zigzag(n):
    return (n << 1) ^ (n >> 63) if n < 0 else n << 1


def compact_batch(seq, defs, rows, results=(), unknown=()):
    """A protocol-2 batch: defs are series_def() bodies, rows (sid, time_ms,
    gauge value or None, counter or None) in sample order. No checks: a test
    can build what a real agent never would."""
    packed = lambda num, items: f_bytes(num, b"".join(items)) if items else b""
    prev, dts = 0, []
    for _, t, _, _ in rows:
        dts.append(varint(zigzag(t - prev)))
        prev = t
    body = f_varint(1, seq) + b"".join(f_bytes(3, r) for r in results)
    body += b"".join(f_bytes(4, d) for d in defs)
    body += packed(5, [varint(r[0]) for r in rows]) + packed(6, dts)
    body += packed(7, [struct.pack("<d", r[2]) for r in rows if r[2] is not None])
    body += packed(8, [varint(r[3]) for r in rows if r[3] is not None])
    body += packed(9, [varint(i) for i in unknown])
    return f_bytes(BATCH, body)


def ack(seq):
    return f_bytes(ACK, f_varint(1, seq))


def error(message):
    return f_bytes(ERROR, f_bytes(1, message))


def frame(body):
    """Prefixes a Frame body with its 4-byte big-endian length."""
    return struct.pack(">I", len(body)) + body


# --- decoding ---------------------------------------------------------------

def read_varint(buf, i):
    shift = n = 0
    while True:
        if i >= len(buf) or shift > 63:
            raise ValueError("truncated or overlong varint")
        b = buf[i]
        i += 1
        n |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return n, i


def fields(buf):
    """Yields (field number, wire type, value) for each field of a message."""
    i = 0
    while i < len(buf):
        k, i = read_varint(buf, i)
        num, wt = k >> 3, k & 7
        if wt == VARINT:
            v, i = read_varint(buf, i)
        elif wt == I64:
            v, i = buf[i:i + 8], i + 8
        elif wt == I32:
            v, i = buf[i:i + 4], i + 4
        elif wt == LEN:
            n, i = read_varint(buf, i)
            v, i = buf[i:i + n], i + n
        else:
            raise ValueError("wire type %d not supported" % wt)
        if i > len(buf):
            raise ValueError("field %d runs past the end" % num)
        yield num, wt, v


def decode(body):
    """Decodes a Frame body into (name, {field number: value}); strings stay bytes."""
    for num, wt, v in fields(body):
        if num in FRAME_NAMES and wt == LEN:
            inner = {}
            for n2, _, v2 in fields(v):
                inner[n2] = v2
            return FRAME_NAMES[num], inner
    return "unknown", {}


# --- a socket that speaks frames --------------------------------------------

def connect(port, host="127.0.0.1", timeout=5.0):
    s = socket.create_connection((host, port), timeout=timeout)
    s.settimeout(timeout)
    return s


def _recv_exact(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return buf


def recv_frame(sock, max_len=16 * 1024 * 1024):
    """The next frame's body, or None when the peer closed the connection.
    Raises socket.timeout if nothing arrives within the socket's timeout."""
    try:
        hdr = _recv_exact(sock, 4)
        if hdr is None:
            return None
        (n,) = struct.unpack(">I", hdr)
        if n > max_len:
            raise ValueError("frame of %d bytes announced" % n)
        return _recv_exact(sock, n)
    except ConnectionResetError:
        return None


def recv_until_close(sock):
    """Reads frames until the peer closes; returns their bodies.
    Raises socket.timeout if the peer keeps the connection open."""
    out = []
    while True:
        body = recv_frame(sock)
        if body is None:
            return out
        out.append(body)


def expect(sock, name):
    """Receives one frame and checks its kind; returns its fields."""
    body = recv_frame(sock)
    if body is None:
        raise AssertionError("connection closed while waiting for %s" % name)
    got, f = decode(body)
    if got != name:
        raise AssertionError("expected %s, got %s: %r" % (name, got, body))
    return f


def session_from(port, addr, site, agent, timeout=10.0):
    """A session from local address `addr` (127.x.y.z) past its HelloAck."""
    s = socket.socket()
    s.settimeout(timeout)
    s.bind((addr, 0))
    s.connect(("127.0.0.1", port))
    s.sendall(frame(hello(site=site, agent=agent)))
    expect(s, "hello_ack")
    return s


def closed_by_peer(s, wait=0.5):
    """Whether the peer closed `s` (reset or end of stream within `wait` s)."""
    s.settimeout(wait)
    try:
        return s.recv(1) == b""
    except socket.timeout:
        return False
    except OSError:
        return True
