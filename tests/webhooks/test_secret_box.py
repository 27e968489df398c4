"""SecretBox: secrets are encrypted at rest with a key the user controls."""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

import pytest

from console.errors import ConfigError
from console.secrets import KEY_ENV, SecretBox, SecretKeyMismatch


def test_round_trip_and_ciphertext_hides_the_plaintext(tmp_path: Path) -> None:
    box = SecretBox.for_data_dir(tmp_path, environ={})
    sealed = box.encrypt("hunter2-ünïcode")
    assert "hunter2" not in sealed
    assert sealed != box.encrypt("hunter2-ünïcode")  # fresh IV each time
    assert box.decrypt(sealed) == "hunter2-ünïcode"


def test_key_file_is_created_private_and_reused(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    sealed = SecretBox.for_data_dir(data_dir, environ={}).encrypt("s3cret")
    key_file = data_dir / "secret.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert [p.name for p in data_dir.iterdir()] == ["secret.key"]  # no temp file left
    # A second engine start reads the same key and can decrypt.
    assert SecretBox.for_data_dir(data_dir, environ={}).decrypt(sealed) == "s3cret"


def test_racing_creators_agree_on_one_key(tmp_path: Path) -> None:
    boxes: list[SecretBox] = []
    threads = [
        threading.Thread(target=lambda: boxes.append(SecretBox.for_data_dir(tmp_path, {})))
        for _ in range(8)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    sealed = boxes[0].encrypt("same key")
    assert all(b.decrypt(sealed) == "same key" for b in boxes)


def test_wrong_key_is_a_clear_config_error(tmp_path: Path) -> None:
    sealed = SecretBox.for_data_dir(tmp_path / "a", environ={}).encrypt("s3cret")
    other = SecretBox.for_data_dir(tmp_path / "b", environ={})
    with pytest.raises(SecretKeyMismatch) as caught:
        other.decrypt(sealed)
    assert isinstance(caught.value, ConfigError)
    assert "not the one it was encrypted with" in str(caught.value)
    assert "s3cret" not in str(caught.value)


def test_key_from_environment_wins_over_the_file(tmp_path: Path) -> None:
    key = SecretBox.generate_key()
    box = SecretBox.for_data_dir(tmp_path, environ={KEY_ENV: key})
    assert not (tmp_path / "secret.key").exists()
    assert SecretBox(key).decrypt(box.encrypt("x")) == "x"
    assert key not in repr(box)


def test_malformed_key_in_environment_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=KEY_ENV):
        SecretBox.for_data_dir(tmp_path, environ={KEY_ENV: "not-a-key"})


def test_key_file_readable_by_others_is_refused(tmp_path: Path) -> None:
    SecretBox.for_data_dir(tmp_path, environ={})
    os.chmod(tmp_path / "secret.key", 0o644)
    with pytest.raises(ConfigError, match="chmod 600"):
        SecretBox.for_data_dir(tmp_path, environ={})
