"""The old home of the reminder scheduler, kept as an alias: APScheduler job stores written
before the features moved into packages reference ``dialogs.reminders:fire_reminder``
(new jobs reference :mod:`dialogs.kernel.timers`). Do not remove while such
stores may exist; ``tests/dialogs/scheduling/test_stored_names.py`` holds it to that."""

from dialogs.kernel.timers import fire_reminder

__all__ = ["fire_reminder"]
