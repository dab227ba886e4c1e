"""One named mistake, as the catalogues hold it."""

from __future__ import annotations

from builtins import str
from dataclasses import dataclass


@dataclass(frozen=True)
class Mistake:
    """One named mistake: a stable id for reports, a title, why it gives these numbers, the fix."""

    id: str
    title: str
    why: str  # a template: {n}, {lr}, {bound}, {epochs}, … come from the diagnosis details
    fix: str
