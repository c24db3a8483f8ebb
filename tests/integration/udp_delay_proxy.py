"""udp_delay_proxy.py - a UDP proxy that delays each answer, for tests.

A slow SNMP device is made of a fast one: every datagram from a client is
passed to the target at once, and every answer is sent back `delay` later.
Usage:

    python3 udp_delay_proxy.py LISTEN_HOST LISTEN_PORT TARGET_HOST TARGET_PORT DELAY_MS

It serves until killed. Only for tests: it listens on the address it is given
(loopback in Vakt's tests) and talks to one target; each client gets its own
socket towards the target, so answers go back to the client that asked.
"""
import asyncio
import sys


class Upstream(asyncio.DatagramProtocol):
    def __init__(self, front, client, delay):
        self.front, self.client, self.delay = front, client, delay

    def datagram_received(self, data, addr):
        loop = asyncio.get_running_loop()
        loop.call_later(self.delay, self.front.sendto, data, self.client)


class Front(asyncio.DatagramProtocol):
    def __init__(self, target, delay):
        self.target, self.delay = target, delay
        self.upstreams = {}

    def connection_made(self, transport):
        self.transport = transport

    def datagram_received(self, data, addr):
        asyncio.ensure_future(self.forward(data, addr))

    async def forward(self, data, addr):
        up = self.upstreams.get(addr)
        if up is None:
            loop = asyncio.get_running_loop()
            up, _ = await loop.create_datagram_endpoint(
                lambda: Upstream(self.transport, addr, self.delay), remote_addr=self.target)
            self.upstreams[addr] = up
        up.sendto(data)


async def main():
    host, port, thost, tport, delay_ms = sys.argv[1:6]
    loop = asyncio.get_running_loop()
    await loop.create_datagram_endpoint(
        lambda: Front((thost, int(tport)), int(delay_ms) / 1000.0), local_addr=(host, int(port)))
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main())
