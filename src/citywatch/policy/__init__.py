"""Pure policy functions (no I/O): legal-basis gate, authorisation validity."""

from citywatch.policy.authorisation import (
    AuthorisationFacts,
    authorisation_is_live,
    covers_camera,
    may_recognise_faces,
)
from citywatch.policy.decision import Decision
from citywatch.policy.register import CameraFacts, camera_may_analyse, check_camera_registration

__all__ = [
    "AuthorisationFacts",
    "CameraFacts",
    "Decision",
    "authorisation_is_live",
    "camera_may_analyse",
    "check_camera_registration",
    "covers_camera",
    "may_recognise_faces",
]
