"""Nesting depth and record size of JSON, JSON Lines and CSV sources, checked before pyarrow or
ijson see the bytes: the hostile inputs of issue 11 through the real readers, in a child process
with a 4 GiB address-space limit (before the check they took 23.6 GB or segfaulted), and
legitimate deep-ish and large-but-allowed records read as before."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pyarrow as pa
import pytest

from connector.adapters import adapter_for
from connector.adapters.base import SourceSpec
from connector.adapters.errors import SourceTooLarge
from connector.config import load_config
from connector.staging.settings import StagingSettings
from connector.staging.source import source_spec

REPO = Path(__file__).resolve().parents[2]
DEEP = 100_000
CHILD = textwrap.dedent("""
    import json, resource, sys
    resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30))
    from connector.adapters import adapter_for
    from connector.adapters.base import SourceSpec
    from connector.errors import ConnectorError
    path, options = sys.argv[1], json.loads(sys.argv[2])
    uri = "file://" + path
    try:
        table = adapter_for(uri, roots=[path.rsplit("/", 1)[0]]).read(SourceSpec(uri, **options)).read_all()
        outcome = {"rows": table.num_rows}
    except ConnectorError as exc:
        outcome = {"error": type(exc).__name__, "detail": exc.detail}
    # VmHWM, not ru_maxrss: Linux carries the forking parent's peak into ru_maxrss across exec.
    with open("/proc/self/status") as status:
        peak = next(line for line in status if line.startswith("VmHWM:"))
    outcome["maxrss_mib"] = int(peak.split()[1]) / 1024
    print(json.dumps(outcome))
""")


def read_in_child(path: Path, **options) -> dict:
    """What reading ``path`` ends in, and the child's peak resident memory."""
    done = subprocess.run([sys.executable, "-c", CHILD, str(path), json.dumps(options)], cwd=REPO,
                          capture_output=True, text=True, timeout=120,
                          env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, f"the reader died ({done.returncode}): {done.stderr[-2000:]}"
    return json.loads(done.stdout)


def read(path: Path, **options) -> pa.Table:
    uri = path.as_uri()
    return adapter_for(uri, roots=[str(path.parent)]).read(SourceSpec(uri, **options)).read_all()


def error_of(path: Path, **options) -> SourceTooLarge:
    with pytest.raises(SourceTooLarge) as caught:
        read(path, **options)
    return caught.value


def nested(depth: int, leaf: str = "1") -> str:
    return '{"a":' * depth + leaf + "}" * depth


def test_arrays_nested_100000_deep_as_json_fail_fast_at_their_byte_offset(tmp_path):
    path = tmp_path / "deep.json"
    path.write_text("[" * DEEP + "]" * DEEP)
    outcome = read_in_child(path)
    assert outcome["error"] == "SourceTooLarge"
    assert "at byte 64 of the text" in outcome["detail"]
    assert "nests deeper than 64 levels" in outcome["detail"]
    assert "SOURCE_MAX_JSON_DEPTH" in outcome["detail"]
    assert outcome["maxrss_mib"] < 300


@pytest.mark.parametrize("threads", [1, 2])
def test_a_json_lines_object_nested_100000_deep_fails_fast_naming_its_line(tmp_path, threads):
    path = tmp_path / "deep.jsonl"
    path.write_text(nested(DEEP) + "\n")  # segfaulted libarrow before
    outcome = read_in_child(path, csv_threads=threads)
    assert outcome["error"] == "SourceTooLarge"
    assert "line 1 (at byte 320 of the text) nests deeper than 64 levels" in outcome["detail"]
    assert "SOURCE_MAX_JSON_DEPTH" in outcome["detail"]
    assert outcome["maxrss_mib"] < 300


def test_an_array_holding_one_object_nested_100000_deep_fails_fast_at_its_byte_offset(tmp_path):
    path = tmp_path / "objects.json"
    path.write_text("[" + nested(DEEP) + "]")
    outcome = read_in_child(path)
    assert outcome["error"] == "SourceTooLarge"
    assert "at byte 316 of the text" in outcome["detail"]  # "[" and 63 '{"a":' before the 64th "{"
    assert "SOURCE_MAX_JSON_DEPTH" in outcome["detail"]
    assert outcome["maxrss_mib"] < 300


@pytest.mark.parametrize("threads", [1, 2])
def test_records_nested_ten_deep_read_as_before(tmp_path, threads):
    rows = [json.loads(nested(9, f'{{"x": {i}, "s": "[{{\\"quoted\\"]"}}')) for i in range(3000)]
    jsonl = tmp_path / "ten.jsonl"
    jsonl.write_text("".join(json.dumps(r) + "\n" for r in rows))
    array = tmp_path / "ten.json"
    array.write_text(json.dumps(rows))
    for path in (jsonl, array):
        table = read(path, csv_threads=threads, csv_chunk_bytes=64 << 10, block_size=32 << 10)
        assert table.num_rows == 3000
        assert table.to_pylist()[2999] == rows[2999]


def test_brackets_inside_strings_do_not_count_and_cannot_hide_real_ones(tmp_path):
    hidden = tmp_path / "hidden.jsonl"  # 100 "]" in a string must not cancel 70 real levels
    hidden.write_text('{"s": "' + "]" * 100 + '\\"]", "a": ' + nested(70) + "}\n")
    assert "line 1 " in error_of(hidden, max_json_depth=64).detail
    harmless = tmp_path / "harmless.jsonl"  # 200 "[" and escaped quotes inside strings: depth 1
    harmless.write_text(('{"s": "' + "[" * 200 + '\\\\", "t": "\\"{{{{"}\n') * 3)
    assert read(harmless).column("s")[0].as_py() == "[" * 200 + "\\"


@pytest.mark.parametrize("threads", [1, 2])
def test_a_json_lines_line_longer_than_the_record_limit_is_refused_naming_it(tmp_path, threads):
    path = tmp_path / "long.jsonl"
    path.write_text("".join(json.dumps({"i": i, "s": "x" * 10}) + "\n" for i in range(100))
                    + json.dumps({"i": 100, "s": "y" * 5000}) + "\n")
    detail = error_of(path, csv_threads=threads, max_record_bytes=4096).detail
    assert "line 101 (from byte 2890 of the text) is longer than 4096 bytes" in detail
    assert "SOURCE_MAX_RECORD_BYTES" in detail


def test_a_json_array_record_longer_than_the_record_limit_is_refused_at_its_byte_offset(tmp_path):
    path = tmp_path / "long.json"
    path.write_text(json.dumps([{"i": 0}, {"i": 1, "s": "y" * 5000}]))
    detail = error_of(path, max_record_bytes=4096).detail
    assert "the record from byte 11 of the text is longer than 4096 bytes" in detail
    assert "SOURCE_MAX_RECORD_BYTES" in detail


def test_a_csv_record_longer_than_the_chunks_but_within_the_limit_is_read(tmp_path):
    # Longer than MAX_RECORD_CHUNKS chunks of 1 MiB: the serial reader takes over, with blocks of
    # SOURCE_MAX_RECORD_BYTES (16 MiB by default) instead of 1 MiB, which refused it before.
    path = tmp_path / "large.csv"
    big = "z" * (10 << 20)
    path.write_text(f'i,s\n0,a\n1,"{big}"\n2,c\n')
    table = read(path, csv_threads=2, csv_chunk_bytes=1 << 20)
    assert table.column("s").to_pylist() == ["a", big, "c"]


def test_a_json_lines_line_longer_than_the_chunks_but_within_the_limit_is_read(tmp_path):
    path = tmp_path / "large.jsonl"
    big = "z" * (10 << 20)
    path.write_text('{"i": 0, "s": "a"}\n' + json.dumps({"i": 1, "s": big}) + '\n{"i": 2, "s": "c"}\n')
    table = read(path, csv_threads=2, csv_chunk_bytes=1 << 20)
    assert table.column("s").to_pylist() == ["a", big, "c"]


def test_a_50_mb_csv_field_says_where_its_record_starts_and_which_setting_raises_the_limit(tmp_path):
    path = tmp_path / "big.csv"
    field = "x" * (50 << 20)
    path.write_text(f'id,text\n1,small\n2,"{field}"\n3,after\n')
    detail = error_of(path, csv_threads=2).detail
    assert "a record after data row 1 (in the text from byte 16) is longer than 16777216 bytes" in detail
    assert "SOURCE_MAX_RECORD_BYTES" in detail
    serial = error_of(path, csv_threads=1).detail
    assert "a record after data row 1 is longer than the serial reader's block of 1048576 bytes" in serial
    table = read(path, csv_threads=2, max_record_bytes=64 << 20)
    assert [len(v) for v in table.column("text").to_pylist()] == [5, 50 << 20, 5]


def test_the_limits_reach_the_source_spec_from_the_configuration():
    config = load_config({"SOURCE_MAX_JSON_DEPTH": 10, "SOURCE_MAX_RECORD_BYTES": 1000}, environ={})
    spec = source_spec({"downloadURL": "file:///data/x.jsonl", "format": "jsonl"},
                       StagingSettings.from_config(config))
    assert (spec.max_json_depth, spec.max_record_bytes) == (10, 1000)


@pytest.mark.parametrize("threads", [1, 2])
def test_a_long_line_of_many_small_objects_reads_and_a_deep_one_after_it_is_named(tmp_path, threads):
    # Far more opening brackets than the limit on one line: scanned exactly, across many reads.
    items = [{"a": i, "b": [i], "s": 'q"[\\'} for i in range(20_000)]
    line = json.dumps({"items": items})
    ok = tmp_path / "wide.jsonl"
    ok.write_text(line + "\n" + line + "\n")
    # The serial reader needs a block longer than the line; the parallel one hands it over.
    options = {"csv_threads": threads, "block_size": (1 << 20) if threads == 1 else 64 << 10,
               "csv_chunk_bytes": 64 << 10}
    assert read(ok, **options).column("items")[1].as_py()[19_999] == items[19_999]
    deep = tmp_path / "wide-then-deep.jsonl"
    deep.write_text(line + "\n" + line[:-2] + ", " + nested(70) + "]}\n")
    detail = error_of(deep, **options).detail
    at = len(line) + 1 + len(line) - 2 + 2 + 5 * 62  # line 2's 63rd "{": depth 65
    assert f"line 2 (at byte {at} of the text)" in detail
