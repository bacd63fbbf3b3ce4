"""Credentials never leave the source: URL and free-text redaction, table tests."""

from __future__ import annotations

import pytest

from citywatch.sources.redact import redact_text, redact_url, url_secrets


@pytest.mark.parametrize(
    ("url", "want"),
    [
        ("rtsp://user:pass@host/x", "rtsp://***@host/x"),
        (
            "rtsp://admin:Secr3t@10.0.0.5:554/Streaming/Channels/101",
            "rtsp://***@10.0.0.5:554/Streaming/Channels/101",
        ),
        ("rtsp://user@host/x", "rtsp://***@host/x"),
        ("RTSP://U:P@Host:8554", "RTSP://***@Host:8554"),
        ("rtsp://user:p%40ss@host/x", "rtsp://***@host/x"),
        # Passwords with delimiters that should have been escaped: mask more, never less.
        ("rtsp://admin:p@ss@host/x", "rtsp://***@host/x"),
        ("rtsp://admin:pa/ss@host/x", "rtsp://***@host/x"),
        ("rtsp://admin:pa?ss@host/x", "rtsp://***@host/x"),
        ("rtsp://admin:pa#ss@host:554/x", "rtsp://***@host:554/x"),
        ("rtsp://u:p@[fe80::1]:554/x", "rtsp://***@[fe80::1]:554/x"),
        # No credentials: unchanged.
        ("rtsp://host:554/x", "rtsp://host:554/x"),
        ("rtsp://host/x@y", "rtsp://host/x@y"),
        ("/srv/clips/gate 1.mp4", "/srv/clips/gate 1.mp4"),
        ("clips/a.mp4", "clips/a.mp4"),
        ("", ""),
        # Secret query parameters.
        ("http://[::1]:8080/x?token=abc&ch=1", "http://[::1]:8080/x?token=***&ch=1"),
        (
            "https://h/x?api_key=1&Password=2&user=bob#frag",
            "https://h/x?api_key=***&Password=***&user=bob#frag",
        ),
        ("http://h/snap.cgi?pwd=1;channel=2", "http://h/snap.cgi?pwd=***;channel=2"),
        (
            "http://h/x?client_secret=s&access_token=t",
            "http://h/x?client_secret=***&access_token=***",
        ),
        ("http://u:p@h/x?sig=abc", "http://***@h/x?sig=***"),
        ("http://h/x?flag", "http://h/x?flag"),
    ],
)
def test_redact_url(url: str, want: str) -> None:
    assert redact_url(url) == want


@pytest.mark.parametrize(
    ("text", "secrets", "want"),
    [
        (
            "Server returned 401 Unauthorized: 'rtsp://u:p@h:554/x'",
            (),
            "Server returned 401 Unauthorized: 'rtsp://***@h:554/x'",
        ),
        ("bad password hunter2 for admin", ("hunter2",), "bad password *** for admin"),
        ("GET http://h/x?token=abc&ch=1 failed", (), "GET http://h/x?token=***&ch=1 failed"),
        ("no secrets here", ("", "zzz"), "no secrets here"),
        # Longest secret first: the whole URL goes, not a half-masked one.
        ("open rtsp://a:b/c@h/x", ("rtsp://a:b/c@h/x", "b/c"), "open ***"),
    ],
)
def test_redact_text(text: str, secrets: tuple[str, ...], want: str) -> None:
    assert redact_text(text, secrets) == want


@pytest.mark.parametrize(
    ("url", "must_include"),
    [
        ("rtsp://admin:p%40ss@h/x", {"admin", "p%40ss", "p@ss", "rtsp://admin:p%40ss@h/x"}),
        ("rtsp://admin:pa/ss@h/x", {"admin", "pa/ss"}),
        ("http://h/x?token=t0k&ch=1", {"t0k"}),
    ],
)
def test_url_secrets(url: str, must_include: set[str]) -> None:
    found = set(url_secrets(url))
    assert must_include <= found
    assert "h" not in found


def test_url_secrets_of_a_plain_url_is_empty() -> None:
    assert url_secrets("rtsp://host:554/x?ch=1") == ()
    assert url_secrets("/srv/a.mp4") == ()


def test_text_with_decoded_password_is_scrubbed() -> None:
    url = "rtsp://admin:p%40ss%3Aw0rd@h/x"
    # FFmpeg may print the user name and the percent-decoded password.
    msg = "auth failed for admin with p@ss:w0rd at rtsp://admin:p%40ss%3Aw0rd@h/x"
    out = redact_text(msg, url_secrets(url))
    assert "p@ss:w0rd" not in out
    assert "p%40ss" not in out
    assert "admin" not in out
