"""Accountability: access requests for old plate reads; the supervisor role.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_OLD_USER_ROLES = "'admin', 'operator', 'investigator', 'auditor'"
_NEW_USER_ROLES = "'admin', 'operator', 'investigator', 'auditor', 'supervisor'"


def _roles(table: str, roles: str) -> None:
    """Replace ``table``'s role check (batch mode: SQLite rebuilds the table).

    SQLite drops the old ``users`` table while rebuilding it, and with foreign keys on that
    cascades to ``sessions``: the sessions are kept aside and put back, so nobody is signed out.
    """
    sqlite = op.get_bind().dialect.name == "sqlite"
    if sqlite and table == "users":
        op.execute(sa.text("CREATE TEMP TABLE _cw_keep_sessions AS SELECT * FROM sessions"))
    with op.batch_alter_table(table) as batch:
        batch.drop_constraint(op.f(f"ck_{table}_role"), type_="check")
        batch.create_check_constraint("role", sa.text(f"role IN ({roles})"))
    if sqlite and table == "users":
        op.execute(
            sa.text(
                "INSERT INTO sessions SELECT * FROM _cw_keep_sessions "
                "WHERE user_id IN (SELECT id FROM users)"
            )
        )
        op.execute(sa.text("DROP TABLE _cw_keep_sessions"))


def upgrade() -> None:
    op.create_table(
        "access_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_ref", sa.String(length=200), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("reads_from", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reads_until", sa.DateTime(timezone=True), nullable=False),
        sa.Column("requested_by", sa.String(length=200), nullable=False),
        sa.Column("requested_role", sa.String(length=50), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("decided_by", sa.String(length=200), nullable=True),
        sa.Column("decided_role", sa.String(length=50), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decision_reason", sa.Text(), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('pending', 'approved', 'denied')",
            name=op.f("ck_access_requests_status"),
        ),
        sa.CheckConstraint("reads_until > reads_from", name=op.f("ck_access_requests_period")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_access_requests")),
    )
    op.create_index(
        "ix_access_requests_requested_by_case_ref",
        "access_requests",
        ["requested_by", "case_ref"],
        unique=False,
    )
    op.create_index(
        "ix_access_requests_status_requested_at",
        "access_requests",
        ["status", "requested_at"],
        unique=False,
    )
    _roles("users", _NEW_USER_ROLES)
    _roles("api_tokens", f"{_NEW_USER_ROLES}, 'scraper'")


def downgrade() -> None:
    # Supervisors cannot exist under the old schema: their accounts and tokens go with it.
    op.execute(
        sa.text(
            "DELETE FROM sessions WHERE user_id IN (SELECT id FROM users WHERE role = 'supervisor')"
        )
    )
    op.execute(sa.text("DELETE FROM users WHERE role = 'supervisor'"))
    op.execute(sa.text("DELETE FROM api_tokens WHERE role = 'supervisor'"))
    _roles("api_tokens", f"{_OLD_USER_ROLES}, 'scraper'")
    _roles("users", _OLD_USER_ROLES)
    op.drop_index("ix_access_requests_status_requested_at", table_name="access_requests")
    op.drop_index("ix_access_requests_requested_by_case_ref", table_name="access_requests")
    op.drop_table("access_requests")
