"""The adapter registry: lazy imports, install hints, read-only view, entry points."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import connector.adapters as adapters
from connector.adapters import get_adapter, register_adapter, registry
from connector.adapters.errors import AdapterUnavailable, UnsupportedSource
from connector.adapters.http import HttpAdapter
from connector.adapters.local import LocalAdapter


@pytest.fixture
def clean_registry(monkeypatch: pytest.MonkeyPatch):
    """The registry as the test leaves it is thrown away afterwards."""
    monkeypatch.setattr(adapters, "known_adapters", dict(adapters.known_adapters))
    saved = dict(adapters._registry)
    yield
    adapters._registry.clear()
    adapters._registry.update(saved)


@pytest.mark.parametrize("scheme, cls", [("file", LocalAdapter), ("", LocalAdapter),
                                         ("HTTPS", HttpAdapter), ("http", HttpAdapter)])
def test_schemes_map_to_their_adapter_classes(scheme: str, cls: type) -> None:
    assert get_adapter(scheme) is cls


def test_the_s3_and_ckan_adapters_are_found_by_scheme() -> None:
    assert get_adapter("s3").__name__ == "S3Adapter"
    assert get_adapter("ckan+http").__name__ == "CkanAdapter"


def test_an_unknown_scheme_is_unsupported_and_lists_the_known_ones() -> None:
    with pytest.raises(UnsupportedSource, match=r"no source adapter for 'gopher' URLs \(known: .*s3"):
        get_adapter("gopher")


def test_a_missing_optional_dependency_gives_the_install_hint(clean_registry, monkeypatch) -> None:
    adapters._registry.pop("s3", None)
    monkeypatch.delitem(sys.modules, "connector.adapters.s3", raising=False)
    monkeypatch.setitem(sys.modules, "s3fs", None)  # what Python does for a package that is absent
    with pytest.raises(AdapterUnavailable, match=r"pip install connector\[s3\]") as caught:
        get_adapter("s3")
    assert isinstance(caught.value, ImportError) and caught.value.status == 500


def test_the_public_registry_is_read_only() -> None:
    get_adapter("file")
    assert registry["file"] is LocalAdapter
    with pytest.raises(TypeError):
        registry["file"] = HttpAdapter  # type: ignore[index]


def test_register_adapter_refuses_to_clobber_unless_asked(clean_registry) -> None:
    get_adapter("http")
    with pytest.raises(ValueError, match="already registered"):
        register_adapter("http", LocalAdapter)
    register_adapter("http", LocalAdapter, clobber=True)
    assert get_adapter("http") is LocalAdapter
    with pytest.raises(ValueError, match="already known"):
        register_adapter("s3", "somewhere.Else")


def test_a_class_registered_by_dotted_path_is_imported_on_first_use(clean_registry) -> None:
    register_adapter("mem", "connector.adapters.local.LocalAdapter")
    assert "mem" not in registry
    assert get_adapter("mem") is LocalAdapter and registry["mem"] is LocalAdapter


def test_entry_points_add_schemes_but_never_replace_built_ins(clean_registry, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    package = tmp_path / "extra_adapters"
    package.mkdir()
    (package / "__init__.py").write_text(textwrap.dedent("""
        from connector.adapters.local import LocalAdapter
        class WebDavAdapter(LocalAdapter):
            schemes = ("webdav",)
    """))
    dist = tmp_path / "extra_adapters-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: extra-adapters\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        "[connector.adapters]\nwebdav = extra_adapters:WebDavAdapter\nhttp = extra_adapters:WebDavAdapter\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    adapters.load_entry_points(reload=True)
    assert get_adapter("webdav").__name__ == "WebDavAdapter"
    assert adapters.known_adapters["http"]["class"] == "connector.adapters.http.HttpAdapter"


def test_open_source_picks_the_adapter_from_the_url(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text("x\n1\n")
    stream = adapters.open_source(str(tmp_path / "a.csv"), roots=[tmp_path])
    assert stream.read_all().to_pydict() == {"x": [1]}


def test_importing_the_registry_imports_no_adapter_and_no_pyarrow() -> None:
    code = ("import sys, connector.adapters; print(sorted(m for m in sys.modules "
            "if m.startswith(('pyarrow', 's3fs', 'connector.adapters.'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "['connector.adapters.errors']"


def test_adapters_import_neither_flask_nor_the_catalog() -> None:
    code = ("import sys; import connector.adapters.local, connector.adapters.http, "
            "connector.adapters.s3, connector.adapters.ckan; "
            "print(sorted(m for m in sys.modules if m == 'flask' or m.startswith('connector.catalog')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
