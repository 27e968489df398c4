"""The keyring behind every SecretBox: a box opened before a rotation (another process,
like the webhook intake worker) decrypts what was encrypted after it, and what it held
before; the keys never show in a repr or a message."""

from __future__ import annotations

from pathlib import Path

import pytest

from console.assets.rotation import rotate_key
from console.secrets import KEY_ENV, NEXT_KEY_FILE, SecretBox, SecretKeyMismatch
from console.store import Store


def test_a_box_opened_before_a_rotation_reads_secrets_written_after_it(tmp_path: Path) -> None:
    early = SecretBox.for_data_dir(tmp_path, {})
    before = early.encrypt("written-before")
    store = Store(tmp_path)
    store.table("assets").upsert("a", {"secrets": {"password": before}})
    rotate_key(store, tmp_path, {})
    late = SecretBox.for_data_dir(tmp_path, {})
    rotated = store.table("assets").get("a")
    assert rotated is not None and rotated["secrets"]["password"] != before
    after = late.encrypt("written-after")
    assert early.decrypt(after) == "written-after"  # re-read the key file
    assert early.decrypt(before) == "written-before"  # and kept the old key
    assert late.decrypt(rotated["secrets"]["password"]) == "written-before"
    with pytest.raises(SecretKeyMismatch):
        late.decrypt(before)  # the old key is gone from the data directory
    assert not (tmp_path / NEXT_KEY_FILE).exists()


def test_no_key_in_repr_or_message(tmp_path: Path) -> None:
    key = SecretBox.generate_key()
    box = SecretBox.for_data_dir(tmp_path, {KEY_ENV: key})
    other = SecretBox.for_data_dir(tmp_path, {KEY_ENV: SecretBox.generate_key()})
    with pytest.raises(SecretKeyMismatch) as caught:
        other.decrypt(box.encrypt("x1234"))
    assert key not in repr(box) and key not in str(caught.value)
    assert f"${KEY_ENV}" in str(caught.value)
