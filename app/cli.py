"""The command-line areas of ``main.py``: each module has ``register(subparsers)``; the
features in ``app/features.py`` add theirs after these (``Feature.cli``)."""

# Modules with a ``register(subparsers)`` function, in the order they appear in --help.
CLI_MODULES = [
    "storage.cli",
    "bench.cli",
    "dialogs.kernel.cli",
    "app.worker_cli",
    "dialogs.kernel.roles_cli",
    "scoring.cli",
    "scoring.score_cli",
    "scoring.audit_cli",
    "contracts.cli",
    "bot.cli",
    "bot.wechat_cli",
    "coding.cli",
]
