"""``citywatch serve`` (the API and console beside the cameras) and the ``users`` / ``tokens``
commands that manage who may use them."""

from __future__ import annotations

import ipaddress
import os
import signal
import sys
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from citywatch.cli.context import CliContext, ctx_of
from citywatch.services.common import ServiceError

if TYPE_CHECKING:
    from citywatch.alerts.dispatcher import Dispatcher
    from citywatch.api.hub import EventHub
    from citywatch.api.settings import ApiSettings
    from citywatch.audit.keys import AuditKey
    from citywatch.engine.local import LocalEngine

users_app = typer.Typer(help="People who sign in to the console.", no_args_is_help=True)
tokens_app = typer.Typer(help="API tokens for integrations.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
    app.add_typer(users_app, name="users")
    app.add_typer(tokens_app, name="tokens")


# ----------------------------------------------------------------------------- serve


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name: assume it is reachable from elsewhere


def bind_warning(host: str, *, tls: bool, trusted_proxy: str | None) -> str | None:
    """What to say when the server is reachable from the network without TLS in front."""
    if is_loopback(host) or tls or trusted_proxy:
        return None
    return (
        f"serving on {host} without TLS: passwords and session cookies cross the network in "
        "clear text. Use --tls-cert/--tls-key, or put a TLS proxy in front (--trusted-proxy)."
    )


@dataclass
class _Platform:
    """What runs beside the server: the cameras (when configured), their alert dispatcher, the
    face embedder for enrolment uploads."""

    embed_faces: Any
    engine: LocalEngine | None = None
    dispatcher: Dispatcher | None = None
    housekeeping: Any = None  # the retention and authorisation-lifecycle scheduler
    listener: Any = None  # alerts stored by cameras in other processes, for the live hub

    def health(self) -> dict[str, Any]:
        return self.engine.snapshot() if self.engine is not None else {}

    def stop(self) -> None:
        if self.listener is not None:
            self.listener.stop()
        if self.housekeeping is not None:
            self.housekeeping.stop()
        if self.engine is not None:
            self.engine.stop()
        if self.dispatcher is not None:
            self.dispatcher.close()


def _start_platform(c: CliContext, hub: EventHub, *, cameras: bool) -> _Platform:
    """Start the configured cameras; their alerts go to the configured sinks and to the hub.

    Models load lazily: a server without face cameras loads the face models only when a
    photo is enrolled."""
    from citywatch.engine.assemble import Models
    from citywatch.engine.platform import Platform, make_embed_faces, start_notes

    cfg = c.config()
    if not (cameras and cfg.cameras and cfg.engine.kind == "local"):
        from citywatch.engine.platform import start_housekeeping
        from citywatch.store.media import MediaStore

        if cameras and cfg.cameras:
            c.out.print(
                "cameras run on the Ray cluster (citywatch run --engine ray); "
                "their alerts reach this console through the database"
            )
        housekeeping = start_housekeeping(cfg, c.sessions(), MediaStore(cfg.store.media_dir))
        return _Platform(
            make_embed_faces(Models(cfg), cfg),
            housekeeping=housekeeping,
            listener=_listen_for_alerts(c, hub),
        )
    try:
        platform = Platform.create(cfg, c.sessions(), c.actor(), c.err, extra_sinks=[hub])
    except ValueError as err:  # a broken model card or a refused face threshold
        c.fail(str(err))
    embed = make_embed_faces(platform.models, cfg)
    starts = platform.register_cameras()
    engine = platform.build_engine()
    for s in starts:
        if s.error:
            c.err.print(f"[yellow]camera {s.camera.id}:[/] {s.error}", highlight=False)
    for note in start_notes(cfg, starts):
        c.err.print(f"[yellow]note:[/] {note}", highlight=False)
    engine.start()
    c.out.print(f"[green]{len(engine.runs)} camera(s) running[/]")
    return _Platform(embed, engine, platform.dispatcher, platform.start_housekeeping())


def _listen_for_alerts(c: CliContext, hub: EventHub) -> Any:
    """Alerts that cameras in other processes store (``citywatch run``, local or on Ray) reach
    the live hub: LISTEN/NOTIFY on PostgreSQL, polling on SQLite; each alert once."""
    from citywatch.engine.fanout import AlertListener

    channel = c.config().engine.ray.alert_channel
    return AlertListener.on(c.sessions(), hub.publish, channel=channel).start()


def _export_key(c: CliContext) -> AuditKey | None:
    """The audit key that signs evidence exports, when one is set in the environment (the
    export route answers 503 without one); a broken key is an error at start."""
    from citywatch.audit.keys import ENV_AUDIT_KEY, ENV_AUDIT_KEY_FILE, AuditKeyError, load_key

    if not (os.environ.get(ENV_AUDIT_KEY_FILE) or os.environ.get(ENV_AUDIT_KEY, "").strip()):
        return None
    try:
        return load_key()
    except AuditKeyError as err:
        c.fail(str(err))


def _settings(
    *, tls: bool, trusted_proxy: str | None, map_tiles: str | None, api_docs: bool
) -> ApiSettings:
    from citywatch.api.settings import ApiSettings

    # Behind a TLS proxy the browser talks https, so the cookie must be Secure as well.
    return ApiSettings(
        secure_cookies=tls or trusted_proxy is not None,
        trusted_proxy=trusted_proxy,
        map_tile_url=map_tiles,
        api_docs=api_docs,
    )


def serve(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="Address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="TCP port")] = 8080,
    tls_cert: Annotated[Path | None, typer.Option(help="TLS certificate (PEM)")] = None,
    tls_key: Annotated[Path | None, typer.Option(help="TLS private key (PEM)")] = None,
    trusted_proxy: Annotated[
        str | None,
        typer.Option(help="Address of a TLS-terminating proxy whose X-Forwarded-* to trust"),
    ] = None,
    cameras: Annotated[
        bool, typer.Option(help="Run the configured cameras in this process too")
    ] = True,
    map_tiles: Annotated[
        str | None,
        typer.Option(help="Map tile URL for the console, e.g. https://t/{z}/{x}/{y}.png"),
    ] = None,
    api_docs: Annotated[
        bool, typer.Option(help="Serve Swagger UI at /api/v1/docs (loads it from a CDN)")
    ] = False,
) -> None:
    """Serve the REST API and the operator console, with the cameras running beside them.

    Example: citywatch serve -c citywatch.yaml --host 127.0.0.1 --port 8080
    """
    import uvicorn

    from citywatch.api.app import create_app
    from citywatch.api.hub import EventHub

    c = ctx_of(ctx)
    if (tls_cert is None) != (tls_key is None):
        c.fail("--tls-cert and --tls-key go together")
    for path in (tls_cert, tls_key):
        if path is not None and not path.is_file():
            c.fail(f"TLS file not found: {path}")
    tls = tls_cert is not None
    warning = bind_warning(host, tls=tls, trusted_proxy=trusted_proxy)
    if warning:
        c.err.print(f"[bold yellow]warning:[/] {warning}", highlight=False)
    try:
        settings = _settings(
            tls=tls, trusted_proxy=trusted_proxy, map_tiles=map_tiles, api_docs=api_docs
        )
    except ValueError as err:
        c.fail(str(err))
    hub = EventHub()
    sessions = c.sessions()
    running = _Platform(embed_faces=None)
    # uvicorn stops gracefully on SIGINT/SIGTERM and then raises the signal again with the
    # handler it found: ours ends `serve` through the `finally` below (cameras stopped, queued
    # alerts delivered) instead of killing the process.
    previous = {sig: signal.signal(sig, _stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        running = _start_platform(c, hub, cameras=cameras)
        health = running.health if running.engine is not None else _health_files(c)
        app = create_app(
            c.config(),
            sessions,
            hub=hub,
            health=health,
            settings=settings,
            dispatcher=running.dispatcher,
            embed_faces=running.embed_faces,
            snapshots=running.engine.latest_jpeg if running.engine is not None else None,
            export_key=_export_key(c),
        )
        scheme = "https" if tls else "http"
        shown = f"[{host}]" if ":" in host else host
        c.out.print(f"console: {scheme}://{shown}:{port}/  API: {scheme}://{shown}:{port}/api/v1")
        config = uvicorn.Config(
            app,
            host=host,
            port=port,
            ssl_certfile=str(tls_cert) if tls_cert else None,
            ssl_keyfile=str(tls_key) if tls_key else None,
            proxy_headers=trusted_proxy is not None,
            forwarded_allow_ips=trusted_proxy or "",
            server_header=False,
            access_log=False,  # query strings hold searched plates: personal data
            log_config=None,  # keep the CLI's logging setup
        )
        uvicorn.Server(config).run()
    except _Stopped:
        pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        running.stop()
        hub.close()
    c.out.print("stopped")


class _Stopped(Exception):
    """A stop signal arrived."""


def _stop(signum: int, frame: FrameType | None) -> None:
    raise _Stopped


def _health_files(c: CliContext) -> Any:
    """Camera health written by a `citywatch run` elsewhere on this machine."""
    from citywatch.engine.local import read_health

    state_dir = c.config().store.state_dir

    def health() -> dict[str, Any]:
        return read_health(state_dir)

    return health


# ----------------------------------------------------------------------------- users


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        line = sys.stdin.readline()
        return line.rstrip("\r\n")
    password: str = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    return password


@users_app.command("create")
def users_create(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Sign-in name")],
    role: Annotated[str, typer.Option(help="admin, operator, investigator, auditor or supervisor")],
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input")
    ] = False,
) -> None:
    """Create a console user (the password is stored as an Argon2id hash only).  On the
    server the account is active at once, whatever its role (audited).

    Example: printf '%s\\n' "$OPERATOR_PW" | citywatch users create olga --role operator
    --password-stdin
    """
    from citywatch.services import users

    c = ctx_of(ctx)
    password = _read_password(password_stdin)
    try:
        with c.sessions()() as session:
            u = users.create_user(session, c.actor(), name, role, password, on_server=True)
    except ServiceError as err:
        c.fail(str(err))
    c.out.print(f"user {u.name!r} created (id {u.id}, role {u.role})")


@users_app.command("list")
def users_list(
    ctx: typer.Context,
    role: Annotated[str | None, typer.Option(help="Only this role")] = None,
) -> None:
    """Users, their roles and whether they are disabled or locked (the listing is audited).

    Example: citywatch users list --role operator
    """
    from citywatch.services import users

    c = ctx_of(ctx)
    try:
        with c.sessions()() as session:
            rows = users.list_users(session, c.actor(), role=role, limit=users.MAX_LIST)
    except ServiceError as err:
        c.fail(str(err))
    table = Table(title="users")
    for col in ("id", "name", "role", "state", "locked until", "created", "by"):
        table.add_column(col)
    for u in rows:
        locked = u.locked_until.isoformat(timespec="seconds") if u.locked_until else ""
        created = u.created_at.isoformat(timespec="seconds")
        state = "disabled" if u.disabled else "awaiting activation" if u.pending_activation else ""
        by = u.created_by or ""
        table.add_row(str(u.id), u.name, u.role, state, locked, created, by)
    c.out.print(table)


def _user_id(session: Any, user: str) -> int:
    from citywatch.services import users

    return int(user) if user.isdigit() else users.get_user_by_name(session, user).id


@users_app.command("activate")
def users_activate(
    ctx: typer.Context,
    user: Annotated[str, typer.Argument(help="User name or id")],
    reason: Annotated[str, typer.Option(help="Why (kept in the audit log)")] = "",
) -> None:
    """Activate an account that waits for a second administrator (audited).

    Example: citywatch users activate ivan --reason 'new investigator, ticket 4411'
    """
    from citywatch.services import users

    c = ctx_of(ctx)
    try:
        with c.sessions()() as session:
            u = users.activate_user(
                session, c.actor(), _user_id(session, user), reason=reason, on_server=True
            )
    except ServiceError as err:
        c.fail(str(err))
    c.out.print(f"user {u.name!r} activated")


@users_app.command("unlock")
def users_unlock(
    ctx: typer.Context,
    user: Annotated[str | None, typer.Argument(help="User name or id")] = None,
    address: Annotated[
        str | None, typer.Option(help="A client address to let sign in again (every name)")
    ] = None,
    reason: Annotated[str, typer.Option(help="Why (kept in the audit log)")] = "",
) -> None:
    """Let a user (from every address) or an address sign in again before its block ends.

    Example: citywatch users unlock olga --reason 'forgot her password, reset by phone'
    """
    from citywatch.services import login_limits

    c = ctx_of(ctx)
    if user is None and address is None:
        c.fail("name a user, or an --address, to unlock")
    try:
        with c.sessions()() as session:
            user_id = _user_id(session, user) if user is not None else None
            n = login_limits.unlock(
                session, c.actor(), user_id=user_id, address=address, reason=reason
            )
    except ServiceError as err:
        c.fail(str(err))
    c.out.print(f"unlocked ({n} sign-in counter(s) cleared)")


@users_app.command("disable")
def users_disable(
    ctx: typer.Context,
    user: Annotated[str, typer.Argument(help="User name or id")],
    reason: Annotated[str, typer.Option(help="Why (kept in the audit log)")] = "",
) -> None:
    """Disable a user at once and end their sessions.

    Example: citywatch users disable olga --reason 'left the control room'
    """
    from citywatch.services import users

    c = ctx_of(ctx)
    try:
        with c.sessions()() as session:
            u = users.disable_user(session, c.actor(), _user_id(session, user), reason=reason)
    except ServiceError as err:
        c.fail(str(err))
    c.out.print(f"user {u.name!r} disabled")


# ----------------------------------------------------------------------------- tokens


@tokens_app.command("create")
def tokens_create(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="What the token is for, e.g. prometheus")],
    role: Annotated[
        str, typer.Option(help="admin, operator, investigator, auditor, supervisor or scraper")
    ],
    expires_days: Annotated[int, typer.Option(help="Days until it expires (1-365)")],
) -> None:
    """Create an API token; its secret is printed once and cannot be shown again.  On the
    server any role may be issued (through the API only roles that may do no more than their
    issuer).

    Example: citywatch tokens create prometheus --role scraper --expires-days 90
    """
    from citywatch.services import tokens

    c = ctx_of(ctx)
    try:
        with c.sessions()() as session:
            new = tokens.create_token(
                session, c.actor(), name, role, expires_days=expires_days, on_server=True
            )
    except ServiceError as err:
        c.fail(str(err))
    expires = new.info.expires_at.isoformat(timespec="seconds")
    c.err.print(
        f"token {new.info.name!r} (id {new.info.id}, role {new.info.role}) expires {expires}; "
        "store the secret below now, it is not shown again:",
        highlight=False,
    )
    typer.echo(new.secret)  # alone on stdout, so scripts can capture it


@tokens_app.command("list")
def tokens_list(
    ctx: typer.Context,
    active: Annotated[
        bool | None, typer.Option("--active/--inactive", help="Only live or only dead tokens")
    ] = None,
) -> None:
    """API tokens with role, expiry and revocation (never their secrets).

    Example: citywatch tokens list --active
    """
    from citywatch.services import tokens, users

    c = ctx_of(ctx)
    with c.sessions()() as session:
        rows = tokens.list_tokens(session, c.actor(), active=active, limit=users.MAX_LIST)
    table = Table(title="API tokens")
    for col in ("id", "name", "role", "expires", "revoked", "created by"):
        table.add_column(col)
    for t in rows:
        revoked = t.revoked_at.isoformat(timespec="seconds") if t.revoked_at else ""
        expires = t.expires_at.isoformat(timespec="seconds")
        table.add_row(str(t.id), t.name, t.role, expires, revoked, t.created_by)
    c.out.print(table)


@tokens_app.command("revoke")
def tokens_revoke(
    ctx: typer.Context,
    token_id: Annotated[int, typer.Argument(help="Token id (see tokens list)")],
    reason: Annotated[str, typer.Option(help="Why (kept in the audit log)")] = "",
) -> None:
    """Revoke an API token at once.

    Example: citywatch tokens revoke 3 --reason 'rotated'
    """
    from citywatch.services import tokens

    c = ctx_of(ctx)
    try:
        with c.sessions()() as session:
            t = tokens.revoke_token(session, c.actor(), token_id, reason=reason)
    except ServiceError as err:
        c.fail(str(err))
    c.out.print(f"token {t.name!r} revoked")
