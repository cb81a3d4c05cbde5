"""The candidate's data rights (/mydata, /deleteme) and the daily retention sweep.
Declared in ``data_rights.FEATURE`` and ``retention.FEATURE``."""
