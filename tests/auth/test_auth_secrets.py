"""SecretBox: the server key file (created once, mode 0600, shared by concurrent workers), the
environment key, encryption of secrets at rest, and the keys derived per purpose."""

from __future__ import annotations

import os
import stat
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from cargohold.auth.secrets import SecretBox
from cargohold.errors import ConfigError


def test_first_use_creates_a_private_key_file_and_later_uses_read_it(tmp_path: Path) -> None:
    data = tmp_path / "data"
    old_umask = os.umask(0)  # even a permissive umask must not widen the key file's mode
    try:
        first = SecretBox.load_or_create(data, None)
    finally:
        os.umask(old_umask)
    key_file = data / "secret.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert [p.name for p in data.iterdir()] == ["secret.key"]  # no temporary file left behind
    second = SecretBox.load_or_create(data, None)
    assert second.decrypt(first.encrypt("s3cret")) == "s3cret"
    assert first.derive("registry-jwt") == second.derive("registry-jwt")
    assert str(key_file) in first.source


def test_concurrent_first_starts_agree_on_one_key(tmp_path: Path) -> None:
    with ThreadPoolExecutor(max_workers=8) as pool:
        boxes = list(pool.map(lambda _: SecretBox.load_or_create(tmp_path, None), range(16)))
    keys = {box.derive("check") for box in boxes}
    assert len(keys) == 1
    assert [p.name for p in tmp_path.iterdir()] == ["secret.key"]


def test_environment_key_is_used_and_no_file_is_written(tmp_path: Path) -> None:
    key = SecretBox.generate_key()
    box = SecretBox.load_or_create(tmp_path, key)
    assert not (tmp_path / "secret.key").exists()
    assert box.source == "CARGOHOLD_SECRET_KEY"
    assert SecretBox.load_or_create(tmp_path / "other", key).decrypt(box.encrypt("x")) == "x"


@pytest.mark.parametrize("bad", ["short", "not base64 at all!!", "A" * 100, "é" * 43])
def test_an_unusable_environment_key_is_refused_without_echoing_it(tmp_path: Path, bad: str) -> None:
    with pytest.raises(ConfigError) as refused:
        SecretBox.load_or_create(tmp_path, bad)
    assert "CARGOHOLD_SECRET_KEY" in str(refused.value)
    assert bad not in str(refused.value)


def test_a_damaged_key_file_is_refused_naming_the_file(tmp_path: Path) -> None:
    key_file = tmp_path / "secret.key"
    key_file.write_text("garbage-garbage\n")
    with pytest.raises(ConfigError, match=str(key_file)) as refused:
        SecretBox.load_or_create(tmp_path, None)
    assert "garbage" not in str(refused.value)


def test_a_data_directory_that_cannot_be_created_is_a_config_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(ConfigError, match="key file"):
        SecretBox.load_or_create(blocker / "data", None)


def test_encryption_is_randomised_and_never_shows_the_clear_text(tmp_path: Path) -> None:
    box = SecretBox.load_or_create(tmp_path, None)
    first, second = box.encrypt("hunter2hunter2"), box.encrypt("hunter2hunter2")
    assert first != second
    assert "hunter2" not in first
    assert box.is_encrypted(first)
    assert not box.is_encrypted("hunter2hunter2")
    assert box.decrypt(first) == box.decrypt(second) == "hunter2hunter2"
    assert box.decrypt(box.encrypt("")) == ""
    assert box.decrypt(box.encrypt("ünïcödé 🔑")) == "ünïcödé 🔑"


def test_another_key_or_damage_fails_clearly(tmp_path: Path) -> None:
    box = SecretBox.load_or_create(tmp_path / "a", None)
    other = SecretBox.load_or_create(tmp_path / "b", None)
    sealed = box.encrypt("topsecret")
    for bad in (sealed, sealed[:-4] + "AAAA", "fernet:nonsense", "plaintext"):
        with pytest.raises(ConfigError) as refused:
            other.decrypt(bad)
        assert "topsecret" not in str(refused.value)
    with pytest.raises(ConfigError, match=str(tmp_path / "b" / "secret.key")):
        other.decrypt(sealed)


def test_derived_keys_are_bound_to_their_purpose(tmp_path: Path) -> None:
    box = SecretBox.load_or_create(tmp_path, None)
    jwt, session = box.derive("registry-jwt"), box.derive("ui-session")
    assert len(jwt) == len(session) == 32
    assert jwt != session
    assert box.derive("registry-jwt") == jwt
    assert SecretBox.load_or_create(tmp_path / "other", None).derive("registry-jwt") != jwt


def test_repr_shows_no_key(tmp_path: Path) -> None:
    key = SecretBox.generate_key()
    assert key not in repr(SecretBox.load_or_create(tmp_path, key))
