"""Cross-cutting pieces every layer uses: settings, errors, clock, logging."""
