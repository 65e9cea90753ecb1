"""The ``connector`` command as a benchmark drives it: one-shot CLI calls and ``connector serve``."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any


def connector_command() -> list[str]:
    script = Path(sys.executable).parent / "connector"
    return [str(script)] if script.exists() else [sys.executable, "-m", "connector.cli"]


def cli_json(env: dict[str, str], *args: str) -> Any:
    """Run ``connector ARGS`` (which must print JSON) and return what it printed."""
    done = subprocess.run(
        [*connector_command(), *args],
        env=env,
        cwd=env["CONNECTOR_HOME"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"connector {' '.join(args)} failed: {done.stderr.strip()}")
    return json.loads(done.stdout)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """``connector serve`` in a subprocess on a free loopback port."""

    def __init__(self, env: dict[str, str], log_path: Path, threads: int) -> None:
        import requests

        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self._log = open(log_path, "w")  # noqa: SIM115  (closed in stop())
        self.proc = subprocess.Popen(
            [
                *connector_command(),
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--threads",
                str(threads),
            ],
            env=env,
            cwd=env["CONNECTOR_HOME"],
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 60
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"connector serve exited with {self.proc.returncode}; see {log_path}"
                )
            try:
                if requests.get(self.base + "/healthz", timeout=2).status_code == 200:
                    return
            except requests.ConnectionError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"connector serve did not become healthy; see {log_path}")
            time.sleep(0.2)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
