"""Invitations: tokens and identity codes, /invite, candidate spreadsheets, the PDF sheet,
e-mails, the ways to start that the enabled channels offer, the expiry reminders.
Declared in ``feature.FEATURE``."""
