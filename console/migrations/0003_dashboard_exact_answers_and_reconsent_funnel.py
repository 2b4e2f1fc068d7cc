"""The dashboard exact in every figure, not only the state counts (console.AnswerTally,
ReconsentAsked, ReconsentTally), kept by triggers in the writer's transaction.

PostgreSQL: the ledger's inserts by a statement-level trigger with a transition table
(an import's COPY of a million events appends one row per hour, action and source);
reminders and messages by row triggers whose WHEN lets through only the moment a request
leaves; states as in 0002. The asked row's trigger takes the contact's row FOR SHARE, as
record_consent takes it FOR UPDATE: a state that moves while its contact is first asked
is counted on one side only. SQLite (development, tests): row triggers, in console.sql
(restored after every migrate). What is there already is counted once, before the
triggers exist.
"""

import django.db.models.deletion
from django.db import migrations, models

from console.sql import sqlite_dashboard_triggers

EVENTS, STATES, TALLY = "consent_consentevent", "consent_consentstate", "console_answertally"
ASKED, FUNNEL = "console_reconsentasked", "console_reconsenttally"
REMINDERS, MESSAGES = "campaigns_remindersent", "campaigns_message"
CAMPAIGNS, POLICIES = "campaigns_campaign", "consent_reconsentpolicy"
LEFT = "('sent', 'delivered', 'read')"

POSTGRESQL = f"""
CREATE FUNCTION console_tally_answers() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO {TALLY} (hour, action, source, campaign_id, delta)
    SELECT date_trunc('hour', e.occurred_at, 'UTC'), e.action, e.source, m.campaign_id, count(*)
    FROM new_rows e LEFT JOIN {MESSAGES} m
        ON e.action = 'withdraw' AND e.prompted_by_wamid <> '' AND m.wamid = e.prompted_by_wamid
    WHERE e.applied AND e.action IN ('grant', 'withdraw')
    GROUP BY 1, 2, 3, 4;
    RETURN NULL;
END $$;
CREATE TRIGGER console_tally_answers AFTER INSERT ON {EVENTS}
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION console_tally_answers();

CREATE FUNCTION console_asked_by_reminder() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO {ASKED} (policy_id, contact_id) VALUES (NEW.policy_id, NEW.contact_id)
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END $$;
CREATE TRIGGER console_asked_reminder_insert AFTER INSERT ON {REMINDERS} FOR EACH ROW
    WHEN (NEW.sent_at IS NOT NULL) EXECUTE FUNCTION console_asked_by_reminder();
CREATE TRIGGER console_asked_reminder_update AFTER UPDATE ON {REMINDERS} FOR EACH ROW
    WHEN (OLD.sent_at IS NULL AND NEW.sent_at IS NOT NULL)
    EXECUTE FUNCTION console_asked_by_reminder();

CREATE FUNCTION console_asked_by_campaign() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO {ASKED} (policy_id, contact_id)
    SELECT p.id, NEW.contact_id FROM {CAMPAIGNS} c JOIN {POLICIES} p ON c.launched_at >= p.created_at
    WHERE c.id = NEW.campaign_id AND c.kind = 'reconsent'
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END $$;
CREATE TRIGGER console_asked_message_insert AFTER INSERT ON {MESSAGES} FOR EACH ROW
    WHEN (NEW.status IN {LEFT}) EXECUTE FUNCTION console_asked_by_campaign();
CREATE TRIGGER console_asked_message_update AFTER UPDATE OF status ON {MESSAGES} FOR EACH ROW
    WHEN (NEW.status IN {LEFT} AND OLD.status NOT IN {LEFT})
    EXECUTE FUNCTION console_asked_by_campaign();

CREATE FUNCTION console_tally_asked() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    asked {ASKED};
    sign integer;
    standing text;
BEGIN
    IF TG_OP = 'INSERT' THEN asked := NEW; sign := 1; ELSE asked := OLD; sign := -1; END IF;
    PERFORM 1 FROM contacts_contact WHERE id = asked.contact_id FOR SHARE;
    SELECT status INTO standing FROM {STATES}
    WHERE contact_id = asked.contact_id AND purpose = 'marketing';
    INSERT INTO {FUNNEL} (policy_id, figure, delta) VALUES
        (asked.policy_id, 'reminded', sign), (asked.policy_id, coalesce(standing, 'none'), sign);
    RETURN NULL;
END $$;
CREATE TRIGGER console_tally_asked AFTER INSERT OR DELETE ON {ASKED} FOR EACH ROW
    EXECUTE FUNCTION console_tally_asked();

CREATE FUNCTION console_funnel_state_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO {FUNNEL} (policy_id, figure, delta)
    SELECT a.policy_id, m.figure, m.delta
    FROM {ASKED} a, (VALUES (OLD.status, -1), (NEW.status, 1)) AS m(figure, delta)
    WHERE a.contact_id = NEW.contact_id;
    RETURN NULL;
END $$;
CREATE TRIGGER console_funnel_states_update AFTER UPDATE ON {STATES} FOR EACH ROW
    WHEN (OLD.status IS DISTINCT FROM NEW.status AND NEW.purpose = 'marketing')
    EXECUTE FUNCTION console_funnel_state_change();

-- An import's COPY of a million states, with nobody asked yet, costs one probe.
CREATE FUNCTION console_funnel_states() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM {ASKED}) THEN
        RETURN NULL;
    END IF;
    IF TG_OP = 'INSERT' THEN
        INSERT INTO {FUNNEL} (policy_id, figure, delta)
        SELECT a.policy_id, m.figure, sum(m.delta) FROM new_rows s
        JOIN {ASKED} a ON a.contact_id = s.contact_id
        CROSS JOIN LATERAL (VALUES (s.status, 1), ('none', -1)) AS m(figure, delta)
        WHERE s.purpose = 'marketing' GROUP BY 1, 2;
    ELSE
        INSERT INTO {FUNNEL} (policy_id, figure, delta)
        SELECT a.policy_id, m.figure, sum(m.delta) FROM old_rows s
        JOIN {ASKED} a ON a.contact_id = s.contact_id
        CROSS JOIN LATERAL (VALUES (s.status, -1), ('none', 1)) AS m(figure, delta)
        WHERE s.purpose = 'marketing' GROUP BY 1, 2;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER console_funnel_states_insert AFTER INSERT ON {STATES}
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION console_funnel_states();
CREATE TRIGGER console_funnel_states_delete AFTER DELETE ON {STATES}
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION console_funnel_states();
"""

POSTGRESQL_DROP = f"""
DROP TRIGGER IF EXISTS console_tally_answers ON {EVENTS};
DROP TRIGGER IF EXISTS console_asked_reminder_insert ON {REMINDERS};
DROP TRIGGER IF EXISTS console_asked_reminder_update ON {REMINDERS};
DROP TRIGGER IF EXISTS console_asked_message_insert ON {MESSAGES};
DROP TRIGGER IF EXISTS console_asked_message_update ON {MESSAGES};
DROP TRIGGER IF EXISTS console_funnel_states_update ON {STATES};
DROP TRIGGER IF EXISTS console_funnel_states_insert ON {STATES};
DROP TRIGGER IF EXISTS console_funnel_states_delete ON {STATES};
DROP FUNCTION IF EXISTS console_tally_answers();
DROP FUNCTION IF EXISTS console_asked_by_reminder();
DROP FUNCTION IF EXISTS console_asked_by_campaign();
DROP FUNCTION IF EXISTS console_tally_asked() CASCADE;
DROP FUNCTION IF EXISTS console_funnel_state_change();
DROP FUNCTION IF EXISTS console_funnel_states();
"""

BACKFILL = [
    f"""INSERT INTO {TALLY} (hour, action, source, campaign_id, delta)
    SELECT {{hour}}, e.action, e.source, m.campaign_id, count(*)
    FROM {EVENTS} e LEFT JOIN {MESSAGES} m
        ON e.action = 'withdraw' AND e.prompted_by_wamid <> '' AND m.wamid = e.prompted_by_wamid
    WHERE e.applied AND e.action IN ('grant', 'withdraw') GROUP BY 1, 2, 3, 4""",
    f"""INSERT INTO {ASKED} (policy_id, contact_id)
    SELECT DISTINCT policy_id, contact_id FROM {REMINDERS} WHERE sent_at IS NOT NULL""",
    f"""INSERT INTO {ASKED} (policy_id, contact_id)
    SELECT DISTINCT p.id, m.contact_id FROM {MESSAGES} m
    JOIN {CAMPAIGNS} c ON c.id = m.campaign_id AND c.kind = 'reconsent'
    JOIN {POLICIES} p ON c.launched_at >= p.created_at
    WHERE m.status IN {LEFT} AND NOT EXISTS (
        SELECT 1 FROM {ASKED} a WHERE a.policy_id = p.id AND a.contact_id = m.contact_id)""",
    f"""INSERT INTO {FUNNEL} (policy_id, figure, delta)
    SELECT policy_id, 'reminded', count(*) FROM {ASKED} GROUP BY 1""",
    f"""INSERT INTO {FUNNEL} (policy_id, figure, delta)
    SELECT a.policy_id, coalesce(s.status, 'none'), count(*) FROM {ASKED} a
    LEFT JOIN {STATES} s ON s.contact_id = a.contact_id AND s.purpose = 'marketing'
    GROUP BY 1, 2""",
]


def install(apps, schema_editor):
    connection = schema_editor.connection
    postgresql = connection.vendor == "postgresql"
    hour = (
        "date_trunc('hour', e.occurred_at, 'UTC')"
        if postgresql
        else "strftime('%Y-%m-%d %H:00:00', e.occurred_at)"
    )
    with connection.cursor() as cursor:
        for statement in BACKFILL:
            cursor.execute(statement.replace("{hour}", hour))
        if postgresql:
            cursor.execute(POSTGRESQL)
        elif connection.vendor == "sqlite":
            for statement in sqlite_dashboard_triggers(topics=False):
                cursor.execute(statement)


def uninstall(apps, schema_editor):
    connection = schema_editor.connection
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(POSTGRESQL_DROP)
        elif connection.vendor == "sqlite":
            for statement in sqlite_dashboard_triggers(topics=False):
                name = statement.split("EXISTS", 1)[1].split()[0]
                cursor.execute(f"DROP TRIGGER IF EXISTS {name}")


class Migration(migrations.Migration):
    dependencies = [
        ("consent", "0015_sealed_blocks_and_notices"),
        ("console", "0002_state_tallies"),
        ("contacts", "0008_blocked_contacts"),
        ("campaigns", "0005_paused_by_its_template"),
    ]

    operations = [
        migrations.CreateModel(
            name='AnswerTally',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('hour', models.DateTimeField()),
                ('action', models.CharField(max_length=16)),
                ('source', models.CharField(max_length=24)),
                ('campaign_id', models.UUIDField(null=True)),
                ('delta', models.BigIntegerField()),
            ],
        ),
        migrations.CreateModel(
            name='ReconsentTally',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('policy_id', models.BigIntegerField()),
                ('figure', models.CharField(max_length=16)),
                ('delta', models.BigIntegerField()),
            ],
        ),
        migrations.CreateModel(
            name='ReconsentAsked',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('contact', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='contacts.contact')),
                ('policy', models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='consent.reconsentpolicy')),
            ],
            options={
                'constraints': [models.UniqueConstraint(fields=('policy', 'contact'), name='asked_once_per_policy')],
            },
        ),
        migrations.RunPython(install, uninstall),
    ]
