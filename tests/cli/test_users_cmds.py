"""`citywatch users activate` and `users unlock` (issue 16 items 2 and 4), audited."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from citywatch.audit import chain
from citywatch.audit.chain import Actor
from citywatch.cli.main import app
from citywatch.services import login_limits, users
from citywatch.services.login_limits import LoginLimits
from citywatch.store.db import make_engine, make_session_factory

PW = "a long enough password"


@pytest.fixture
def cli(cli_config: Path):
    runner = CliRunner(env={"COLUMNS": "250", "CITYWATCH_ACTOR": "tester"})

    def invoke(*args: str, input: str | None = None):
        return runner.invoke(app, ["-c", str(cli_config), *args], input=input)

    return invoke


@pytest.fixture
def sessions(cli, cli_config: Path):
    assert cli("users", "list").exit_code == 0  # migrates the database
    url = yaml.safe_load(cli_config.read_text())["store"]["database_url"]
    engine = make_engine(url)
    yield make_session_factory(engine)
    engine.dispose()


def test_users_create_is_active_and_activate_works(cli, sessions) -> None:
    r = cli("users", "create", "ivan", "--role", "investigator", "--password-stdin", input=PW)
    assert r.exit_code == 0, r.output
    with sessions() as s:
        assert users.get_user_by_name(s, "ivan").pending_activation is False
        waiting = users.create_user(s, Actor("anna", "admin"), "sven", "supervisor", PW)
    assert "awaiting activation" in cli("users", "list").output
    r = cli("users", "activate", "SVEN", "--reason", "ticket 9")
    assert r.exit_code == 0 and "activated" in r.output
    assert cli("users", "activate", "sven").exit_code == 2  # nothing left to activate
    with sessions() as s:
        assert users.get_user(s, waiting.id).activated_by == "tester"
        entry = [e for e in chain.entries(s) if e.action == "user.activate"][-1]
        assert entry.actor == "tester" and entry.reason == "ticket 9"


def test_users_unlock_clears_a_user_and_an_address(cli, sessions) -> None:
    cli("users", "create", "olga", "--role", "operator", "--password-stdin", input=PW)
    limits = LoginLimits(per_account=1, per_address=1)
    with sessions() as s:
        with pytest.raises(users.AuthError):
            users.authenticate(s, "olga", "wrong wrong wrong", limits=limits, client="10.0.0.1")
        with pytest.raises(users.LockedOut):
            users.authenticate(s, "olga", PW, limits=limits, client="10.0.0.1")
    assert cli("users", "unlock").exit_code == 2  # nothing named
    r = cli("users", "unlock", "olga", "--reason", "called the desk")
    assert r.exit_code == 0 and "1 sign-in counter" in r.output
    # The address counter still refuses every name.
    with sessions() as s, pytest.raises(users.LockedOut):
        users.authenticate(s, "olga", PW, limits=limits, client="10.0.0.1")
    assert cli("users", "unlock", "--address", "10.0.0.1").exit_code == 0
    with sessions() as s:
        assert users.authenticate(s, "olga", PW, limits=limits, client="10.0.0.1").name == "olga"
        unlocks = [e for e in chain.entries(s) if e.action == "auth.unlock"]
        assert [e.target for e in unlocks] == ["user:1", "address:10.0.0.1"]
        assert login_limits.blocks(s) == []
