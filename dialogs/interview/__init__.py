"""The candidate's interview: invitation link, language, consent, identity, practice,
questions (voice, video or text), review; the scoring pipeline; HR's follow-up questions.
Declared in ``flow.FEATURE`` (the candidate flow) and ``followup.FEATURE``."""
