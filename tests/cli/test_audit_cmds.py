"""`citywatch audit verify | export | verify-bundle | head` end to end, on the SQLite file of a
temporary config."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import create_engine, text
from typer.testing import CliRunner

from citywatch.audit.chain import Actor, append
from citywatch.cli.main import app
from citywatch.store.db import make_engine, make_session_factory, upgrade_database

SECRET = "s3cr3t-" * 6


@pytest.fixture
def db_url(cli_config: Path) -> str:
    url = str(yaml.safe_load(cli_config.read_text())["store"]["database_url"])
    upgrade_database(url)
    factory = make_session_factory(make_engine(url))
    with factory() as s:
        for i in range(5):
            append(s, Actor("bob", "operator"), "alert.view", f"alert:{i}")
        s.commit()
    return url


@pytest.fixture
def cli(cli_config: Path, db_url: str) -> Any:
    runner = CliRunner(env={"COLUMNS": "250", "CITYWATCH_AUDIT_KEY": SECRET})

    def invoke(*args: str, env: dict[str, str] | None = None) -> Any:
        return runner.invoke(app, ["-c", str(cli_config), *args], env=env)

    return invoke


def sql(url: str, statement: str) -> None:
    eng = create_engine(url)
    with eng.begin() as conn:
        conn.execute(text(statement))
    eng.dispose()


def test_verify_names_an_entry_edited_in_the_database(cli: Any, db_url: str) -> None:
    assert cli("audit", "verify").exit_code == 0
    sql(db_url, "UPDATE audit_log SET target = 'alert:99' WHERE seq = 2")
    result = cli("audit", "verify")
    assert result.exit_code == 1
    assert "entry 2" in result.output and "row edited" in result.output


def test_export_and_verify_bundle_round_trip(cli: Any, tmp_path: Path) -> None:
    out = tmp_path / "audit-2026-11.jsonl"
    result = cli("audit", "export", "--from", "2000-01-01", "--to", "2100-01-01", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert "exported 5 entries (seq 1..5)" in result.output and SECRET not in result.output
    ok = cli("audit", "verify-bundle", str(out))
    assert ok.exit_code == 0, ok.output
    assert "bundle verified" in ok.output and "5 entries" in ok.output
    rows = out.read_text().splitlines()
    entry = json.loads(rows[3])
    entry["actor"] = "mallory"
    rows[3] = json.dumps(entry)
    out.write_text("\n".join(rows) + "\n")
    bad = cli("audit", "verify-bundle", str(out))
    assert bad.exit_code == 1 and "entry 3 (line 4)" in bad.output
    wrong_key = cli("audit", "verify-bundle", str(out), env={"CITYWATCH_AUDIT_KEY": "k" * 40})
    assert wrong_key.exit_code == 1


def test_export_needs_a_key_and_a_sane_period(cli: Any, tmp_path: Path) -> None:
    out = tmp_path / "b.jsonl"
    args = ("audit", "export", "--from", "2000-01-01", "--to", "2100-01-01", "--out", str(out))
    no_key = cli(*args, env={"CITYWATCH_AUDIT_KEY": ""})
    assert no_key.exit_code == 2 and "no audit key" in no_key.output and not out.exists()
    short = cli(*args, env={"CITYWATCH_AUDIT_KEY": "abc"})
    assert short.exit_code == 2 and "at least 32" in short.output and "abc" not in short.output
    backwards = cli(
        "audit", "export", "--from", "2100-01-01", "--to", "2000-01-01", "--out", str(out)
    )
    assert backwards.exit_code == 2 and "after" in backwards.output


def test_head_then_truncation_is_detected(cli: Any, db_url: str, tmp_path: Path) -> None:
    head_file = tmp_path / "heads" / "h.json"
    published = cli("audit", "head", "--out", str(head_file))
    assert published.exit_code == 0, published.output
    doc = json.loads(published.output)
    assert doc["seq"] == 5 and json.loads(head_file.read_text()) == doc
    assert cli("audit", "verify", "--expected-head", str(head_file)).exit_code == 0
    sql(db_url, "DELETE FROM audit_log WHERE seq >= 4")
    assert cli("audit", "verify").exit_code == 0  # the chain alone cannot tell
    cut = cli("audit", "verify", "--expected-head", str(head_file))
    assert cut.exit_code == 1 and "entry 4" in cut.output and "cut off" in cut.output


def test_a_forged_head_file_is_refused(cli: Any, tmp_path: Path) -> None:
    head_file = tmp_path / "h.json"
    assert cli("audit", "head", "--out", str(head_file)).exit_code == 0
    doc = json.loads(head_file.read_text())
    doc["seq"] = 2
    head_file.write_text(json.dumps(doc))
    result = cli("audit", "verify", "--expected-head", str(head_file))
    assert result.exit_code == 2 and "signature does not verify" in result.output


def test_key_from_a_file(cli: Any, tmp_path: Path) -> None:
    key = tmp_path / "audit.key"
    key.write_text("f" * 64 + "\n")
    out = tmp_path / "b.jsonl"
    made = cli(
        "audit",
        "export",
        "--from",
        "2000-01-01",
        "--to",
        "2100-01-01",
        "--out",
        str(out),
        "--key-file",
        str(key),
    )
    assert made.exit_code == 0, made.output
    assert cli("audit", "verify-bundle", str(out), "--key-file", str(key)).exit_code == 0
    assert cli("audit", "verify-bundle", str(out)).exit_code == 1  # the env key differs
