from __future__ import annotations

import datetime as dt

import pytest

from citywatch.config import ConfigError, parse_config


def test_defaults_are_the_issue_s() -> None:
    cfg = parse_config({}).retention
    rules = cfg.rules()
    assert rules.plate_reads == dt.timedelta(days=365)
    assert cfg.access_window == dt.timedelta(days=90)
    assert cfg.access_grant_validity == dt.timedelta(days=30)
    assert rules.alerts_rejected == dt.timedelta(days=30)
    assert rules.statistics is None  # counts only: kept
    assert cfg.sweep_interval == dt.timedelta(hours=24)


def test_retention_is_configurable() -> None:
    cfg = parse_config(
        {
            "retention": {
                "plate_read_days": 180,
                "access_window_days": 30,
                "alert_rejected_days": 7,
                "statistics_days": 3650,
                "sweep_every_hours": 6,
            }
        }
    ).retention
    rules = cfg.rules()
    assert rules.plate_reads == dt.timedelta(days=180)
    assert cfg.access_window == dt.timedelta(days=30)
    assert rules.alerts_rejected == dt.timedelta(days=7)
    assert rules.statistics == dt.timedelta(days=3650)
    assert cfg.sweep_interval == dt.timedelta(hours=6)


@pytest.mark.parametrize(
    ("block", "where"),
    [
        ({"access_window_days": 400}, "shorter than plate_read_days"),
        ({"plate_read_days": 0}, "retention.plate_read_days"),
        ({"audit_days": 10}, "retention.audit_days: unknown key"),  # audit is always kept
        ({"sweep_every_hours": 0}, "retention.sweep_every_hours"),
    ],
)
def test_bad_retention_config_names_the_field(block: dict[str, object], where: str) -> None:
    with pytest.raises(ConfigError, match=where):
        parse_config({"retention": block})
