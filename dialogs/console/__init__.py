"""The HR web console's chat side: ``/console`` sends a one-time sign-in link; the
links and browser sessions it hands out (``links.py``). The pages are in ``web/console``."""
