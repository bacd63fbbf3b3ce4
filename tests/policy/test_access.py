import pytest

from citywatch.policy.access import GRANTS, Permission, Role, allowed

P = Permission


@pytest.mark.parametrize(
    ("role", "permission", "expected"),
    [
        (None, P.PUBLIC, True),
        (None, P.ALERTS_READ, False),
        ("nobody", P.CAMERAS_READ, False),
        (Role.ADMIN, P.CAMERAS_WRITE, True),
        (Role.ADMIN, P.PLATES_SEARCH, False),  # separation of duties
        (Role.ADMIN, P.ALERTS_REVIEW, False),
        (Role.OPERATOR, P.ALERTS_REVIEW, True),
        (Role.OPERATOR, P.AUDIT_READ, False),
        (Role.OPERATOR, P.PLATES_SEARCH, False),
        (Role.INVESTIGATOR, P.PLATES_SEARCH, True),
        (Role.INVESTIGATOR, P.LIVE_VIEW, False),
        (Role.INVESTIGATOR, P.RECORDINGS_VIEW, True),  # playback and export for a case
        (Role.OPERATOR, P.RECORDINGS_VIEW, False),
        (Role.ADMIN, P.RECORDINGS_VIEW, False),
        (Role.AUDITOR, P.RECORDINGS_VIEW, False),
        (Role.SUPERVISOR, P.RECORDINGS_VIEW, False),
        (Role.AUDITOR, P.AUDIT_READ, True),
        (Role.AUDITOR, P.ALERTS_READ, False),  # no faces, no plates
        (Role.AUDITOR, P.LIVE_VIEW, False),
        (Role.SUPERVISOR, P.ACCESS_APPROVE, True),
        (Role.SUPERVISOR, P.SELF, True),
        (Role.SUPERVISOR, P.PLATES_SEARCH, False),  # approves, never searches
        (Role.SUPERVISOR, P.ALERTS_READ, False),
        (Role.SUPERVISOR, P.AUDIT_READ, False),
        (Role.INVESTIGATOR, P.ACCESS_APPROVE, False),  # never approves (a second person does)
        (Role.ADMIN, P.ACCESS_APPROVE, False),
        (Role.AUDITOR, P.ACCESS_APPROVE, False),
        ("scraper", P.METRICS_READ, True),
        ("scraper", P.SELF, False),
    ],
)
def test_access_table(role, permission, expected):
    assert allowed(role, permission) is expected


def test_no_role_sees_personal_data_and_the_audit_log_at_once():
    personal = {
        P.ALERTS_READ,
        P.PLATES_SEARCH,
        P.LIVE_VIEW,
        P.WATCHLISTS_READ,
        P.RECORDINGS_VIEW,
    }
    for role, grants in GRANTS.items():
        assert not (P.AUDIT_READ in grants and grants & personal), role


def test_no_role_both_asks_for_and_approves_access_to_old_reads():
    for role, grants in GRANTS.items():
        assert not (P.PLATES_SEARCH in grants and P.ACCESS_APPROVE in grants), role
