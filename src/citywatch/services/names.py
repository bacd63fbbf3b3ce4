"""Names people give things (users, hotlists, watchlists, cameras): one cleaning rule.

A name is NFKC-normalised (full-width ``ＯＬＧＡ`` is ``OLGA``), stripped, and refused when it
holds a control, format (bidi overrides such as U+202E, zero-width characters, U+FEFF),
surrogate, private-use or unassigned character, or a line or paragraph separator: such names
look like other names on screen.  Two names are the same name when their case-folded forms
are equal (:func:`name_key`), so ``Stolen`` and ``stolen`` cannot both exist.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable

from citywatch.services.common import ServiceError

#: Unicode general categories a name may not contain.
REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})


def clean_name(value: str | None, what: str, *, max_length: int = 200) -> str:
    """``value`` NFKC-normalised and stripped; :class:`ServiceError` naming ``what`` otherwise."""
    text = unicodedata.normalize("NFKC", value or "").strip()
    if not text:
        raise ServiceError(f"{what} is required")
    for i, ch in enumerate(text):
        if unicodedata.category(ch) in REFUSED_CATEGORIES:
            raise ServiceError(
                f"{what}: character {i + 1} is U+{ord(ch):04X} "
                f"({unicodedata.name(ch, 'unnamed')}), which names may not contain"
            )
    if len(text) > max_length:
        raise ServiceError(f"{what} is longer than {max_length} characters")
    return " ".join(text.split())  # runs of spaces and tabs inside count as one space


def name_key(name: str) -> str:
    """The form two names are compared in (NFKC, case-folded)."""
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", name).casefold())


def clash(name: str, existing: Iterable[str]) -> str | None:
    """The existing name that is the same as ``name`` apart from case, if any."""
    key = name_key(name)
    return next((e for e in existing if name_key(e) == key), None)
