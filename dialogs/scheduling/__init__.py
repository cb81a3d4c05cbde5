"""Interview slots, the booking step between identity and questions, and the reminders
around a slot. Declared in ``feature.FEATURE``."""
