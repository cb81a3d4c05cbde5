"""The product's features, listed once: the registry is built from this list.

Adding a feature is one package (or module) that declares a ``FEATURE`` and one line
here. The order matters only for file importers, which are tried in this order.
"""

from __future__ import annotations

from dialogs import (
    availability,
    bulk_invite,
    contract_flow,
    followup,
    hr,
    human_scores,
    interview,
    privacy,
    retention,
    staff,
    stats,
)
from dialogs.kernel.feature import Feature

FEATURES: tuple[Feature, ...] = (
    interview.FEATURE,
    staff.FEATURE,
    bulk_invite.FEATURE,
    availability.FEATURE,
    hr.FEATURE,
    human_scores.FEATURE,
    stats.FEATURE,
    followup.FEATURE,
    contract_flow.FEATURE,
    privacy.FEATURE,
    retention.FEATURE,
)
