"""udp_delay_proxy.py - a UDP proxy that delays each answer, for tests.

A slow SNMP device is made of a fast one: every datagram from a client is
passed to the target at once, and every answer is sent back `delay` later.
Usage:

    python3 udp_delay_proxy.py LISTEN_HOST LISTEN_PORT TARGET_HOST TARGET_PORT DELAY_MS \
        [US_PER_BYTE [DROP_HEX]]

With US_PER_BYTE, an answer waits that many microseconds more per byte: a
device whose large answers (a GETBULK of many rows) take longer than its
small ones. Each answer's size and delay is printed. With DROP_HEX, a
request holding those bytes (an OID's encoding: "2b0601020119" for
1.3.6.1.2.1.25, HOST-RESOURCES-MIB) is never answered, as by a device that
hangs on that part of its MIB.

It serves until killed. Only for tests: it listens on the address it is given
(loopback in Vakt's tests) and talks to one target; each client gets its own
socket towards the target, so answers go back to the client that asked.
"""
import asyncio
import sys


class Upstream(asyncio.DatagramProtocol):
    def __init__(self, front, client, delay, per_byte):
        self.front, self.client, self.delay, self.per_byte = front, client, delay, per_byte

    def datagram_received(self, data, addr):
        loop = asyncio.get_running_loop()
        delay = self.delay + len(data) * self.per_byte
        print(f"answer of {len(data)} bytes, {delay * 1000:.0f} ms", flush=True)
        loop.call_later(delay, self.front.sendto, data, self.client)


class Front(asyncio.DatagramProtocol):
    def __init__(self, target, delay, per_byte, drop):
        self.target, self.delay, self.per_byte, self.drop = target, delay, per_byte, drop
        self.upstreams = {}

    def connection_made(self, transport):
        self.transport = transport

    def datagram_received(self, data, addr):
        if self.drop and self.drop in data:
            print(f"request of {len(data)} bytes dropped", flush=True)
            return
        asyncio.ensure_future(self.forward(data, addr))

    async def forward(self, data, addr):
        up = self.upstreams.get(addr)
        if up is None:
            loop = asyncio.get_running_loop()
            up, _ = await loop.create_datagram_endpoint(
                lambda: Upstream(self.transport, addr, self.delay, self.per_byte), remote_addr=self.target)
            self.upstreams[addr] = up
        up.sendto(data)


async def main():
    host, port, thost, tport, delay_ms = sys.argv[1:6]
    per_byte = int(sys.argv[6]) / 1e6 if len(sys.argv) > 6 else 0.0
    drop = bytes.fromhex(sys.argv[7]) if len(sys.argv) > 7 else b""
    loop = asyncio.get_running_loop()
    await loop.create_datagram_endpoint(
        lambda: Front((thost, int(tport)), int(delay_ms) / 1000.0, per_byte, drop),
        local_addr=(host, int(port)))
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main())
