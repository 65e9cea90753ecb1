"""What every ``connector`` subcommand shares: the lazily built context, ``--json`` output,
one-line errors with a non-zero exit, and reading a JSON document from a file or stdin.
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from connector.config import ConfigError, load_config

EXIT_ERROR = 1
EXIT_USAGE = 2


class Context:
    """Built on first use, so ``connector --help`` needs no database."""

    def __init__(self) -> None:
        self._extension = None

    @property
    def extension(self):
        if self._extension is None:
            from connector.app import build_extension

            self._extension = build_extension(load_config())
        return self._extension

    def uow(self):
        from connector.uow import UnitOfWork

        return UnitOfWork(self.extension.session_factory)


pass_context = click.make_pass_decorator(Context, ensure=True)


def fail(message: str, code: int = EXIT_ERROR) -> None:
    """Print one line on stderr and exit with ``code``."""
    click.echo(f"connector: error: {message}", err=True)
    sys.exit(code)


def handle_errors(func: Callable[..., Any]) -> Callable[..., Any]:
    """Turn every expected failure into one line on stderr and a non-zero exit."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from connector.errors import ConnectorError, ValidationFailed

        try:
            return func(*args, **kwargs)
        except ValidationFailed as exc:
            fail("invalid: " + "; ".join(f"{e['path']}: {e['message']}" for e in exc.errors))
        except ConnectorError as exc:
            fail(f"{exc.detail} ({exc.status} {exc.title})")
        except ConfigError as exc:
            fail(f"configuration: {exc}", EXIT_USAGE)
        except OSError as exc:
            fail(str(exc))

    return wrapper


def json_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")(func)


def emit(as_json: bool, document: Any, text: str) -> None:
    click.echo(json.dumps(document, ensure_ascii=False, indent=2) if as_json else text)


def read_document(path: str) -> Any:
    """A JSON document from ``path`` (``-``: stdin), parsed with the API's depth limit."""
    from connector.http import parse_json

    raw = sys.stdin.buffer.read() if path == "-" else Path(path).read_bytes()
    return parse_json(raw, max_depth=64)
