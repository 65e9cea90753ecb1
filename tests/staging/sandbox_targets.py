"""Functions the sandbox tests run in real child processes."""

from __future__ import annotations

import ctypes
import os
import time
from pathlib import Path


def allocate_forever() -> None:
    held = []
    while True:
        held.append(bytearray(64 << 20))  # bytearray touches its pages: resident memory grows


def segfault() -> None:
    ctypes.string_at(0)


def spin() -> None:
    while True:
        pass


def open_files(count: int) -> None:
    handles = [open(os.devnull) for _ in range(count)]  # noqa: SIM115
    del handles


def write(path: str, text: str) -> None:
    Path(path).write_text(text)


def fail(message: str) -> None:
    raise ValueError(message)


def sleep_writing_pid(path: str) -> None:
    Path(path).write_text(str(os.getpid()))
    time.sleep(600)
