"""Running untrusted code: a kernel-enforced sandbox (bubblewrap namespaces, cgroups,
rlimits, an unprivileged uid), the language table, and the judge that runs a solution
against tests and gives each one a verdict.

Nothing here knows the chat platforms, the database or the interview: ``coding`` is a
leaf that ``dialogs`` features, ``scoring`` and the CLI use.
"""
