"""Local sources: only under the allowed roots, symlinks resolved, only regular files."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from connector.adapters.errors import SourceNotFound, SourceRefused, UnsupportedSource
from connector.adapters.local import LocalAdapter
from connector.adapters.roots import SourceRoots


@pytest.fixture
def root(tmp_path: Path) -> Path:
    (tmp_path / "root").mkdir()
    (tmp_path / "root" / "data.csv").write_text("a,b\n1,x\n")
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "secret.csv").write_text("token\nhunter2\n")
    return tmp_path / "root"


def test_a_path_under_the_root_is_read(root: Path) -> None:
    stream = LocalAdapter(roots=[root]).read(str(root / "data.csv"))
    assert stream.read_all().to_pydict() == {"a": [1], "b": ["x"]}


def test_a_file_url_is_read(root: Path) -> None:
    stream = LocalAdapter(roots=[root]).read((root / "data.csv").as_uri())
    assert stream.read_all().num_rows == 1
    assert stream.provenance.final_url == (root / "data.csv").resolve().as_uri()


def test_a_path_outside_the_roots_is_refused(root: Path) -> None:
    with pytest.raises(SourceRefused, match="outside the local source roots") as caught:
        LocalAdapter(roots=[root]).read(str(root.parent / "outside" / "secret.csv"))
    assert caught.value.status == 403


def test_dot_dot_cannot_leave_the_root(root: Path) -> None:
    with pytest.raises(SourceRefused, match="outside the local source roots"):
        LocalAdapter(roots=[root]).read(f"{root}/../outside/secret.csv")


def test_a_root_prefix_is_not_a_root(root: Path, tmp_path: Path) -> None:
    (tmp_path / "root-evil").mkdir()
    (tmp_path / "root-evil" / "x.csv").write_text("a\n1\n")
    with pytest.raises(SourceRefused, match="outside"):
        LocalAdapter(roots=[root]).read(str(tmp_path / "root-evil" / "x.csv"))


def test_a_symlink_escaping_the_root_is_refused(root: Path) -> None:
    (root / "link.csv").symlink_to(root.parent / "outside" / "secret.csv")
    with pytest.raises(SourceRefused, match="through a symbolic link outside the local source roots"):
        LocalAdapter(roots=[root]).read(str(root / "link.csv"))


def test_a_symlink_inside_the_root_is_read_and_recorded_by_its_target(root: Path) -> None:
    (root / "alias.csv").symlink_to(root / "data.csv")
    stream = LocalAdapter(roots=[root]).read(str(root / "alias.csv"))
    assert stream.read_all().num_rows == 1
    assert stream.provenance.files[0].url == (root / "alias.csv").as_uri()
    assert stream.provenance.final_url == (root / "data.csv").resolve().as_uri()


def test_a_directory_with_a_symlink_escaping_the_root_is_refused(root: Path) -> None:
    (root / "dist").mkdir()
    (root / "dist" / "a.csv").write_text("token\nfine\n")
    (root / "dist" / "b.csv").symlink_to(root.parent / "outside" / "secret.csv")
    with pytest.raises(SourceRefused, match="b.csv leads through a symbolic link outside"):
        LocalAdapter(roots=[root]).read(str(root / "dist"))


def test_a_symlinked_directory_escaping_the_root_is_refused(root: Path) -> None:
    (root / "dist").mkdir()
    (root / "dist" / "a.csv").write_text("token\nfine\n")
    (root / "dist" / "more").symlink_to(root.parent / "outside")
    with pytest.raises(SourceRefused, match="more leads through a symbolic link outside"):
        LocalAdapter(roots=[root]).read(str(root / "dist"))


def test_a_relative_path_is_refused(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(root)
    with pytest.raises(SourceRefused, match="not an absolute path"):
        LocalAdapter(roots=[root]).read("data.csv")


def test_without_configured_roots_every_path_is_refused(root: Path) -> None:
    with pytest.raises(SourceRefused, match="no local source roots"):
        LocalAdapter().read(str(root / "data.csv"))


def test_the_adapter_never_takes_its_roots_from_the_environment(
        root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONNECTOR_SOURCE_ROOTS", f"/nonexistent{os.pathsep}{root}")
    with pytest.raises(SourceRefused, match="no local source roots"):
        LocalAdapter().read(str(root / "data.csv"))


@pytest.fixture
def shared(tmp_path: Path) -> Path:
    """One root holding a folder per organisation, as the plain-list form expects."""
    for org in ("org-a", "org-b"):
        (tmp_path / "sources" / org).mkdir(parents=True)
        (tmp_path / "sources" / org / "ok.csv").write_text(f"owner\n{org}\n")
    (tmp_path / "sources" / "loose.csv").write_text("owner\nnobody\n")
    return tmp_path / "sources"


def test_a_plain_list_of_roots_gives_each_organisation_its_own_folder(shared: Path) -> None:
    roots = SourceRoots.from_setting([str(shared)])
    assert roots.check((shared / "org-a" / "ok.csv").as_uri(), "org-a")
    for url, org in (((shared / "org-a" / "ok.csv").as_uri(), "org-b"),
                     ((shared / "loose.csv").as_uri(), "org-a"),
                     (str(shared / "org-b" / ".." / "org-a" / "ok.csv"), "org-b")):
        with pytest.raises(SourceRefused, match=f"outside the local source roots of organisation '{org}'"):
            roots.check(url, org)


def test_the_adapter_built_for_one_organisation_cannot_read_anothers_file(shared: Path) -> None:
    roots = SourceRoots.from_setting([str(shared)])
    other = str(shared / "org-a" / "ok.csv")
    assert LocalAdapter(roots=list(roots.for_organisation("org-a"))).read(other).read_all().num_rows == 1
    with pytest.raises(SourceRefused, match="outside the local source roots"):
        LocalAdapter(roots=list(roots.for_organisation("org-b"))).read(other)


def test_a_mapping_names_each_organisations_roots_and_star_shares_one(shared: Path, tmp_path: Path) -> None:
    (tmp_path / "common").mkdir()
    roots = SourceRoots.from_setting({"org-a": [str(shared / "org-a")], "*": str(tmp_path / "common")})
    assert roots.check(str(shared / "org-a" / "ok.csv"), "org-a")
    assert roots.check(str(tmp_path / "common" / "x.csv"), "org-b")
    with pytest.raises(SourceRefused):
        roots.check(str(shared / "org-a" / "ok.csv"), "org-b")
    with pytest.raises(SourceRefused):
        roots.check(str(shared / "org-b" / "ok.csv"), "org-b")  # a mapping has no convention


def test_a_file_url_naming_another_host_is_refused(root: Path) -> None:
    with pytest.raises(SourceRefused, match="another host"):
        LocalAdapter(roots=[root]).read(f"file://fileserver{root}/data.csv")


def test_a_fifo_is_refused_without_blocking(root: Path) -> None:
    os.mkfifo(root / "pipe.csv")
    with pytest.raises(SourceRefused, match="not a regular file"):
        LocalAdapter(roots=[root]).read(str(root / "pipe.csv"))


def test_a_missing_file_is_not_found(root: Path) -> None:
    with pytest.raises(SourceNotFound):
        LocalAdapter(roots=[root]).read(str(root / "nope.csv"))


def test_a_directory_without_data_files_is_not_found(root: Path) -> None:
    (root / "empty").mkdir()
    (root / "empty" / "README.md").write_text("nothing here")
    with pytest.raises(SourceNotFound, match="no data files"):
        LocalAdapter(roots=[root]).read(str(root / "empty"))


def test_other_schemes_are_not_local(root: Path) -> None:
    with pytest.raises(UnsupportedSource):
        LocalAdapter(roots=[root]).read("http://example.org/data.csv")
