"""The scheduling feature: interview slots (``/slots``, calendar files), the candidate's
booking step between identity and questions, and the reminders around a slot."""

from __future__ import annotations

from functools import partial

from dialogs.kernel.access import Access
from dialogs.kernel.feature import Command, Feature
from dialogs.scheduling import availability, flow, timed

FEATURE = Feature(
    "scheduling",
    commands={
        "slots": Command(
            Access("view", "job", availability.slots_target),
            partial(availability.slots_command, on_added=flow.slots_opened),
        )
    },
    files=(partial(availability.import_calendar, on_added=flow.slots_opened),),
    candidate_states={flow.STATE: flow.handle},
    candidate_prompts={flow.STATE: flow.prompt},
    before_questions=(flow.after_identity,),
    reminders=timed.RULES,
)
