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
        (Role.AUDITOR, P.AUDIT_READ, True),
        (Role.AUDITOR, P.ALERTS_READ, False),  # no faces, no plates
        (Role.AUDITOR, P.LIVE_VIEW, False),
        ("scraper", P.METRICS_READ, True),
        ("scraper", P.SELF, False),
    ],
)
def test_access_table(role, permission, expected):
    assert allowed(role, permission) is expected


def test_no_role_sees_personal_data_and_the_audit_log_at_once():
    personal = {P.ALERTS_READ, P.PLATES_SEARCH, P.LIVE_VIEW, P.WATCHLISTS_READ}
    for role, grants in GRANTS.items():
        assert not (P.AUDIT_READ in grants and grants & personal), role
