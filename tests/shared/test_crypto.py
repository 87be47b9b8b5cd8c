"""Secrets at rest are encrypted; passwords and keys are compared safely."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet

from shared.crypto import SecretBox, SecretDecryptError, hash_password, verify_password


def test_secret_box_round_trips_and_hides_plaintext() -> None:
    box = SecretBox(Fernet.generate_key().decode())
    stored = box.encrypt("aorRefreshToken123")
    assert "aorRefreshToken123" not in stored
    assert box.decrypt(stored) == "aorRefreshToken123"


def test_secret_box_with_another_key_cannot_decrypt() -> None:
    stored = SecretBox(Fernet.generate_key().decode()).encrypt("x")
    with pytest.raises(SecretDecryptError):
        SecretBox(Fernet.generate_key().decode()).decrypt(stored)


def test_plain_value_is_not_accepted_as_encrypted() -> None:
    with pytest.raises(SecretDecryptError):
        SecretBox(Fernet.generate_key().decode()).decrypt("aorPlainToken")


def test_password_hash_verifies_only_the_right_password() -> None:
    stored = hash_password("correct horse")
    assert "correct horse" not in stored
    assert verify_password("correct horse", stored)
    assert not verify_password("wrong", stored)
    assert not verify_password("correct horse", "garbage")
