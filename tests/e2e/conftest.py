"""What the end-to-end tests share: ``connector serve`` started as a user starts it."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def serving(env: dict[str, str], *, log: Path | None = None,
            start_seconds: float = 60) -> Iterator[tuple[str, subprocess.Popen]]:
    """``python -m connector serve`` on a free loopback port with ``env`` (its output in ``log``,
    else a pipe), once ``/healthz`` answers; yields its base URL and process, and stops it when
    the block ends."""
    with contextlib.ExitStack() as stack:
        output = stack.enter_context(log.open("wb")) if log is not None else subprocess.PIPE
        port = free_port()
        process = subprocess.Popen([sys.executable, "-m", "connector", "serve", "--port", str(port)],
                                   env=env, stdout=output, stderr=subprocess.STDOUT)
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + start_seconds
        while True:
            try:
                requests.get(base + "/healthz", timeout=1)
                break
            except requests.ConnectionError:
                if process.poll() is not None or time.monotonic() > deadline:
                    process.kill()
                    said = log.read_bytes() if log is not None else process.communicate()[0]
                    pytest.fail("server did not start: " + said.decode(errors="replace"))
                time.sleep(0.1)
        try:
            yield base, process
        finally:
            process.terminate()
            process.wait(timeout=30)
            if process.stdout is not None:
                process.stdout.close()
