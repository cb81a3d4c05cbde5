"""From approval to a signed contract: terms, the labour-law pre-check, e-signing, the
employee record and its expiry reminder. Declared in ``flow.FEATURE``."""
