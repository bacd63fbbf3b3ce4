"""Every `citywatch ...` line the docs show works as a newcomer types it.

Collected: each `citywatch` line of a code block in README.md and docs/*.md, and each
`Example:` of the CLI's help.  Each runs through the real app (`citywatch.cli.main:app`):
with `--help` appended (click parses every option before it answers), parsed in full without
running (types, required options, extra arguments), and, on the demo's data, end to end
unless `PARSE_ONLY` says why the suite cannot set it up.
"""

from __future__ import annotations

import re
import shlex
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from typer.core import TyperGroup
from typer.main import get_command
from typer.testing import CliRunner

from citywatch.cli.main import app
from tests.cli.conftest import REPO, DemoRun

DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
PIPED_INTO = {"jq", "head", "tail", "grep", "less", "sort", "wc"}
STDIN = "a long enough password for the docs\n"  # what `printf ... |` hands a command
SUBSTITUTED = "2026-11-30"  # what a `$(...)` in a line stands for (`date +%F`)
SECRET = "docs-" * 8  # what an environment value shown as `...` stands for

# Command paths run for their parse only, and why the suite cannot run them end to end.
PARSE_ONLY = {
    "serve": "serves until stopped (tests/cli/test_serve.py runs it in a process)",
    "run": "runs cameras until stopped (test_cli.py runs a config's clip)",
    "demo": "the session's demo run is this command (conftest.demo_run)",
    "db upgrade --database-url": "its example names a PostgreSQL server",
    "models prepare": "prepares the models the suite already uses",
    "eval": "labelled data of ../shared/data at full size (tests/eval runs slices)",
    "calibrate": "labelled data of ../shared/data at full size (tests/eval runs slices)",
    "train": "trains for an hour on ../shared/data's fonts (tests/training runs a few steps)",
    "report": "tests/cli/test_report.py runs it on a seeded month",
    "scan cctv-0412.mp4": "the Example's files are placeholders; the README's scan line runs",
    "alerts show 17": "an alert id of the reader's (the demo's own alerts: test_cli.py)",
    "alerts review 17": "an alert id of the reader's (the demo's own alerts: test_cli.py)",
    "cameras add": "an RTSP camera whose password is in the environment",
    "authorisations create": "dated 2026-11-26..12-03, over before the suite runs",
    "authorisations confirm": "confirms the urgent authorisation the example names",
    "authorisations refuse": "refuses the urgent authorisation the example names",
    "watchlists create": "needs the live authorisation the examples are dated for",
    "watchlists enrol": "needs that watchlist (enrolment: test_cli.py)",
    "watchlists remove": "needs that watchlist and subject",
    "users activate": "needs an account another administrator created",
    "users unlock": "needs a locked account",
    "users disable": "needs the account of someone who left",
    "tokens revoke": "revokes a token id of the reader's",
    "audit verify --expected-head": "a head published on an earlier day",
    "scan --camera": "the demo records nothing (tests/cli/test_scan_recorded.py scans recordings)",
    "recordings export": "the demo records nothing (tests/cli/test_recordings_export.py)",
    "plates vehicles": "a dated period that leaves the access window in time "
    "(tests/cli/test_vehicle_search_cli.py runs it)",
    "recordings verify": "needs an export (tests/cli/test_recordings_verify.py)",
    "recordings timeline": "the demo records nothing (tests/cli/test_recordings_export.py)",
}


@dataclass(frozen=True)
class Line:
    where: str  # README.md:48, or `citywatch users create --help`
    text: str  # as shown
    argv: tuple[str, ...]  # after `citywatch`
    env: dict[str, str] = field(default_factory=dict)
    stdin: str | None = None
    problem: str | None = None  # what a shell would make of it that the reader did not mean

    @property
    def parse_only(self) -> str | None:
        shown = " ".join(self.argv)
        for prefix, why in PARSE_ONLY.items():
            if shown == prefix or shown.startswith(prefix + " "):
                return why
        return None


def _line(where: str, text: str) -> Line:
    """The invocation a shell makes of ``text``: env assignments, piped input, argv."""
    bare = re.sub(r"\s+#(\s.*)?$", "", re.sub(r"\$\([^)]*\)", SUBSTITUTED, text))
    lex = shlex.shlex(bare, posix=True, punctuation_chars="|;&<>")
    lex.whitespace_split = True
    lex.commenters = ""
    segments: list[list[str]] = [[]]
    problem = None
    for word in lex:
        if word == "|":
            segments.append([])
        elif set(word) <= set(";&<>"):
            problem = f"{word!r}: one command a line"
        else:
            segments[-1].append(word)
    at = next(i for i, s in enumerate(segments) if "citywatch" in s)
    words = segments[at]
    start = words.index("citywatch")
    env = dict(w.split("=", 1) if "=" in w else (w, "") for w in words[:start])
    if not all(re.fullmatch(r"[A-Z_][A-Z0-9_]*", k) for k in env):
        problem = f"{words[:start]} before citywatch"
    for after in segments[at + 1 :]:
        if not after or after[0] not in PIPED_INTO:
            problem = f"pipes citywatch into {after[:1]}: not a command a reader has"
    argv = tuple(words[start + 1 :])
    stdin = STDIN if at > 0 or "--password-stdin" in argv else None  # piped, or typed
    return Line(where, text, argv, env, stdin, problem)


def documented_lines() -> list[Line]:
    found: list[Line] = []
    for doc in DOCS:
        fenced = False
        pending = ""
        for n, raw in enumerate(doc.read_text(encoding="utf-8").splitlines(), start=1):
            if raw.lstrip().startswith("```"):
                fenced = not fenced
                continue
            line = pending + raw.strip()
            if fenced and line.endswith("\\"):
                pending = line[:-1] + " "
                continue
            pending = ""
            if fenced and re.match(r"^([A-Z_]+=\S+\s+)*citywatch\s", line):
                found.append(_line(f"{doc.relative_to(REPO)}:{n}", line))
    return found


def _help_examples(command: object, path: tuple[str, ...]) -> list[Line]:
    text = re.sub(r"\[/?[a-z ]*\]", "", getattr(command, "help", None) or "")
    shown = f"`{' '.join(('citywatch', *path, '--help'))}`"
    examples = [
        " ".join(p.split()) for p in re.split(r"\n\s*\n", text) if re.match(r"\s*Example[^:]*:", p)
    ]
    return [_line(shown, e.split(":", 1)[1].strip()) for e in examples]


def example_lines() -> list[Line]:
    root = get_command(app)
    found = _help_examples(root, ())

    def walk(group: TyperGroup, path: tuple[str, ...]) -> None:
        for name, cmd in group.commands.items():
            if isinstance(cmd, TyperGroup):
                walk(cmd, (*path, name))
            else:
                lines = _help_examples(cmd, (*path, name))
                assert lines, f"`citywatch {' '.join((*path, name))} --help` shows no Example"
                found.extend(lines)

    assert isinstance(root, TyperGroup)
    walk(root, ())
    return found


LINES = documented_lines() + example_lines()


def test_the_lines_are_collected() -> None:
    docs = [x for x in LINES if not x.where.startswith("`")]
    assert len(docs) >= 10 and len(LINES) - len(docs) >= 40
    assert any(x.argv[:1] == ("serve",) and "-c" in x.argv for x in docs)  # README's first


def _full_parse(argv: tuple[str, ...]) -> None:
    """Parse as click does before running: every group, then the command's own parameters
    (types, required options, extra arguments); nothing is run."""
    cmd = get_command(app)
    ctx = cmd.make_context("citywatch", list(argv))
    while isinstance(cmd, TyperGroup):
        args = [*ctx._protected_args, *ctx.args]
        name, sub, rest = cmd.resolve_command(ctx, args)
        assert name is not None and sub is not None
        cmd, ctx = sub, sub.make_context(name, rest, parent=ctx)


@pytest.mark.parametrize("line", LINES, ids=lambda x: x.where)
def test_each_line_parses(line: Line) -> None:
    assert line.problem is None, f"{line.where}: {line.text}: {line.problem}"
    result = CliRunner().invoke(app, [*line.argv, "--help"], env=line.env)
    assert result.exit_code == 0, f"{line.where}: {line.text}\n{result.output}"
    try:
        _full_parse(line.argv)
    except Exception as err:  # click's usage errors
        pytest.fail(f"{line.where}: {line.text}: {type(err).__name__}: {err}")


@pytest.mark.integration
@pytest.mark.slow
def test_each_line_runs_on_the_demo_data(
    demo_run: DemoRun, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In a folder of the reader's: ./citywatch.yaml reaches the demo's data, and the files
    the lines name exist (a clip, a folder of loose photos, a plate list, a CSV)."""
    footage = demo_run.cwd / "var" / "demo" / "footage"
    shutil.copy(demo_run.config, tmp_path / "citywatch.yaml")
    shutil.copy(footage / "cam-entrance.mp4", tmp_path / "clip.mp4")  # the demo subject's
    (tmp_path / "photos").mkdir()
    shutil.copy(footage / "subject-a.png", tmp_path / "photos" / "subject-a.png")
    (tmp_path / "plates.txt").write_text("CW-123-X\n")
    (tmp_path / "stolen-2026-11.csv").write_text("BG 123-AB,reported stolen\nNS 456-CD\n")
    (tmp_path / "heads").mkdir()
    monkeypatch.chdir(tmp_path)
    runner = CliRunner(env={"COLUMNS": "250", "CITYWATCH_ACTOR": "reader"})
    ran: dict[str, str] = {}
    for line in LINES:
        if line.parse_only is not None or line.problem is not None:
            continue
        env = {k: SECRET if v == "..." else v for k, v in line.env.items()}
        result = runner.invoke(app, list(line.argv), input=line.stdin, env=env)
        assert result.exit_code == 0, f"{line.where}: {line.text}\n{result.output}"
        ran[" ".join(line.argv)] = result.stdout
    assert len(ran) >= 20, list(ran)
    # the README's scan: the loose photo photos/subject-a.png is a person named after its file
    scan = next(out for shown, out in ran.items() if shown.startswith("scan clip.mp4"))
    assert '"kind": "face"' in scan and '"subject": "subject-a"' in scan, scan


def test_every_parse_only_entry_names_a_documented_line() -> None:
    shown = [" ".join(x.argv) for x in LINES]
    for prefix in PARSE_ONLY:
        assert any(s == prefix or s.startswith(prefix + " ") for s in shown), prefix


def test_the_example_config_quotes_the_readme_figures() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    example = (REPO / "citywatch.example.yaml").read_text(encoding="utf-8")
    comments = " ".join(line.split("#", 1)[1] for line in example.splitlines() if "#" in line)
    figures = re.findall(r"\b0\.\d{2,3}\b", comments)
    assert figures and [f for f in figures if f not in readme] == []
