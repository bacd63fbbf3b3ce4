"""Edits of a config file that keep what its author wrote: comments, key order, quoting and
indentation (ruamel.yaml round trip).  Text in, text out; the caller validates and writes."""

from __future__ import annotations

import io
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq

# (mapping, sequence, offset) indents tried on the file as it is; the one that writes it back
# unchanged is used for the edit.  The first is the layout of citywatch.example.yaml.
INDENTS = ((2, 4, 2), (2, 2, 0), (4, 4, 2), (4, 6, 4), (4, 4, 0), (2, 3, 1))


class ConfigEditError(ValueError):
    """The file cannot be edited as YAML; the message says why."""


def _yaml(indent: tuple[int, int, int]) -> YAML:
    y = YAML(typ="rt")
    y.preserve_quotes = True
    y.width = 4096  # never re-wrap a long line of the author's
    mapping, sequence, offset = indent
    y.indent(mapping=mapping, sequence=sequence, offset=offset)
    return y


def _dump(y: YAML, doc: Any) -> str:
    out = io.StringIO()
    y.dump(doc, out)
    return out.getvalue()


def _indent_of(text: str, doc: Any) -> tuple[int, int, int]:
    """The indentation the file is written with (the candidate that reproduces most lines)."""
    lines = text.splitlines()
    best, best_same = INDENTS[0], -1
    for indent in INDENTS:
        written = _dump(_yaml(indent), doc).splitlines()
        if written == lines:
            return indent
        same = sum(a == b for a, b in zip(written, lines, strict=False))
        if same > best_same:
            best, best_same = indent, same
    return best


def _styled(entry: dict[str, Any]) -> CommentedMap:
    """A camera entry as a reader writes it: short lists and the location inline."""
    out = CommentedMap()
    for key, value in entry.items():
        if isinstance(value, dict):
            value = CommentedMap(value)
            value.fa.set_flow_style()
        elif isinstance(value, list):
            value = CommentedSeq(value)
            value.fa.set_flow_style()
        out[key] = value
    return out


def with_camera(text: str, entry: dict[str, Any]) -> str:
    """``text`` with the camera ``entry`` in its ``cameras`` list: in place of the camera of the
    same id, else at the end; everything else as it was written."""
    try:
        doc = _yaml(INDENTS[0]).load(text) if text.strip() else None
    except Exception as err:  # ruamel raises several unrelated error types
        raise ConfigEditError(f"not valid YAML: {err}") from None
    if doc is None:  # empty, or comments only: they stay on top
        head = text if not text or text.endswith("\n") else text + "\n"
        return head + with_camera("cameras: []\n", entry)
    y = _yaml(_indent_of(text, doc))
    if not isinstance(doc, CommentedMap):
        raise ConfigEditError(f"the top level must be a mapping, got {type(doc).__name__}")
    cameras = doc.get("cameras")
    if cameras is None:
        cameras = doc["cameras"] = CommentedSeq()
    if not isinstance(cameras, CommentedSeq):
        raise ConfigEditError(f"cameras must be a list, got {type(cameras).__name__}")
    new = _styled(entry)
    for i, cam in enumerate(cameras):
        if isinstance(cam, dict) and cam.get("id") == entry["id"]:
            cameras[i] = new
            break
    else:
        cameras.append(new)
    return _dump(y, doc)
