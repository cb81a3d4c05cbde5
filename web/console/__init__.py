"""The HR web console: sign-in by one-time link, jobs, candidates, a candidate, export.

``routes.console_routes(app)`` mounts it on the one Starlette app (``app/runner.py``).
Every page and action asks :func:`dialogs.kernel.roles.authorize` for the job it touches;
decisions go through the chat's own button path (``engine.handle``).
"""
