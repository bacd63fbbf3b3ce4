"""Keys that sign what the audit log hands to the outside: export bundles and published heads.

Two kinds:

* **HMAC-SHA256** with a shared secret of at least 32 bytes: ``$CITYWATCH_AUDIT_KEY`` (the secret
  itself) or a key file holding it (e.g. made with ``openssl rand -hex 32 > audit.key``).  The
  outside auditor verifies with the same secret.
* **Ed25519** when the optional ``cryptography`` package is installed: a PEM private key file
  signs (``openssl genpkey -algorithm ed25519 -out audit-ed25519.pem``), the PEM public key file
  (``openssl pkey -in audit-ed25519.pem -pubout``) verifies, so the auditor needs no secret.

A signed document is a JSON object with a ``signature`` member ``{alg, key_id, value}``; the
signature covers the canonical JSON of the object without that member.  The verifier's key
decides the algorithm: a document claiming another algorithm, or another key id, is refused.
Secrets never appear in ``repr``, messages or output; ``key_id`` is a one-way fingerprint.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import importlib.util
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

from citywatch.audit.chain import canonical_json

ENV_AUDIT_KEY = "CITYWATCH_AUDIT_KEY"
ENV_AUDIT_KEY_FILE = "CITYWATCH_AUDIT_KEY_FILE"
HMAC_ALG = "HMAC-SHA256"
ED25519_ALG = "Ed25519"
MIN_HMAC_KEY_BYTES = 32
MAX_KEY_FILE_BYTES = 16_384
SIGNATURE = "signature"


class AuditKeyError(ValueError):
    """No usable key, or a key of the wrong kind; the message says which and how to fix it."""


class AuditKey(Protocol):
    alg: str
    key_id: str

    @property
    def can_sign(self) -> bool: ...

    def sign(self, data: bytes) -> str: ...

    def verify(self, data: bytes, signature: str) -> bool: ...


def ed25519_available() -> bool:
    """Is the optional ``cryptography`` package (needed for Ed25519) installed?"""
    return importlib.util.find_spec("cryptography") is not None


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: str) -> bytes | None:
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (ValueError, UnicodeEncodeError):
        return None


class HmacKey:
    """A shared secret: signs and verifies."""

    alg = HMAC_ALG

    def __init__(self, secret: bytes, source: str) -> None:
        if len(secret) < MIN_HMAC_KEY_BYTES:
            raise AuditKeyError(
                f"audit key from {source} is {len(secret)} bytes; an HMAC key needs at least "
                f"{MIN_HMAC_KEY_BYTES} (make one with `openssl rand -hex 32`)"
            )
        self._secret = secret
        self.key_id = hashlib.sha256(b"citywatch-audit-hmac-key-id\x00" + secret).hexdigest()[:16]

    def __repr__(self) -> str:
        return f"HmacKey(key_id={self.key_id!r})"

    @property
    def can_sign(self) -> bool:
        return True

    def sign(self, data: bytes) -> str:
        return _b64(hmac.new(self._secret, data, hashlib.sha256).digest())

    def verify(self, data: bytes, signature: str) -> bool:
        raw = _unb64(signature)
        want = hmac.new(self._secret, data, hashlib.sha256).digest()
        return raw is not None and hmac.compare_digest(raw, want)


class Ed25519Key:
    """An Ed25519 private key (signs and verifies) or public key (verifies only)."""

    alg = ED25519_ALG

    def __init__(self, pem: bytes, source: str) -> None:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ed25519

        self._private: Any = None
        public: Any
        try:
            if b"PRIVATE KEY" in pem:
                self._private = serialization.load_pem_private_key(pem, password=None)
                if not isinstance(self._private, ed25519.Ed25519PrivateKey):
                    raise AuditKeyError(f"audit key {source}: not an Ed25519 private key")
                public = self._private.public_key()
            else:
                public = serialization.load_pem_public_key(pem)
        except AuditKeyError:
            raise  # already says what is wrong (it is a ValueError too)
        except (ValueError, TypeError) as err:
            raise AuditKeyError(f"audit key {source}: not a readable PEM key ({err})") from None
        if not isinstance(public, ed25519.Ed25519PublicKey):
            raise AuditKeyError(f"audit key {source}: not an Ed25519 key")
        self._public = public
        raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        self.key_id = hashlib.sha256(raw).hexdigest()[:16]

    def __repr__(self) -> str:
        kind = "private" if self._private is not None else "public"
        return f"Ed25519Key({kind}, key_id={self.key_id!r})"

    @property
    def can_sign(self) -> bool:
        return self._private is not None

    def public_pem(self) -> bytes:
        """The public key as PEM (SubjectPublicKeyInfo): what to publish for verifiers."""
        from cryptography.hazmat.primitives import serialization

        return bytes(
            self._public.public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )

    def sign(self, data: bytes) -> str:
        if self._private is None:
            raise AuditKeyError(f"Ed25519 key {self.key_id}: a public key cannot sign")
        return _b64(self._private.sign(data))

    def verify(self, data: bytes, signature: str) -> bool:
        from cryptography.exceptions import InvalidSignature

        raw = _unb64(signature)
        if raw is None:
            return False
        try:
            self._public.verify(raw, data)
        except InvalidSignature:
            return False
        return True


def _from_file(path: Path) -> AuditKey:
    source = f"file {str(path)!r}"
    try:
        size = path.stat().st_size
        if size > MAX_KEY_FILE_BYTES:
            raise AuditKeyError(f"audit key {source} is {size} bytes: not a key file")
        data = path.read_bytes()
    except OSError as err:
        raise AuditKeyError(f"audit key {source} cannot be read: {err.strerror}") from None
    if data.lstrip().startswith(b"-----BEGIN"):
        if not ed25519_available():
            raise AuditKeyError(
                f"audit key {source} is a PEM (Ed25519) key, which needs the 'cryptography' "
                "package; it is not installed: install it, or use an HMAC secret instead"
            )
        return Ed25519Key(data, source)
    return HmacKey(data.strip(), source)


def load_key(key_file: Path | None = None, environ: Mapping[str, str] | None = None) -> AuditKey:
    """The audit key: ``key_file``, else ``$CITYWATCH_AUDIT_KEY_FILE``, else the secret in
    ``$CITYWATCH_AUDIT_KEY``.  Refuses (deny by default) when none is given."""
    env = os.environ if environ is None else environ
    if key_file is not None:
        return _from_file(Path(key_file))
    if env.get(ENV_AUDIT_KEY_FILE):
        return _from_file(Path(env[ENV_AUDIT_KEY_FILE]))
    secret = env.get(ENV_AUDIT_KEY, "")
    if secret.strip():
        return HmacKey(secret.strip().encode("utf-8"), f"${ENV_AUDIT_KEY}")
    raise AuditKeyError(
        f"no audit key: set ${ENV_AUDIT_KEY} to a secret of {MIN_HMAC_KEY_BYTES}+ characters "
        f"(e.g. `openssl rand -hex 32`), or give a key file (--key-file or ${ENV_AUDIT_KEY_FILE})"
    )


def signed_body(doc: Mapping[str, Any]) -> bytes:
    """What the signature covers: the canonical JSON of ``doc`` without its signature."""
    return canonical_json({k: v for k, v in doc.items() if k != SIGNATURE}).encode("utf-8")


def sign_document(doc: Mapping[str, Any], key: AuditKey) -> dict[str, Any]:
    if not key.can_sign:
        raise AuditKeyError(f"{key.alg} key {key.key_id} cannot sign (a public key?)")
    body = signed_body(doc)
    out = {k: v for k, v in doc.items() if k != SIGNATURE}
    out[SIGNATURE] = {"alg": key.alg, "key_id": key.key_id, "value": key.sign(body)}
    return out


def check_document(doc: Mapping[str, Any], key: AuditKey) -> str | None:
    """``None`` when ``doc`` carries a valid signature by ``key``; else what is wrong."""
    sig = doc.get(SIGNATURE)
    if not isinstance(sig, dict):
        return "it carries no signature"
    alg, key_id, value = sig.get("alg"), sig.get("key_id"), sig.get("value")
    if alg != key.alg:
        return f"it is signed with {alg!r} but the key given is {key.alg}"
    if key_id != key.key_id:
        return f"it is signed by key {key_id!r} but the key given is {key.key_id!r}"
    if not isinstance(value, str) or not key.verify(signed_body(doc), value):
        return f"its {key.alg} signature does not verify: the document was changed"
    return None
