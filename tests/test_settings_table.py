"""The settings table: declared once in connector/config.py, documented from it, the only
reader of the environment."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from connector.config import SETTINGS, ConfigError, load_config, markdown_table

ROOT = Path(__file__).resolve().parents[1]
BEGIN, END = "<!-- settings table:", "<!-- end of the settings table -->"


def test_the_operations_guide_shows_the_settings_table_as_declared():
    text = (ROOT / "docs" / "operations.md").read_text(encoding="utf-8")
    start = text.index("\n", text.index(BEGIN)) + 1
    documented = text[start:text.index(END)]
    assert documented == markdown_table(), (
        "docs/operations.md's settings table differs from connector/config.py SETTINGS; regenerate "
        "it: replace the lines between the two markers with the output of "
        "`python -m connector.config --markdown`")


def test_every_setting_is_documented_once_with_a_default_of_its_own_type():
    keys = [setting.key for setting in SETTINGS]
    assert len(keys) == len(set(keys))
    for setting in SETTINGS:
        assert setting.doc.strip() and isinstance(setting.default, setting.types), setting.key


@pytest.mark.parametrize("key,value", [("SECRETS_KEY", 12345678), ("SECRETS_KEY", "too-short-key"),
                                       ("PSEUDONYMISATION_SECRET", ["hunter2-hunter2"]),
                                       ("CKAN_API_TOKEN", 987654321)])
def test_a_bad_secret_is_named_without_showing_its_value(tmp_path, key, value):
    with pytest.raises(ConfigError, match=key) as caught:
        load_config({"HOME": str(tmp_path), key: value}, environ={})
    assert str(value).strip("[]'") not in str(caught.value)


def test_the_ckan_api_token_is_a_setting_read_from_the_environment(tmp_path):
    config = load_config(environ={"CONNECTOR_HOME": str(tmp_path), "CONNECTOR_CKAN_API_TOKEN": "[tok"})
    assert config["CKAN_API_TOKEN"] == "[tok"  # text, never parsed as JSON


def test_no_module_but_config_reads_the_environment():
    """The rule about the code: settings arrive as arguments, built at a composition root."""
    package = ROOT / "connector"
    readers = [str(path.relative_to(ROOT)) for path in sorted(package.rglob("*.py"))
               if path != package / "config.py"
               and re.search(r"\bos\.environ\b|\bgetenv\b|\bfrom os import\b[^\n]*\benviron\b",
                             path.read_text(encoding="utf-8"))]
    assert readers == [], f"read the environment (take the value from connector.config): {readers}"
