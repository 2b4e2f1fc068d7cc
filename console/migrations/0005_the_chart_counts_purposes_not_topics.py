"""The chart and the top opt-out campaigns count a purpose's answers, not its topics': one
STOP withdraws marketing and each of its topics, and is one opt-out (issue 26). The answer
tally's trigger skips topic events from here on; rows already counted are recounted."""

from django.db import migrations

from console.sql import sqlite_dashboard_triggers

EVENTS, TALLY, MESSAGES = "consent_consentevent", "console_answertally", "campaigns_message"


def tally_function(condition: str) -> str:
    return f"""
CREATE OR REPLACE FUNCTION console_tally_answers() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO {TALLY} (hour, action, source, campaign_id, delta)
    SELECT date_trunc('hour', e.occurred_at, 'UTC'), e.action, e.source, m.campaign_id, count(*)
    FROM new_rows e LEFT JOIN {MESSAGES} m
        ON e.action = 'withdraw' AND e.prompted_by_wamid <> '' AND m.wamid = e.prompted_by_wamid
    WHERE e.applied AND e.action IN ('grant', 'withdraw'){condition}
    GROUP BY 1, 2, 3, 4;
    RETURN NULL;
END $$;"""


def answers_trigger(*, topics: bool) -> str:
    return next(
        s for s in sqlite_dashboard_triggers(topics=topics) if "console_tally_answers" in s
    )


def forward(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        if schema_editor.connection.vendor == "postgresql":
            cursor.execute(tally_function(" AND e.topic IS NULL"))
        else:
            cursor.execute("DROP TRIGGER IF EXISTS console_tally_answers")
            cursor.execute(answers_trigger(topics=True))
        # Topic answers recorded before this migration, taken back out of the tally.
        cursor.execute(
            f"""INSERT INTO {TALLY} (hour, action, source, campaign_id, delta)
            SELECT t.hour, t.action, t.source, t.campaign_id, -t.n FROM (
                SELECT {hour(schema_editor)} AS hour, e.action, e.source, m.campaign_id,
                       count(*) AS n
                FROM {EVENTS} e LEFT JOIN {MESSAGES} m
                    ON e.action = 'withdraw' AND e.prompted_by_wamid <> ''
                    AND m.wamid = e.prompted_by_wamid
                WHERE e.applied AND e.action IN ('grant', 'withdraw') AND e.topic IS NOT NULL
                GROUP BY 1, 2, 3, 4) t"""  # noqa: S608
        )


def backward(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        if schema_editor.connection.vendor == "postgresql":
            cursor.execute(tally_function(""))
        else:
            cursor.execute("DROP TRIGGER IF EXISTS console_tally_answers")
            cursor.execute(answers_trigger(topics=False))


def hour(schema_editor) -> str:
    if schema_editor.connection.vendor == "postgresql":
        return "date_trunc('hour', e.occurred_at, 'UTC')"
    return "strftime('%Y-%m-%d %H:00:00', e.occurred_at)"


class Migration(migrations.Migration):
    dependencies = [
        ("console", "0004_dashboard_without_a_snapshot"),
        ("consent", "0018_topic_choices_in_the_ledger"),
    ]

    operations = [migrations.RunPython(forward, backward)]
