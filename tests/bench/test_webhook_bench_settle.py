"""The webhook benchmark settles PostgreSQL before measuring and tells when deliveries were slow."""

from __future__ import annotations

import asyncio
import time
import uuid

from bench import pg
from bench.webhook_bench import _checkpoints, fire, settle_postgres


def test_settling_checkpoints_and_finds_no_autovacuum_busy(bench_server: str) -> None:
    server = bench_server
    name = f"bench_settle_{uuid.uuid4().hex[:8]}"
    url = pg.recreate(server, name)
    try:
        before = _checkpoints(url)
        settled = settle_postgres(url)
        after = _checkpoints(url)
    finally:
        pg.drop(server, name)
    assert settled["checkpoint_s"] is not None  # the test server's user may checkpoint
    assert after > before
    assert settled["autovacuum_still_busy"] == 0


def test_each_second_of_a_run_reports_its_slowest_delivery() -> None:
    """A server that stalls 0.3 s once, 1.1 s into the run: second 1 shows it, second 0 not."""
    stalled: list[float] = []

    async def run() -> dict[str, object]:
        async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except asyncio.IncompleteReadError:
                    break
                length = int(head.split(b"content-length: ")[1].split(b"\r\n")[0])
                await reader.readexactly(length)
                if not stalled and time.monotonic() - opened > 1.6:  # 0.5 s lead-in + 1.1 s
                    stalled.append(time.monotonic())
                    await asyncio.sleep(0.3)
                writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
                await writer.drain()
            writer.close()

        server = await asyncio.start_server(answer, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        request = b"POST / HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-length: 2\r\n\r\n{}"
        async with server:
            opened = time.monotonic()
            return await fire(port, [request] * 600, 200.0, 1)

    result = asyncio.run(run())
    by_second = result["max_ms_by_second"]
    assert isinstance(by_second, list)
    assert stalled
    assert len(by_second) == 3  # 600 requests at 200/s: seconds 0, 1 and 2
    assert by_second[0] < 150
    assert by_second[1] >= 250
