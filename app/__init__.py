"""The composition root: builds the application from settings (``wiring``), runs it
(``runner``, ``runtime``) and lists the command-line areas (``cli``)."""
