"""The layer rule of docs/architecture.md: a layer imports the layers above it in the table,
and below it only the imports the page lists."""

from __future__ import annotations

import ast
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SRC = REPO / "src" / "citywatch"
DOC = (REPO / "docs" / "architecture.md").read_text(encoding="utf-8")

# (importing file, imported layer): the exceptions the page names
ALLOWED_BELOW = {
    ("sources/pyav.py", "vision"),
    ("sources/picture.py", "vision"),
    ("sources/recorder.py", "vision"),
    ("sources/mainstream.py", "vision"),
    ("config/retention.py", "policy"),
    ("engine/platform.py", "eval"),
    ("services/register_card.py", "eval"),
    ("eval/soak.py", "demo"),
}
OUTSIDE = {"files"}  # modules of no layer (citywatch/files.py)


def _layers() -> list[str]:
    return re.findall(r"^\| (\w+) \| `\1/` \|", DOC, flags=re.M)


def _imports(path: Path) -> set[str]:
    layers: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names = []
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        layers |= {n.split(".")[1] for n in names if n.startswith("citywatch.")}
    return layers


def test_the_page_lists_every_layer_folder() -> None:
    folders = {p.name for p in SRC.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert set(_layers()) == folders - {"__pycache__"}


def test_each_layer_imports_only_those_above_it_and_the_listed_exceptions() -> None:
    order = _layers()
    below = set()
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC)
        if len(rel.parts) < 2:
            continue
        layer = rel.parts[0]
        for target in _imports(path) - OUTSIDE:
            if order.index(target) > order.index(layer):
                below.add((rel.as_posix(), target))
    assert below - ALLOWED_BELOW == set(), "imports below their layer that the page does not name"
    assert ALLOWED_BELOW - below == set(), "exceptions the page names that the code no longer has"
    for file, _layer in ALLOWED_BELOW:
        assert f"`{file}`" in DOC, file
