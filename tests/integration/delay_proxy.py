"""delay_proxy.py - a TCP proxy that adds a fixed delay each way, for tests.

The kernel of the test machines has no netem, so WAN latency is made in user
space: every chunk read from one side is written to the other `delay` seconds
later, in order. Usage:

    python3 delay_proxy.py LISTEN_HOST LISTEN_PORT TARGET_HOST TARGET_PORT DELAY_MS

It serves until killed; a connection whose peer goes away closes the other
side too. Only for tests: it listens on the address it is given (loopback in
Vakt's tests) and connects to one target.
"""
import asyncio
import sys


async def pump(reader, writer, delay):
    loop = asyncio.get_running_loop()
    queue = asyncio.Queue()

    async def deliver():
        while True:
            due, data = await queue.get()
            if data is None:
                break
            wait = due - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            writer.write(data)
            await writer.drain()
        writer.close()

    task = asyncio.ensure_future(deliver())
    try:
        while True:
            data = await reader.read(65536)
            if not data:
                break
            queue.put_nowait((loop.time() + delay, data))
    except (ConnectionError, OSError):
        pass
    queue.put_nowait((loop.time() + delay, None))
    try:
        await task
    except (ConnectionError, OSError):
        pass


async def handle(creader, cwriter, target, delay):
    try:
        sreader, swriter = await asyncio.open_connection(*target)
    except OSError:
        cwriter.close()
        return
    await asyncio.gather(pump(creader, swriter, delay), pump(sreader, cwriter, delay))


async def main():
    host, port, thost, tport, delay_ms = sys.argv[1:6]
    target = (thost, int(tport))
    delay = int(delay_ms) / 1000.0
    server = await asyncio.start_server(
        lambda r, w: handle(r, w, target, delay), host, int(port))
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
