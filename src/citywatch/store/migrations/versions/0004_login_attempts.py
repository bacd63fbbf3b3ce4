"""Sign-in limits per address and per account+address; accounts activated by a second admin.

``login_attempts`` replaces the per-account lockout (``users.failed_logins`` and
``users.locked_until``, which let anyone lock any account).  ``users`` gains who created and
who activated an account; existing accounts count as activated.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "login_attempts",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("scope", sa.String(length=10), nullable=False),
        sa.Column("address", sa.String(length=100), nullable=False),
        sa.Column("account", sa.String(length=64), nullable=True),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("window_started", sa.DateTime(timezone=True), nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("scope IN ('address', 'account')", name=op.f("ck_login_attempts_scope")),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_login_attempts_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_login_attempts")),
    )
    for column in ("address", "account", "user_id"):
        op.create_index(
            op.f(f"ix_login_attempts_{column}"), "login_attempts", [column], unique=False
        )
    # ADD/DROP COLUMN without a table rebuild (SQLite >= 3.35): the sessions stay.
    op.add_column("users", sa.Column("created_by", sa.String(length=200), nullable=True))
    op.add_column(
        "users",
        sa.Column("pending_activation", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.add_column("users", sa.Column("activated_by", sa.String(length=200), nullable=True))
    op.add_column("users", sa.Column("activated_at", sa.DateTime(timezone=True), nullable=True))
    op.drop_column("users", "failed_logins")
    op.drop_column("users", "locked_until")


def downgrade() -> None:
    op.add_column(
        "users",
        sa.Column("failed_logins", sa.Integer(), nullable=False, server_default="0"),
    )
    op.add_column("users", sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True))
    # An account still waiting for its second administrator stays shut under the old schema.
    op.execute(sa.text("UPDATE users SET disabled = true WHERE pending_activation = true"))
    op.drop_column("users", "activated_at")
    op.drop_column("users", "activated_by")
    op.drop_column("users", "pending_activation")
    op.drop_column("users", "created_by")
    for column in ("user_id", "account", "address"):
        op.drop_index(op.f(f"ix_login_attempts_{column}"), table_name="login_attempts")
    op.drop_table("login_attempts")
