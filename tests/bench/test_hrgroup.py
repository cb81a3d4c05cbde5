"""The simulated HR group of ``bench telegram``: a small wave, the figures it prints."""

from __future__ import annotations

from bench.hrgroup import simulate
from core.settings import Settings


def test_a_small_wave_stays_within_the_group_limit_and_reports_every_figure(
    settings: Settings,
) -> None:
    settings.groups.per_minute["telegram"] = 20  # Telegram's (tests lift it: conftest.py)
    settings.groups.window_seconds = 15
    lines = simulate(settings, candidates=80, questions=3, minutes=6)
    values = {name: value for name, value, _unit in lines}
    assert set(values) == {
        "hrgroup_events_offered",
        "hrgroup_posts_per_group_per_min_max",
        "hrgroup_status_edits",
        "hrgroup_progress_lag_p50",
        "hrgroup_progress_lag_p99",
        "hrgroup_result_lag_p50",
        "hrgroup_result_lag_p99",
        "hrgroup_progress_folded",
        "hrgroup_unreported_at_end",
    }
    # started, 3 answered and scored, completed, result; the last ones after the horizon
    assert 80 * 5 < values["hrgroup_events_offered"] <= 80 * (1 + 2 * 3 + 2)
    assert 0 < values["hrgroup_posts_per_group_per_min_max"] <= 20
    assert values["hrgroup_status_edits"] > 0  # the live status, edited in place
    assert values["hrgroup_result_lag_p99"] <= 30
    assert values["hrgroup_progress_lag_p99"] <= 300
