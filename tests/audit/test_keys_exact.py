"""Audit keys at their edges (found by mutation testing, docs/mutation.md): an Ed25519 verifier
refuses a signature that is not even base64, key ids are stable fingerprints (published heads
name them), a key file may be exactly the size limit, and every refusal names the key's
source in full."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest

from citywatch.audit.keys import (
    ENV_AUDIT_KEY,
    MAX_KEY_FILE_BYTES,
    AuditKeyError,
    ed25519_available,
    load_key,
)

SECRET = b"0123456789abcdef0123456789abcdef"
needs_cryptography = pytest.mark.skipif(
    not ed25519_available(), reason="the optional 'cryptography' is not installed"
)


def test_the_hmac_key_id_is_a_fixed_fingerprint_of_the_secret(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(ENV_AUDIT_KEY, SECRET.decode())
    key = load_key()  # from the process environment when none is passed
    # sha256(b"citywatch-audit-hmac-key-id\x00" + secret), first 16 hex digits: a changed
    # derivation would orphan every head published under the old id
    assert key.key_id == "d9bcfb9f1d3a15e5"


def test_a_key_file_may_be_exactly_the_size_limit(tmp_path: Path) -> None:
    at_limit = tmp_path / "limit.key"
    at_limit.write_bytes(b"k" * MAX_KEY_FILE_BYTES)
    assert load_key(at_limit, {}).alg == "HMAC-SHA256"
    over = tmp_path / "over.key"
    over.write_bytes(b"k" * (MAX_KEY_FILE_BYTES + 1))
    message = f"audit key file {str(over)!r} is {MAX_KEY_FILE_BYTES + 1} bytes: not a key file"
    with pytest.raises(AuditKeyError, match=f"^{re.escape(message)}$"):
        load_key(over, {})


def test_a_short_secret_is_refused_naming_where_it_came_from(tmp_path: Path) -> None:
    path = tmp_path / "short.key"
    path.write_bytes(b"tooshort\n")
    with pytest.raises(AuditKeyError, match=f"^audit key from file {re.escape(repr(str(path)))} "):
        load_key(path, {})
    with pytest.raises(AuditKeyError, match=f"^audit key from \\${ENV_AUDIT_KEY} is 5 bytes"):
        load_key(None, {ENV_AUDIT_KEY: "short"})


def _pems(tmp_path: Path) -> tuple[Path, Path, bytes]:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519

    private = ed25519.Ed25519PrivateKey.generate()
    raw = private.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    priv = tmp_path / "audit.pem"
    # leading blank lines, as an editor may leave them: still a PEM key
    priv.write_bytes(
        b"\n\n"
        + private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    pub = tmp_path / "audit.pub"
    pub.write_bytes(
        private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return priv, pub, raw


@needs_cryptography
def test_ed25519_refuses_what_it_did_not_sign(tmp_path: Path) -> None:
    priv, pub, raw = _pems(tmp_path)
    signer, verifier = load_key(priv, {}), load_key(pub, {})
    assert signer.alg == "Ed25519"
    assert signer.key_id == verifier.key_id == hashlib.sha256(raw).hexdigest()[:16]
    good = signer.sign(b"head")
    assert verifier.verify(b"head", good) is True
    assert verifier.verify(b"head", "not base64 at all!") is False
    assert verifier.verify(b"other", good) is False
    message = f"Ed25519 key {verifier.key_id}: a public key cannot sign"
    with pytest.raises(AuditKeyError, match=f"^{re.escape(message)}$"):
        verifier.sign(b"head")
    assert repr(signer) == f"Ed25519Key(private, key_id={signer.key_id!r})"
    assert repr(verifier) == f"Ed25519Key(public, key_id={verifier.key_id!r})"


@needs_cryptography
def test_a_pem_key_of_the_wrong_kind_is_named(tmp_path: Path) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    ec_key = ec.generate_private_key(ec.SECP256R1())
    ec_private = tmp_path / "ec.pem"
    ec_private.write_bytes(
        ec_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    ec_public = tmp_path / "ec.pub"
    ec_public.write_bytes(
        ec_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    broken = tmp_path / "broken.pem"
    broken.write_text("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n")
    for path, says in (
        (ec_private, "not an Ed25519 private key"),
        (ec_public, "not an Ed25519 key"),
        (broken, "not a readable PEM key ("),
    ):
        with pytest.raises(AuditKeyError) as err:
            load_key(path, {})
        assert str(err.value).startswith(f"audit key file {str(path)!r}: {says}")


def test_a_pem_key_without_cryptography_is_refused_in_full(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import citywatch.audit.keys as keys

    pem = tmp_path / "k.pem"
    pem.write_text("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
    monkeypatch.setattr(keys, "ed25519_available", lambda: False)
    message = (
        f"audit key file {str(pem)!r} is a PEM (Ed25519) key, which needs the 'cryptography' "
        "package; it is not installed: install it, or use an HMAC secret instead"
    )
    with pytest.raises(AuditKeyError, match=f"^{re.escape(message)}$"):
        load_key(pem, {})


def test_a_signature_with_characters_outside_base64_is_refused() -> None:
    key = load_key(None, {ENV_AUDIT_KEY: SECRET.decode()})
    good = key.sign(b"head")
    assert key.verify(b"head", good) is True
    assert key.verify(b"head", good[:4] + "!" + good[4:]) is False  # not silently skipped
