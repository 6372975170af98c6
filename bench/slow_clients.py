"""Slow clients: N connections that send a request one header line at a time,
a line every few seconds, and hold their connection for the whole run (the way
a phone on a bad network does). Runs inside the benchmark container, towards
127.0.0.1 only, and stops by itself after the given number of seconds."""
import asyncio
import sys

HOST, PORT, CLIENTS, SECONDS = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])


async def client(deadline):
    loop = asyncio.get_running_loop()
    while loop.time() < deadline:
        try:
            reader, writer = await asyncio.open_connection(HOST, PORT)
            writer.write(b"GET / HTTP/1.1\r\nHost: shop.test\r\n")
            await writer.drain()
            while loop.time() < deadline:
                await asyncio.sleep(2)
                writer.write(b"X-Slow: 1\r\n")
                await writer.drain()
            writer.close()
        except OSError:
            await asyncio.sleep(0.5)


async def main():
    deadline = asyncio.get_running_loop().time() + SECONDS
    await asyncio.gather(*(client(deadline) for _ in range(CLIENTS)))


asyncio.run(main())
