import stat

import pytest
from cryptography.fernet import Fernet

from runs.domain import blocks
from runs.domain.errors import Conflict


@pytest.fixture
def fresh_key(settings, tmp_path, monkeypatch):
    """Each test starts with no loaded key, an empty PREFECT_HOME and no key setting."""
    monkeypatch.delenv(blocks.ENCRYPTION_KEY_SETTING, raising=False)
    settings.PREFECT_HOME = tmp_path
    blocks.reset_encryption_key_cache()
    yield tmp_path
    blocks.reset_encryption_key_cache()


class TestEncryptionKey:
    def test_is_created_on_first_use_readable_only_by_its_owner(self, fresh_key):
        token = blocks.encrypt_data({"a": 1})
        key_file = fresh_key / blocks.KEY_FILE_NAME
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
        assert Fernet(key_file.read_bytes()).decrypt(token.encode()) == b'{"a":1}'

    def test_an_existing_key_file_is_reused(self, fresh_key):
        token = blocks.encrypt_data({"a": 1})
        blocks.reset_encryption_key_cache()
        assert blocks.decrypt_data(token) == {"a": 1}

    def test_the_setting_takes_precedence_over_the_key_file(self, fresh_key, monkeypatch):
        key = Fernet.generate_key()
        monkeypatch.setenv(blocks.ENCRYPTION_KEY_SETTING, key.decode())
        token = blocks.encrypt_data({"b": 2})
        assert Fernet(key).decrypt(token.encode()) == b'{"b":2}'
        assert not (fresh_key / blocks.KEY_FILE_NAME).exists()

    def test_data_under_another_key_is_a_clear_error(self, fresh_key, monkeypatch):
        token = blocks.encrypt_data({"a": 1})
        monkeypatch.setenv(blocks.ENCRYPTION_KEY_SETTING, Fernet.generate_key().decode())
        blocks.reset_encryption_key_cache()
        with pytest.raises(Conflict, match="cannot be decrypted"):
            blocks.decrypt_data(token)


class TestMaskSecrets:
    def test_exact_nested_and_wildcard_paths(self):
        data = {"password": "p", "db": {"token": "t", "host": "h"}, "extra": {"x": 1, "y": {"z": 2}}, "plain": "v"}
        masked = blocks.mask_secrets(data, ["password", "db.token", "extra.*"])
        assert masked == {"password": "********", "db": {"token": "********", "host": "h"},
                          "extra": {"x": "********", "y": {"z": "********"}}, "plain": "v"}

    def test_a_secret_field_holding_an_object_masks_every_value_inside(self):
        assert blocks.mask_secrets({"value": {"user": "u", "pw": "p"}}, ["value"]) == {
            "value": {"user": "********", "pw": "********"}}

    def test_null_secrets_stay_null(self):
        assert blocks.mask_secrets({"password": None}, ["password"]) == {"password": None}


class TestKeepUnchangedSecrets:
    def test_the_mask_posted_back_means_the_old_value(self):
        current = {"password": "old", "user": "u"}
        assert blocks.keep_unchanged_secrets({"password": "********", "user": "v"}, current, ["password"]) == {
            "password": "old", "user": "v"}

    def test_a_new_value_replaces_the_old(self):
        assert blocks.keep_unchanged_secrets({"password": "new"}, {"password": "old"}, ["password"]) == {
            "password": "new"}
