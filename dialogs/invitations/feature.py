"""The invitations feature: ``/invite``, candidate spreadsheets, the invitation sheet,
invitation e-mails, the expiry reminders, and the invitation a start link opens."""

from __future__ import annotations

from dialogs.invitations import mailer, timed
from dialogs.invitations import sheet as invite_sheet
from dialogs.invitations.bulk_invite import MAIL_JOB, SHEET_JOB
from dialogs.invitations.import_job import (
    IMPORT_ACCESS,
    IMPORT_JOB,
    import_command,
    import_file,
    import_job,
    sheet_command,
)
from dialogs.invitations.invite_command import INVITE
from dialogs.invitations.invites import find_invitation
from dialogs.kernel.access import Access, job_arg
from dialogs.kernel.feature import Command, Feature

FEATURE = Feature(
    "invitations",
    commands={
        "invite": INVITE,
        "importcandidates": Command(IMPORT_ACCESS, import_command),
        "invitesheet": Command(Access("invite", "job", job_arg(0)), sheet_command),
    },
    files=(import_file,),
    invitation_finder=find_invitation,
    reminders=timed.RULES,
    planners=(timed.plan_missing,),
    jobs={
        IMPORT_JOB: import_job(),
        SHEET_JOB: invite_sheet.sheet_job,
        MAIL_JOB: mailer.mail_job,
    },
)
