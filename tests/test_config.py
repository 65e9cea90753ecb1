"""Configuration: defaults, settings file, environment, overrides, validation."""

from __future__ import annotations

import json
import os

import pytest

from connector.config import ConfigError, load_config


def test_embedded_defaults_live_under_home(tmp_path):
    config = load_config(environ={"CONNECTOR_HOME": str(tmp_path)})
    assert config["DATABASE_URL"] == f"sqlite:///{tmp_path / 'connector.db'}"
    assert config["STORAGE_URL"] == (tmp_path / "storage").as_uri()
    assert config["AUTO_MIGRATE"] is True


def test_home_defaults_to_instance_in_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert load_config(environ={})["HOME"] == str(tmp_path / "instance")


def test_environment_overrides_settings_file_and_overrides_win(tmp_path):
    settings = tmp_path / "settings.py"
    settings.write_text("MAX_CONTENT_LENGTH = 100\nSEARCH_MAX_LIMIT = 7\nhelper = 'ignored'\n")
    environ = {"CONNECTOR_SETTINGS": str(settings), "CONNECTOR_HOME": str(tmp_path),
               "CONNECTOR_SEARCH_MAX_LIMIT": "9", "CONNECTOR_DATABASE_URL": "postgresql://h/db"}
    config = load_config({"MAX_CONTENT_LENGTH": 5}, environ=environ)
    assert config["MAX_CONTENT_LENGTH"] == 5
    assert config["SEARCH_MAX_LIMIT"] == 9
    assert config["DATABASE_URL"] == "postgresql://h/db"
    assert config["AUTO_MIGRATE"] is False  # production databases migrate by `connector db upgrade`


def test_unknown_key_is_named(tmp_path):
    with pytest.raises(ConfigError, match="CONNECTOR_MAX_LENGHT|MAX_LENGHT"):
        load_config(environ={"CONNECTOR_HOME": str(tmp_path), "CONNECTOR_MAX_LENGHT": "3"})


@pytest.mark.parametrize("key,value", [("MAX_CONTENT_LENGTH", "lots"), ("AUTO_MIGRATE", "1"),
                                       ("SEARCH_MAX_LIMIT", "0")])
def test_wrong_type_or_range_is_named(tmp_path, key, value):
    with pytest.raises(ConfigError, match=key):
        load_config(environ={"CONNECTOR_HOME": str(tmp_path), f"CONNECTOR_{key}": value})


def test_missing_settings_file_is_an_error(tmp_path):
    with pytest.raises(ConfigError, match="CONNECTOR_SETTINGS"):
        load_config(environ={"CONNECTOR_SETTINGS": str(tmp_path / "nope.py")})


@pytest.mark.parametrize("threads", [1, 3])
def test_csv_parse_threads_setting_reaches_the_source_reader(tmp_path, threads):
    from connector.staging.settings import StagingSettings
    from connector.staging.source import source_spec

    config = load_config({"HOME": str(tmp_path), "CSV_PARSE_THREADS": threads})
    settings = StagingSettings.from_config(config)
    spec = source_spec({"accessURL": "file:///data/x.csv", "format": "CSV"}, settings)
    assert spec.csv_threads == threads


def test_parquet_encode_threads_setting_reaches_the_staging_settings(tmp_path):
    from connector.staging.settings import StagingSettings

    config = load_config({"HOME": str(tmp_path), "PARQUET_ENCODE_THREADS": 2})
    assert StagingSettings.from_config(config).parquet_encode_threads == 2
    with pytest.raises(ConfigError, match="PARQUET_ENCODE_THREADS"):
        load_config({"HOME": str(tmp_path), "PARQUET_ENCODE_THREADS": 0})


def test_the_arrow_memory_pool_setting_reaches_the_staging_settings_and_refuses_unknown_pools(tmp_path):
    from connector.staging.settings import StagingSettings

    assert StagingSettings.from_config(load_config({"HOME": str(tmp_path)})).arrow_memory_pool == "jemalloc"
    config = load_config({"HOME": str(tmp_path)}, environ={"CONNECTOR_ARROW_MEMORY_POOL": "mimalloc"})
    assert StagingSettings.from_config(config).arrow_memory_pool == "mimalloc"
    with pytest.raises(ConfigError, match="ARROW_MEMORY_POOL: expected one of jemalloc, mimalloc"):
        load_config({"HOME": str(tmp_path), "ARROW_MEMORY_POOL": "tcmalloc"})


@pytest.mark.parametrize("raw", ['["127.0.0.1", "10.0.0.0/8"]', "127.0.0.1,10.0.0.0/8",
                                 " 127.0.0.1 , 10.0.0.0/8 "])
def test_a_list_setting_takes_a_json_list_or_commas(tmp_path, raw):
    config = load_config(environ={"CONNECTOR_HOME": str(tmp_path), "CONNECTOR_SOURCE_ALLOWLIST": raw})
    assert config["SOURCE_ALLOWLIST"] == ["127.0.0.1", "10.0.0.0/8"]


@pytest.mark.parametrize("value", ['["127.0.0.1"', "{not json", ["files lab"], "http://x.lab",
                                   ["10.0.0.0/33"], '["127.0.0.1", 7]'])
def test_a_bad_allowlist_stops_the_service_naming_the_key(tmp_path, value):
    with pytest.raises(ConfigError, match="SOURCE_ALLOWLIST"):
        if isinstance(value, str):
            load_config(environ={"CONNECTOR_HOME": str(tmp_path), "CONNECTOR_SOURCE_ALLOWLIST": value})
        else:
            load_config({"HOME": str(tmp_path), "SOURCE_ALLOWLIST": value})


def test_a_non_text_setting_that_starts_like_json_but_does_not_parse_is_named(tmp_path):
    with pytest.raises(ConfigError, match="DSP_PARTICIPANTS: starts like JSON"):
        load_config(environ={"CONNECTOR_HOME": str(tmp_path), "CONNECTOR_DSP_PARTICIPANTS": '[{"id": '})


def test_source_roots_have_one_parser_for_every_source_of_settings(tmp_path):
    """Commas, os.pathsep and a JSON list in the environment, a string in the settings file:
    the same list everywhere, the same roots in the staging settings."""
    from connector.staging.settings import StagingSettings

    a, b = str(tmp_path / "a"), str(tmp_path / "b")
    settings = tmp_path / "settings.py"
    settings.write_text(f"SOURCE_ROOTS = {a + ',' + b!r}\n")
    forms = [{"CONNECTOR_SOURCE_ROOTS": f"{a},{b}"}, {"CONNECTOR_SOURCE_ROOTS": f"{a}{os.pathsep}{b}"},
             {"CONNECTOR_SOURCE_ROOTS": json.dumps([a, b])}, {"CONNECTOR_SETTINGS": str(settings)}]
    for environ in forms:
        config = load_config(environ={"CONNECTOR_HOME": str(tmp_path), **environ})
        assert config["SOURCE_ROOTS"] == [a, b], environ
        roots = StagingSettings.from_config(config).source_roots
        assert roots.for_organisation("org-a") == (os.path.join(a, "org-a"), os.path.join(b, "org-a"))


def test_source_roots_may_map_organisations_to_their_paths(tmp_path):
    from connector.staging.settings import StagingSettings

    mapping = {"org-a": ["/srv/a"], "*": "/srv/shared"}
    config = load_config(environ={"CONNECTOR_HOME": str(tmp_path),
                                  "CONNECTOR_SOURCE_ROOTS": json.dumps(mapping)})
    roots = StagingSettings.from_config(config).source_roots
    assert roots.for_organisation("org-a") == ("/srv/a", "/srv/shared")
    assert roots.for_organisation("org-b") == ("/srv/shared",)
    with pytest.raises(ConfigError, match="SOURCE_ROOTS"):
        load_config({"HOME": str(tmp_path), "SOURCE_ROOTS": {"org-a": ["relative/path"]}})
