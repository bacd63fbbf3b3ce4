"""What every CLI command needs: the config, a database session, the media store, the actor.

Built once per invocation from the global options and passed to the commands; nothing is
stored at module level.
"""

from __future__ import annotations

import getpass
import os
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from sqlalchemy.orm import Session, sessionmaker

from citywatch.audit.chain import Actor
from citywatch.config.root import CitywatchConfig, ConfigError, load_config
from citywatch.store.db import make_engine, make_session_factory, upgrade_database
from citywatch.store.media import MediaStore

DEFAULT_CONFIG = Path("citywatch.yaml")
ENV_DATABASE = "CITYWATCH_DATABASE_URL"
ENV_ACTOR = "CITYWATCH_ACTOR"
ENV_ROLE = "CITYWATCH_ROLE"


@dataclass
class CliContext:
    config_path: Path | None
    database_url: str | None = None
    out: Console = field(default_factory=Console)
    err: Console = field(default_factory=lambda: Console(stderr=True, soft_wrap=True))
    _config: CitywatchConfig | None = None
    _sessions: sessionmaker[Session] | None = None

    def config(self) -> CitywatchConfig:
        if self._config is None:
            path = self.config_path
            if path is None and DEFAULT_CONFIG.is_file():
                path = DEFAULT_CONFIG
            try:
                cfg = load_config(path) if path is not None else CitywatchConfig()
            except ConfigError as err:
                self.fail(str(err))
            url = self.database_url or os.environ.get(ENV_DATABASE)
            if url:
                cfg.store.database_url = url
            self._config = cfg
        return self._config

    def use_config(self, cfg: CitywatchConfig) -> None:
        self._config = cfg
        self._sessions = None

    def sessions(self, *, upgrade: bool = True) -> sessionmaker[Session]:
        """A session factory on the configured database, migrated to the current schema."""
        if self._sessions is None:
            url = self.config().store.database_url
            try:
                if upgrade:
                    upgrade_database(url)
                self._sessions = make_session_factory(make_engine(url))
            except Exception as err:  # DatabaseError already redacts the password
                self.fail(f"database: {err}")
        return self._sessions

    def media(self) -> MediaStore:
        return MediaStore(self.config().store.media_dir)

    def actor(self) -> Actor:
        """The person at the keyboard: $CITYWATCH_ACTOR or the OS user, with $CITYWATCH_ROLE."""
        name = os.environ.get(ENV_ACTOR) or f"cli:{getpass.getuser()}"
        return Actor(name=name, role=os.environ.get(ENV_ROLE, "admin"))

    def fail(self, message: str, code: int = 2) -> NoReturn:
        self.err.print(f"[bold red]error:[/] {escape(message)}", highlight=False)
        raise typer.Exit(code)


def ctx_of(ctx: typer.Context) -> CliContext:
    """The :class:`CliContext` the root command made, from any sub-command."""
    obj = ctx.find_root().obj
    assert isinstance(obj, CliContext)
    return obj


def dataclass_table(title: str, rows: Sequence[object]) -> Table:
    """A table with one column per dataclass field of the rows."""
    table = Table(title=title)
    if rows:
        cols = [f.name for f in fields(rows[0])]  # type: ignore[arg-type]
        for col in cols:
            table.add_column(col.replace("_", " "))
        for r in rows:
            table.add_row(*(str(getattr(r, col)) for col in cols))
    return table
