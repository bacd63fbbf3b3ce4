"""How long data is kept, and the access window for old plate reads (``retention:``)."""

from __future__ import annotations

import datetime as dt

from pydantic import Field, model_validator

from citywatch.config.base import Strict
from citywatch.policy.retention import RetentionRules


class RetentionConfig(Strict):
    """Audit entries are always kept (the hash chain must stay whole); everything else goes
    after its period.  Reads and alerts on evidence hold are kept until the hold is released."""

    plate_read_days: int = Field(
        default=365,
        ge=1,
        le=3650,
        description="Plate reads are deleted this many days after they were last seen, "
        "unless on evidence hold",
    )
    access_window_days: int = Field(
        default=90,
        ge=1,
        le=3650,
        description="Plate reads older than this need an investigator's request with a case "
        "reference and a second person's approval to be viewed",
    )
    access_grant_days: int = Field(
        default=30,
        ge=1,
        le=365,
        description="An approved access request is valid this many days after the approval",
    )
    alert_pending_days: int = Field(
        default=365, ge=1, le=3650, description="Unreviewed alerts: days after the sighting"
    )
    alert_confirmed_days: int = Field(
        default=365, ge=1, le=3650, description="Confirmed alerts: days after the sighting"
    )
    alert_rejected_days: int = Field(
        default=30,
        ge=1,
        le=3650,
        description="Rejected alerts (false alerts): days after the review",
    )
    statistics_days: int | None = Field(
        default=None,
        ge=1,
        le=36500,
        description="Daily counts (nothing personal); null: kept",
    )
    sweep_every_hours: float = Field(
        default=24.0, gt=0, le=24 * 7, description="How often the scheduled sweep runs"
    )
    batch_size: int = Field(
        default=1000, ge=1, le=100_000, description="Rows deleted per transaction"
    )

    @model_validator(mode="after")
    def _window_inside_retention(self) -> RetentionConfig:
        if self.access_window_days >= self.plate_read_days:
            raise ValueError(
                f"access_window_days ({self.access_window_days}) must be shorter than "
                f"plate_read_days ({self.plate_read_days})"
            )
        return self

    @property
    def access_window(self) -> dt.timedelta:
        return dt.timedelta(days=self.access_window_days)

    @property
    def access_grant_validity(self) -> dt.timedelta:
        return dt.timedelta(days=self.access_grant_days)

    @property
    def sweep_interval(self) -> dt.timedelta:
        return dt.timedelta(hours=self.sweep_every_hours)

    def rules(self) -> RetentionRules:
        """The periods as the pure policy takes them."""
        stats = self.statistics_days
        return RetentionRules(
            plate_reads=dt.timedelta(days=self.plate_read_days),
            alerts_pending=dt.timedelta(days=self.alert_pending_days),
            alerts_confirmed=dt.timedelta(days=self.alert_confirmed_days),
            alerts_rejected=dt.timedelta(days=self.alert_rejected_days),
            statistics=None if stats is None else dt.timedelta(days=stats),
        )
