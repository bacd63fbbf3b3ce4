"""Keep camera credentials out of logs, errors, health and repr.

Camera URLs carry credentials in two places: the userinfo (``rtsp://user:pass@host/x``) and
query parameters (``?token=...``).  :func:`redact_url` masks both in one URL;
:func:`redact_text` scrubs free text (FFmpeg and PyAV error messages often echo the URL) of
known secret strings and of any userinfo that looks like one.  When in doubt, mask more.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import unquote

MASK = "***"

# Query parameter names that carry a secret: password, passwd, pwd, pass, token, access_token,
# key, api_key, apikey, secret, client_secret, auth, authorization, signature, sig, credential.
_SECRET_PARAM = re.compile(r"pass|pwd|token|key|secret|auth|sig|credential", re.IGNORECASE)
_SCHEME = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*://)(?P<rest>.*)$", re.DOTALL)
# A host[:port] as it may follow userinfo: name, IPv4 or [IPv6], optional numeric port.
_HOSTPORT = re.compile(r"^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.\-_~%]*)(?::\d*)?$")
# In free text: scheme://userinfo@ (userinfo without whitespace, slash or another scheme).
_TEXT_USERINFO = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.\-]*://)[^\s/?#@'\"]+@")
_TEXT_QUERY = re.compile(r"(?P<sep>[?&;])(?P<name>[A-Za-z0-9_.\-]+)=(?P<value>[^&;#\s'\"]*)")


def _split_authority(rest: str) -> tuple[str, str]:
    """Split ``userinfo@host/path`` into (userinfo, remainder); userinfo is '' when none.

    A password may hold characters that should have been percent-escaped ('@', '/', '?',
    '#'), so the userinfo runs to the last '@' of the authority, and past a '/' or '?' when
    what precedes it cannot be a host (``admin:pa/ss@host`` has no numeric port).
    """
    end = len(rest)
    for ch in "/?#":
        pos = rest.find(ch)
        if pos != -1:
            end = min(end, pos)
    authority = rest[:end]
    if "@" in authority:
        at = authority.rindex("@")
        return authority[:at], rest[at + 1 :]
    if "@" in rest and not _HOSTPORT.match(authority):
        # The authority is no valid host: a password with an unescaped delimiter.
        at = rest.rindex("@")
        return rest[:at], rest[at + 1 :]
    return "", rest


def _redact_query(query: str) -> str:
    parts = []
    for part in re.split(r"([&;])", query):
        if part in {"&", ";"} or "=" not in part:
            parts.append(part)
            continue
        name, _, _value = part.partition("=")
        if _SECRET_PARAM.search(unquote(name)):
            parts.append(f"{name}={MASK}")
        else:
            parts.append(part)
    return "".join(parts)


def redact_url(url: str) -> str:
    """The URL with userinfo and secret-looking query values masked.

    ``rtsp://user:pass@host:554/x?token=t&ch=1`` -> ``rtsp://***@host:554/x?token=***&ch=1``.
    A plain file path comes back unchanged (apart from secret query parameters, if any).
    """
    m = _SCHEME.match(url)
    if m is None:
        head, rest = "", url
    else:
        head, rest = m.group("scheme"), m.group("rest")
        userinfo, rest = _split_authority(rest)
        if userinfo:
            head += MASK + "@"
    q = rest.find("?")
    if q == -1:
        return head + rest
    frag = rest.find("#", q)
    query = rest[q + 1 :] if frag == -1 else rest[q + 1 : frag]
    tail = "" if frag == -1 else rest[frag:]
    return head + rest[: q + 1] + _redact_query(query) + tail


def url_secrets(url: str) -> tuple[str, ...]:
    """The secret parts of a URL as they may appear in text: the whole URL, its userinfo,
    user name and password (raw and percent-decoded) and secret query values."""
    found: set[str] = set()
    m = _SCHEME.match(url)
    rest = url if m is None else m.group("rest")
    if m is not None:
        userinfo, _ = _split_authority(rest)
        if userinfo:
            found.add(url)
            found.add(userinfo)
            user, _, password = userinfo.partition(":")
            found.update({user, password, unquote(user), unquote(password), unquote(userinfo)})
    for qm in _TEXT_QUERY.finditer(url):
        if _SECRET_PARAM.search(unquote(qm.group("name"))) and qm.group("value"):
            found.add(url)
            found.update({qm.group("value"), unquote(qm.group("value"))})
    return tuple(sorted((s for s in found if s), key=len, reverse=True))


def redact_text(text: str, secrets: Iterable[str] = ()) -> str:
    """Scrub free text: every known secret (longest first) and any ``scheme://userinfo@`` or
    secret query value that looks like one is masked."""
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        text = text.replace(secret, MASK)
    text = _TEXT_USERINFO.sub(lambda m: m.group("scheme") + MASK + "@", text)

    def query(m: re.Match[str]) -> str:
        if _SECRET_PARAM.search(m.group("name")):
            return f"{m.group('sep')}{m.group('name')}={MASK}"
        return m.group(0)

    return _TEXT_QUERY.sub(query, text)
