"""Parts encoded on several threads: row order, concurrency, failures in one thread, memory."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable

import pyarrow.parquet as pq
import pytest
from fsspec.implementations.local import LocalFileSystem

from connector.staging.parallel_parts import resolve_encode_threads
from connector.staging.storage import StorageTier
from connector.staging.writer import write_parts
from tests.staging.conftest import make_batch, make_batches, peak_arrow_memory, stage


class HookedFileSystem(LocalFileSystem):
    """Local files whose opening and every write of a ``.parquet`` file call ``hook(event, path)``
    first: to slow, hold or fail one part."""

    def __init__(self, hook: Callable[[str, str], None]) -> None:
        super().__init__(skip_instance_cache=True)
        self.hook = hook

    def _open(self, path, mode="rb", **kwargs):
        opened = super()._open(path, mode, **kwargs)
        if "w" in mode and str(path).endswith(".parquet"):
            self.hook("open", str(path))
            return _HookedFile(opened, self.hook, str(path))
        return opened


class _HookedFile:
    def __init__(self, raw, hook, path) -> None:
        self.raw, self.hook, self.path = raw, hook, path

    def write(self, data):
        self.hook("write", self.path)
        return self.raw.write(data)

    def __getattr__(self, name):
        return getattr(self.raw, name)


def ids_in_part_order(directory) -> list[int]:
    names = sorted(n for n in os.listdir(directory) if n.endswith(".parquet"))
    tables = [pq.read_table(os.path.join(directory, name)) for name in names]
    return [i for table in tables for i in table.column("id").to_pylist()]


def encoder_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("connector-parquet-")]


def test_parts_hold_contiguous_runs_of_row_groups_in_the_source_order(tmp_path):
    (tmp_path / "parallel").mkdir()
    (tmp_path / "serial").mkdir()
    result = write_parts(make_batches(9500, batch_rows=700), str(tmp_path / "parallel"), row_group_rows=1000,
                         encode_threads=3, part_row_groups=2)
    write_parts(make_batches(9500, batch_rows=700), str(tmp_path / "serial"), row_group_rows=1000,
                encode_threads=1)
    assert [p.name for p in result.parts] == [f"part-{i:05d}.parquet" for i in range(5)]
    assert [p.row_groups for p in result.parts] == [2, 2, 2, 2, 2]
    assert [p.rows for p in result.parts] == [2000, 2000, 2000, 2000, 1500]
    assert ids_in_part_order(tmp_path / "parallel") == list(range(9500))
    parallel = pq.read_table(tmp_path / "parallel")
    assert parallel.equals(pq.read_table(tmp_path / "serial"))
    assert encoder_threads() == []


def test_the_next_part_is_encoded_while_the_previous_one_still_is(tmp_path):
    second_open = threading.Event()
    held = []

    def hook(event, path):
        if event == "open" and path.endswith("part-00001.parquet"):
            second_open.set()
        if event == "write" and path.endswith("part-00000.parquet") and not held:
            held.append(second_open.wait(timeout=5))  # part 0 stays busy until part 1 has started

    write_parts(make_batches(6000), str(tmp_path), filesystem=HookedFileSystem(hook), row_group_rows=1000,
                encode_threads=2, part_row_groups=2)
    assert held == [True]
    assert ids_in_part_order(tmp_path) == list(range(6000))


@pytest.mark.parametrize("failing", ["part-00000", "part-00002"])
def test_a_failure_in_one_encoding_thread_aborts_the_job_and_publishes_nothing(tmp_path, failing):
    def hook(event, path):
        if event == "write" and failing in path:
            time.sleep(0.05)  # the other threads are busy meanwhile
            raise OSError(f"disk full while writing {failing}")

    tier = StorageTier(HookedFileSystem(hook), str(tmp_path / "tier"))
    with pytest.raises(OSError, match=f"disk full while writing {failing}"):
        stage(tier, rows=8000, writer_options={"row_group_rows": 1000, "encode_threads": 2,
                                               "part_row_groups": 2})
    assert not tier.is_published("cardio", "mri", "1")
    assert os.listdir(tier.dataset_path("cardio", "mri")) == []
    assert encoder_threads() == []


def test_a_source_error_stops_every_encoding_thread_and_leaves_nothing(tmp_path):
    def failing():
        yield from make_batches(5000)
        raise ConnectionResetError("source went away")

    tier = StorageTier(LocalFileSystem(), str(tmp_path / "tier"))
    with pytest.raises(ConnectionResetError, match="went away"):
        stage(tier, batches=failing(), writer_options={"row_group_rows": 1000, "encode_threads": 2,
                                                       "part_row_groups": 2})
    assert not tier.is_published("cardio", "mri", "1")
    assert os.listdir(tier.dataset_path("cardio", "mri")) == []
    assert encoder_threads() == []


def test_the_quota_stops_a_parallel_write_and_progress_counts_rows_written(tmp_path):
    seen = []

    def progress(state):
        seen.append(state)
        if state.rows >= 5000:
            raise RuntimeError("quota")

    with pytest.raises(RuntimeError, match="quota"):
        write_parts(make_batches(20_000), str(tmp_path), row_group_rows=1000, encode_threads=2,
                    part_row_groups=2, on_row_group=progress)
    assert [s.rows for s in seen] == [1000, 2000, 3000, 4000, 5000]
    assert [s.row_groups for s in seen] == [1, 2, 3, 4, 5]
    assert all(b.bytes >= a.bytes for a, b in zip(seen, seen[1:], strict=False))
    assert encoder_threads() == []
    assert all(os.path.getsize(tmp_path / n) > 0 for n in os.listdir(tmp_path))  # finished parts only


def test_row_groups_in_flight_are_bounded_while_encoding_lags(tmp_path, monkeypatch):
    # Every page reaches the slow file at once, as without the writer's native buffer, which
    # would otherwise hold these small row groups until a part closes and let the encoders keep up.
    monkeypatch.setattr("connector.staging.parts.WRITE_BUFFER_BYTES", 16)
    pulled = written = 0
    ahead = []

    def slow(event, path):
        if event == "write":
            time.sleep(0.002)

    def source():
        nonlocal pulled
        for i in range(24):
            pulled += 1000
            ahead.append(pulled - written)
            yield make_batch(i * 1000, 1000)

    def progress(state):
        nonlocal written
        written = state.rows

    write_parts(source(), str(tmp_path), filesystem=HookedFileSystem(slow), row_group_rows=1000,
                encode_threads=2, part_row_groups=4, queue_depth=2, on_row_group=progress)
    # encode_threads + queue_depth row groups handed over, plus the one just pulled
    assert max(ahead) <= (2 + 2 + 1) * 1000
    assert max(ahead) >= 3000  # the encoders did lag: the bound is what held the source back
    assert ids_in_part_order(tmp_path) == list(range(24_000))


def test_memory_does_not_grow_with_the_input_size_when_encoding_in_parallel(tmp_path):
    small = peak_arrow_memory(tmp_path, 40, encode_threads=2, part_row_groups=2)
    large = peak_arrow_memory(tmp_path, 200, encode_threads=2, part_row_groups=2)
    assert large < small * 1.5 + (1 << 20), (small, large)


def test_the_encoding_threads_come_from_the_argument_then_the_cpus_never_the_environment(monkeypatch):
    monkeypatch.setenv("CONNECTOR_PARQUET_ENCODE_THREADS", "3")
    assert resolve_encode_threads(1) == 1
    assert resolve_encode_threads(3) == 3
    for cpus, threads in ((1, 1), (2, 1), (4, 2), (16, 4)):  # half the CPUs: parsers take the rest
        monkeypatch.setattr("os.cpu_count", lambda cpus=cpus: cpus)
        assert resolve_encode_threads() == threads
    with pytest.raises(ValueError, match="encode_threads"):
        resolve_encode_threads(0)
