"""The engine's kernel: what every feature builds on, and nothing any feature owns.

Features declare themselves with :class:`dialogs.kernel.feature.Feature`; the composition
root lists them once (``app/features.py``) and builds a
:class:`dialogs.kernel.registry.Registry` from that list. See ``dialogs/README.md``.
"""
