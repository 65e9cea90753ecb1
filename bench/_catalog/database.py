"""The databases under test: PostgreSQL schemas, sizes, SQL timing per statement, query
plans and profile summaries."""

from __future__ import annotations

import cProfile
import io
import pstats
import re
import time
from pathlib import Path
from typing import Any


def with_search_path(url: str, schema: str) -> str:
    """``url`` with libpq ``options=-csearch_path=<schema>`` (psycopg passes URL query keys
    to ``connect``), so the app, the CLI and the server all use the schema unchanged."""
    from sqlalchemy.engine import make_url

    return (
        make_url(url)
        .update_query_dict({"options": f"-csearch_path={schema}"})
        .render_as_string(hide_password=False)
    )


def reset_pg_schema(url: str, schema: str, *, create: bool = True) -> str:
    from sqlalchemy import create_engine, text

    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
            if create:
                conn.execute(text(f'CREATE SCHEMA "{schema}"'))
            return conn.execute(text("SHOW server_version")).scalar_one()
    finally:
        engine.dispose()


def database_size(engine: Any, backend: str, home: Path, schema: str) -> int:
    from sqlalchemy import text

    if backend == "sqlite":
        return sum(p.stat().st_size for p in home.glob("connector.db*"))
    with engine.connect() as conn:
        return int(
            conn.execute(
                text(
                    "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0) FROM pg_class c "
                    "JOIN pg_namespace n ON n.oid = c.relnamespace "
                    "WHERE n.nspname = :s AND c.relkind IN ('r', 'm')"
                ),
                {"s": schema},
            ).scalar_one()
        )


_CAST = r"(?:::(?:TIMESTAMP WITH TIME ZONE|[A-Z]+))?"


def normalise_sql(statement: str) -> str:
    """One key per statement shape: whitespace folded, IN lists of any length alike."""
    s = " ".join(statement.split())
    s = re.sub(r"%\([^)]*\)s" + _CAST, "?", s)
    s = re.sub(r"(IN \((?:VALUES )?)\(\?(?:, \?)*\)(?:, \(\?(?:, \?)*\))*", r"\1(?, ?), ...", s)
    return re.sub(r"\?(?:, \?)+", "?, ...", s)


class StatementTimer:
    """Sums time per SQL statement while attached to an engine.

    The time is from cursor.execute() to its return. psycopg has every row by then; sqlite3
    has only stepped to the first row (the rest happens in fetchall), so on SQLite this
    undercounts and :func:`explain` times each statement to its last row instead.
    """

    def __init__(self, engine: Any) -> None:
        self.engine = engine
        self.times: dict[str, list[float]] = {}
        self.captured: list[tuple[str, Any]] = []
        self.capture = False

    def _before(self, conn, cursor, statement, parameters, context, executemany) -> None:
        conn.info.setdefault("bench_t0", []).append(time.perf_counter())
        if self.capture:
            self.captured.append((statement, parameters))

    def _after(self, conn, cursor, statement, parameters, context, executemany) -> None:
        elapsed = time.perf_counter() - conn.info["bench_t0"].pop()
        self.times.setdefault(normalise_sql(statement), []).append(elapsed)

    def __enter__(self) -> StatementTimer:
        from sqlalchemy import event

        event.listen(self.engine, "before_cursor_execute", self._before)
        event.listen(self.engine, "after_cursor_execute", self._after)
        return self

    def __exit__(self, *exc: object) -> None:
        from sqlalchemy import event

        event.remove(self.engine, "before_cursor_execute", self._before)
        event.remove(self.engine, "after_cursor_execute", self._after)

    def report(self, calls: int, top: int = 8) -> list[dict[str, Any]]:
        rows = sorted(self.times.items(), key=lambda kv: -sum(kv[1]))[:top]
        return [
            {
                "statement": k[:400],
                "executions": len(v),
                "total_ms": round(sum(v) * 1000, 1),
                "ms_per_call": round(sum(v) * 1000 / calls, 3),
            }
            for k, v in rows
        ]


def explain(engine: Any, backend: str, statements: list[tuple[str, Any]]) -> list[dict[str, Any]]:
    """The plan of each query (SELECT or WITH) and its time to the last row (median of 5)."""
    plans = []
    with engine.connect() as conn:
        for statement, params in statements:
            if not statement.lstrip().upper().startswith(("SELECT", "WITH")):
                continue
            runs = []
            for _ in range(5):
                t = time.perf_counter()
                conn.exec_driver_sql(statement, params).fetchall()
                runs.append((time.perf_counter() - t) * 1000)
            prefix = "EXPLAIN QUERY PLAN " if backend == "sqlite" else "EXPLAIN (ANALYZE, BUFFERS) "
            rows = conn.exec_driver_sql(prefix + statement, params).fetchall()
            if backend == "sqlite":
                plan = "\n".join(f"{r[0]:>3} {r[1]:>3} {r[3]}" for r in rows)
            else:
                plan = "\n".join(r[0] for r in rows)
            plans.append(
                {
                    "statement": normalise_sql(statement)[:600],
                    "ms_to_last_row": round(sorted(runs)[2], 3),
                    "plan": plan,
                }
            )
        conn.rollback()
    return plans


_SQLITE_DRIVER = re.compile(
    r"<method '(execute|executemany|fetchall|fetchone|fetchmany)' "
    r"of 'sqlite3\.Cursor' objects>|<method 'commit' of 'sqlite3"
)


def sqlite_driver_seconds(profiler: cProfile.Profile) -> float:
    """Time inside sqlite3's C methods (execute, fetch*, commit): SQLite's own work."""
    stats = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    return sum(v[2] for (_, _, name), v in stats.items() if _SQLITE_DRIVER.search(name))


def profile_top(profiler: cProfile.Profile, path: Path, lines: int = 25) -> dict[str, str]:
    profiler.dump_stats(path)
    out: dict[str, str] = {"pstats": str(path)}
    for key in ("tottime", "cumulative"):
        buf = io.StringIO()
        pstats.Stats(profiler, stream=buf).strip_dirs().sort_stats(key).print_stats(lines)
        text = buf.getvalue()
        out[key] = text[text.find("   ncalls") :].rstrip()
    return out


def make_safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


