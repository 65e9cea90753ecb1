"""The child-process primitive jobs run in: real children that really allocate too much,
crash, spin or open too many files, and the causes the parent reports for each."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from connector import sandbox
from connector.sandbox import Limits

REPO = str(Path(__file__).resolve().parents[2])
ENV = {**os.environ, "PYTHONPATH": REPO}
TARGETS = "tests.staging.sandbox_targets"


def run(name: str, *args, **limits) -> sandbox.Outcome:
    return sandbox.run(f"{TARGETS}:{name}", *args, limits=Limits(**limits), env=ENV)


def test_a_child_that_finishes_reports_success_and_its_work_is_done(tmp_path):
    outcome = run("write", str(tmp_path / "out"), "done")
    assert outcome.ok and outcome.cause is None
    assert (tmp_path / "out").read_text() == "done"


def test_a_child_over_its_resident_memory_limit_is_killed_and_the_limit_named():
    outcome = run("allocate_forever", memory_bytes=256 << 20, address_space_bytes=None)
    assert not outcome.ok
    assert outcome.cause == ("the worker exceeded the 256 MiB memory limit "
                             "(CONNECTOR_JOB_MEMORY_LIMIT)")


def test_a_child_over_its_address_space_backstop_fails_with_the_memory_limit_named():
    outcome = run("allocate_forever", memory_bytes=None, address_space_bytes=768 << 20)
    assert outcome.exit_code == sandbox.EXIT_MEMORY
    assert "memory limit (CONNECTOR_JOB_MEMORY_LIMIT)" in outcome.cause


def test_a_segfaulting_child_is_reported_by_its_signal():
    outcome = run("segfault")
    assert outcome.signal == signal.SIGSEGV
    assert outcome.cause == "the worker was killed by signal 11 (SIGSEGV)"


def test_a_child_over_its_cpu_time_is_stopped_and_the_limit_named():
    outcome = run("spin", cpu_seconds=1)
    assert outcome.signal in (signal.SIGXCPU, signal.SIGKILL)
    assert outcome.cause == "the worker exceeded the 1 s CPU time limit (CONNECTOR_JOB_CPU_SECONDS)"


def test_a_child_opening_too_many_files_is_stopped_and_the_limit_named():
    assert run("open_files", 40, open_files=64).ok
    outcome = run("open_files", 200, open_files=64)
    assert outcome.exit_code == sandbox.EXIT_OPEN_FILES
    assert outcome.cause == "the worker exceeded the limit of 64 open files (CONNECTOR_JOB_OPEN_FILES)"


def test_an_exception_in_the_child_is_its_cause():
    outcome = run("fail", "the source is not JSON")
    assert outcome.exit_code == sandbox.EXIT_ERROR
    assert outcome.cause == "ValueError: the source is not JSON"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_the_child_dies_with_its_parent(tmp_path):
    pid_file = tmp_path / "child.pid"
    parent = subprocess.Popen([sys.executable, "-c", (
        "import sys; from connector import sandbox; "
        f"sandbox.run('{TARGETS}:sleep_writing_pid', sys.argv[1], limits=sandbox.Limits())"),
        str(pid_file)], env=ENV)
    deadline = time.monotonic() + 60
    while not pid_file.exists() or not pid_file.read_text():
        assert time.monotonic() < deadline and parent.poll() is None
        time.sleep(0.05)
    child = int(pid_file.read_text())
    parent.kill()
    parent.wait()
    while _alive(child):
        assert time.monotonic() < deadline, "the child outlived its parent"
        time.sleep(0.05)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"  # a zombie is dead, waiting for init to reap it
