"""Audit signing keys: HMAC always, Ed25519 when 'cryptography' is installed."""

from __future__ import annotations

from pathlib import Path

import pytest

import citywatch.audit.keys as keys
from citywatch.audit.keys import (
    ENV_AUDIT_KEY,
    ENV_AUDIT_KEY_FILE,
    AuditKeyError,
    HmacKey,
    check_document,
    ed25519_available,
    load_key,
    sign_document,
)

SECRET = "0123456789abcdef0123456789abcdef"


def test_hmac_from_env_file_and_option(tmp_path: Path) -> None:
    from_env = load_key(None, {ENV_AUDIT_KEY: f" {SECRET}\n"})
    path = tmp_path / "audit.key"
    path.write_text(SECRET + "\n")
    from_file = load_key(path, {})
    from_env_file = load_key(None, {ENV_AUDIT_KEY_FILE: str(path), ENV_AUDIT_KEY: "x" * 40})
    assert from_env.key_id == from_file.key_id == from_env_file.key_id
    assert from_env.alg == "HMAC-SHA256" and len(from_env.key_id) == 16
    assert SECRET not in repr(from_env) and from_env.key_id in repr(from_env)


@pytest.mark.parametrize(
    ("env", "says"),
    [
        ({}, "no audit key"),
        ({ENV_AUDIT_KEY: "   "}, "no audit key"),
        ({ENV_AUDIT_KEY: "short"}, "needs at least 32"),
        ({ENV_AUDIT_KEY_FILE: "/nonexistent/audit.key"}, "cannot be read"),
    ],
)
def test_no_usable_key_is_refused(env: dict[str, str], says: str) -> None:
    with pytest.raises(AuditKeyError, match=says) as err:
        load_key(None, env)
    assert "short" not in str(err.value)  # a secret is never echoed


def test_sign_and_check_a_document() -> None:
    key = HmacKey(SECRET.encode(), "t")
    doc = sign_document({"b": 1, "a": "x"}, key)
    assert check_document(doc, key) is None
    assert "does not verify" in (check_document({**doc, "a": "y"}, key) or "")
    assert "signed by key" in (check_document(doc, HmacKey(b"z" * 32, "t")) or "")
    forged = {**doc, "signature": {**doc["signature"], "alg": "Ed25519"}}
    assert "signed with 'Ed25519'" in (check_document(forged, key) or "")
    bad_b64 = {**doc, "signature": {**doc["signature"], "value": "!!"}}
    assert "does not verify" in (check_document(bad_b64, key) or "")
    assert check_document({"a": 1}, key) == "it carries no signature"


def test_a_pem_key_without_cryptography_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pem = tmp_path / "k.pem"
    pem.write_text("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
    monkeypatch.setattr(keys, "ed25519_available", lambda: False)
    with pytest.raises(AuditKeyError, match="'cryptography' package"):
        load_key(pem, {})


@pytest.mark.skipif(not ed25519_available(), reason="the optional 'cryptography' is not installed")
def test_ed25519_private_signs_public_verifies(tmp_path: Path) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519

    private = ed25519.Ed25519PrivateKey.generate()
    priv_pem = tmp_path / "audit.pem"
    priv_pem.write_bytes(
        private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    pub_pem = tmp_path / "audit.pub"
    pub_pem.write_bytes(
        private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    signer, verifier = load_key(priv_pem, {}), load_key(pub_pem, {})
    assert signer.alg == verifier.alg == "Ed25519" and signer.key_id == verifier.key_id
    assert signer.can_sign and not verifier.can_sign
    doc = sign_document({"seq": 3}, signer)
    assert check_document(doc, verifier) is None
    assert "does not verify" in (check_document({**doc, "seq": 4}, verifier) or "")
    with pytest.raises(AuditKeyError, match="cannot sign"):
        sign_document({"seq": 3}, verifier)
    # an HMAC key cannot pass for the Ed25519 one (no algorithm confusion)
    assert "signed with" in (check_document(doc, HmacKey(SECRET.encode(), "t")) or "")
