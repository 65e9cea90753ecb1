"""Secrets at rest: sealing under SECRETS_KEY or the instance's key file, and the errors."""

from __future__ import annotations

import stat

import pytest

from connector.config import ConfigError, load_config
from connector.encryption import KEY_FILE, SecretBox, SecretsKeyMismatch

KEY = "k" * 40
PLAIN = "push-secret-0123456789abcdefghijklmnop"


def test_a_sealed_value_is_not_the_plaintext_and_opens_under_the_same_key():
    sealed = SecretBox(KEY).seal(PLAIN, "push-address:urn:uuid:1")
    assert PLAIN not in sealed and sealed.startswith("v1:")
    assert SecretBox(KEY).open(sealed, "push-address:urn:uuid:1") == PLAIN


def test_a_value_sealed_under_another_key_gives_an_error_naming_the_setting():
    sealed = SecretBox(KEY).seal(PLAIN, "push-address:urn:uuid:1")
    with pytest.raises(SecretsKeyMismatch) as raised:
        SecretBox("another-key-" + "x" * 30).open(sealed, "push-address:urn:uuid:1")
    assert "CONNECTOR_SECRETS_KEY" in raised.value.detail and PLAIN not in raised.value.detail
    assert raised.value.status == 500


def test_a_sealed_value_copied_to_another_row_does_not_open():
    sealed = SecretBox(KEY).seal(PLAIN, "push-address:urn:uuid:1")
    with pytest.raises(SecretsKeyMismatch):
        SecretBox(KEY).open(sealed, "push-address:urn:uuid:2")


def test_without_a_key_one_is_made_in_home_readable_by_the_owner_only_and_kept(tmp_path):
    sealed = SecretBox(home=tmp_path).seal(PLAIN, "label")
    key_file = tmp_path / KEY_FILE
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert SecretBox(home=tmp_path).open(sealed, "label") == PLAIN  # the next process reads it
    assert [path.name for path in tmp_path.iterdir()] == [KEY_FILE]  # no draft left behind
    with pytest.raises(SecretsKeyMismatch, match=f"{KEY_FILE} \\(no CONNECTOR_SECRETS_KEY set\\)"):
        SecretBox(home=tmp_path / "elsewhere").open(sealed, "label")


def test_no_key_file_is_made_until_a_secret_is_sealed(tmp_path):
    box = SecretBox.from_config({"SECRETS_KEY": None, "HOME": str(tmp_path)})
    assert "no CONNECTOR_SECRETS_KEY" in repr(box)
    assert not (tmp_path / KEY_FILE).exists()


def test_a_short_secrets_key_stops_the_start_naming_the_setting_not_the_value():
    with pytest.raises(ConfigError, match="SECRETS_KEY: must be at least 32 characters") as raised:
        load_config({"SECRETS_KEY": "short-key"}, environ={})
    assert "short-key" not in str(raised.value)


def test_the_key_from_the_environment_is_taken_as_text_even_when_it_looks_like_json():
    config = load_config(environ={"CONNECTOR_SECRETS_KEY": "1" * 40})
    assert config["SECRETS_KEY"] == "1" * 40
