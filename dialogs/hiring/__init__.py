"""Results and rankings, HR decisions, people's scores beside the AI's, statistics.
Declared in ``decisions.FEATURE``, ``human_scores.FEATURE`` and ``stats.FEATURE``."""
