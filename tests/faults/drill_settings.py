"""Production settings (DEBUG=false from the environment) on a faster clock, for the fault drill.

Only the periods change, each scaled down about 30 times from production's, so the
drill sees in a minute what production sees in half an hour: the outbox sweep every
2 s (60 s), stale queued rows requeued after 10 s (300 s, through the environment),
the straggler sweep every second (30 s), stalled campaigns resumed every 5 s.
"""

from config.settings import *  # noqa: F403

CELERY_BEAT_SCHEDULE = {
    "whatsapp-process-straggling-inbound-events": {
        "task": "whatsapp.tasks.process_straggling_inbound_events",
        "schedule": 1.0,
    },
    "whatsapp-sweep-outbox": {"task": "whatsapp.tasks.sweep_outbox", "schedule": 2.0},
    "campaigns-resume-stalled": {
        "task": "campaigns.tasks.resume_stalled_campaigns",
        "schedule": 5.0,
    },
}
