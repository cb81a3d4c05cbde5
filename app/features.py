"""The product's features, listed once: the registry is built from this list.

Adding a feature is one package under ``dialogs/`` whose module declares a ``FEATURE``
(:class:`dialogs.kernel.feature.Feature`) and one line here. Two features claiming the
same command, button prefix, dialog, state or job kind stop the start-up with an error.
The order matters only for file importers, which are tried in this order.
"""

from __future__ import annotations

from dialogs.console import feature as console
from dialogs.contracting import flow as contracting
from dialogs.hiring import decisions, human_scores, scorer_audit, stats
from dialogs.interview import flow as interview
from dialogs.interview import followup
from dialogs.invitations import feature as invitations
from dialogs.jobs import staff
from dialogs.kernel.feature import Feature
from dialogs.privacy import data_rights, retention
from dialogs.scheduling import feature as scheduling

FEATURES: tuple[Feature, ...] = (
    interview.FEATURE,  # the candidate's interview: consent, identity, questions, review
    staff.FEATURE,  # jobs, questions, /progress, /bind, /grant, /revoke
    invitations.FEATURE,  # /invite, candidate spreadsheets, the sheet, e-mails
    scheduling.FEATURE,  # slots, calendar imports, booking, reminders around a slot
    decisions.FEATURE,  # rankings, reports, approve / next round / reject
    human_scores.FEATURE,  # people's scores beside the AI's, agreement
    stats.FEATURE,  # funnel and question statistics
    scorer_audit.FEATURE,  # /audit: the scorer's figures by answer mode and language
    followup.FEATURE,  # HR's follow-up questions during an interview
    contracting.FEATURE,  # contract terms, e-signing, employee records
    data_rights.FEATURE,  # /mydata, /deleteme
    retention.FEATURE,  # the daily retention sweep
    console.FEATURE,  # /console: a sign-in link to the HR web console
)
