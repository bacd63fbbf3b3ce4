"""Who may do what: roles and permissions, as pure data and functions (deny by default).

Every API route declares one :class:`Permission`; a principal holds one role; a role grants a
fixed set of permissions.  Duties are separated on purpose: an administrator manages cameras,
lists and users but cannot search history or review alerts; an auditor reads the audit log and
statistics but sees no faces and no plates; a supervisor approves an investigator's request to
view plate reads older than the access window (a second person: never their own request) and
sees nothing else.
"""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    ADMIN = "admin"
    OPERATOR = "operator"
    INVESTIGATOR = "investigator"
    AUDITOR = "auditor"
    SUPERVISOR = "supervisor"  # the second person who approves access to old plate reads
    SCRAPER = "scraper"  # a metrics scraper's API token: /metrics and nothing else


class Permission(StrEnum):
    PUBLIC = "public"  # health and the public register: no principal needed
    CAMERAS_READ = "cameras.read"
    CAMERAS_WRITE = "cameras.write"
    LIVE_VIEW = "live.view"  # live snapshots and the live event stream
    ALERTS_READ = "alerts.read"
    ALERTS_REVIEW = "alerts.review"
    ALERTS_SEARCH = "alerts.search"  # history search of alerts, with a case reference
    PLATES_SEARCH = "plates.search"  # history search of plate reads, with a case reference
    # play, export and scan a camera's continuous recording, with a case reference
    RECORDINGS_VIEW = "recordings.view"
    ACCESS_APPROVE = "access.approve"  # approve or deny access to plate reads past the window
    WATCHLISTS_READ = "watchlists.read"
    WATCHLISTS_WRITE = "watchlists.write"
    HOTLISTS_READ = "hotlists.read"
    HOTLISTS_WRITE = "hotlists.write"
    AUTHORISATIONS_READ = "authorisations.read"
    AUTHORISATIONS_WRITE = "authorisations.write"
    USERS_MANAGE = "users.manage"
    AUDIT_READ = "audit.read"
    STATS_READ = "stats.read"
    METRICS_READ = "metrics.read"
    SELF = "self"  # any signed-in principal: who am I, log out


_P = Permission

GRANTS: dict[Role, frozenset[Permission]] = {
    Role.ADMIN: frozenset(
        {
            _P.CAMERAS_READ,
            _P.CAMERAS_WRITE,
            _P.WATCHLISTS_READ,
            _P.WATCHLISTS_WRITE,
            _P.HOTLISTS_READ,
            _P.HOTLISTS_WRITE,
            _P.AUTHORISATIONS_READ,
            _P.AUTHORISATIONS_WRITE,
            _P.USERS_MANAGE,
            _P.STATS_READ,
            _P.METRICS_READ,
            _P.SELF,
        }
    ),
    Role.OPERATOR: frozenset(
        {_P.CAMERAS_READ, _P.LIVE_VIEW, _P.ALERTS_READ, _P.ALERTS_REVIEW, _P.SELF}
    ),
    Role.INVESTIGATOR: frozenset(
        {
            _P.CAMERAS_READ,
            _P.ALERTS_READ,
            _P.ALERTS_SEARCH,
            _P.PLATES_SEARCH,
            _P.RECORDINGS_VIEW,
            _P.SELF,
        }
    ),
    Role.AUDITOR: frozenset(
        {_P.CAMERAS_READ, _P.AUTHORISATIONS_READ, _P.AUDIT_READ, _P.STATS_READ, _P.SELF}
    ),
    Role.SUPERVISOR: frozenset({_P.ACCESS_APPROVE, _P.SELF}),
    Role.SCRAPER: frozenset({_P.METRICS_READ}),
}


def allowed(role: Role | str | None, permission: Permission) -> bool:
    """Deny by default: an unknown role, or no principal, gets only public routes."""
    if permission is Permission.PUBLIC:
        return True
    try:
        r = Role(role) if role is not None else None
    except ValueError:
        return False
    return r is not None and permission in GRANTS[r]
