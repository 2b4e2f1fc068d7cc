"""The console app's hand-written SQL: each statement named for what it does, tables named
by the models, the database vendor decided here."""

from datetime import UTC, date, datetime

from django.db import connection

from consent.models import ConsentState
from contacts.models import Contact

from .models import AnswerTally, ReconsentAsked, ReconsentTally, StateTally

# A re-consent request that left (campaigns.MessageStatus): it asked the person again.
LEFT = "('sent', 'delivered', 'read')"


def _sqlite_tally_triggers() -> list[str]:
    states, contacts = ConsentState._meta.db_table, Contact._meta.db_table
    tally = StateTally._meta.db_table
    return [
        f"""CREATE TRIGGER IF NOT EXISTS console_tally_states_insert AFTER INSERT ON {states}
            BEGIN INSERT INTO {tally} (purpose, status, day, delta)
            VALUES (NEW.purpose, NEW.status, date('now'), 1); END""",  # noqa: S608
        f"""CREATE TRIGGER IF NOT EXISTS console_tally_states_update AFTER UPDATE ON {states}
            WHEN OLD.status IS NOT NEW.status OR OLD.purpose IS NOT NEW.purpose BEGIN
            INSERT INTO {tally} (purpose, status, day, delta)
            VALUES (OLD.purpose, OLD.status, date('now'), -1),
                   (NEW.purpose, NEW.status, date('now'), 1); END""",  # noqa: S608
        f"""CREATE TRIGGER IF NOT EXISTS console_tally_states_delete AFTER DELETE ON {states}
            BEGIN INSERT INTO {tally} (purpose, status, day, delta)
            VALUES (OLD.purpose, OLD.status, date('now'), -1); END""",  # noqa: S608
        f"""CREATE TRIGGER IF NOT EXISTS console_tally_contacts_insert AFTER INSERT ON {contacts}
            BEGIN INSERT INTO {tally} (purpose, status, day, delta)
            VALUES ('', 'contacts', date('now'), 1); END""",  # noqa: S608
        f"""CREATE TRIGGER IF NOT EXISTS console_tally_contacts_delete AFTER DELETE ON {contacts}
            BEGIN INSERT INTO {tally} (purpose, status, day, delta)
            VALUES ('', 'contacts', date('now'), -1); END""",  # noqa: S608
    ]


def sqlite_dashboard_triggers(*, topics: bool = True) -> list[str]:
    """The row triggers that keep the chart, the top campaigns and the re-consent funnel
    exact (migrations 0003 and 0005 have PostgreSQL's). The chart counts a purpose's
    answers, not its topics' (`topics=False`: the ledger before it had topics)."""
    purpose_only = " AND NEW.topic IS NULL" if topics else ""
    events, states, tally = (
        "consent_consentevent",
        ConsentState._meta.db_table,
        AnswerTally._meta.db_table,
    )
    asked, funnel = ReconsentAsked._meta.db_table, ReconsentTally._meta.db_table
    reminders, messages = "campaigns_remindersent", "campaigns_message"
    campaigns, policies = "campaigns_campaign", "consent_reconsentpolicy"
    ask_once = f"INSERT OR IGNORE INTO {asked} (policy_id, contact_id)"
    by_campaign = f"""{ask_once} SELECT p.id, NEW.contact_id FROM {campaigns} c
        JOIN {policies} p ON c.launched_at >= p.created_at
        WHERE c.id = NEW.campaign_id AND c.kind = 'reconsent'"""  # noqa: S608
    standing = f"""coalesce((SELECT status FROM {states} WHERE contact_id = {{row}}.contact_id
        AND purpose = 'marketing'), 'none')"""  # noqa: S608
    moved = f"""INSERT INTO {funnel} (policy_id, figure, delta)
        SELECT policy_id, {{old}}, -1 FROM {asked} WHERE contact_id = {{row}}.contact_id
        UNION ALL SELECT policy_id, {{new}}, 1 FROM {asked} WHERE contact_id = {{row}}.contact_id"""  # noqa: S608
    return [
        f"""CREATE TRIGGER IF NOT EXISTS console_tally_answers AFTER INSERT ON {events}
            WHEN NEW.applied AND NEW.action IN ('grant', 'withdraw'){purpose_only} BEGIN
            INSERT INTO {tally} (hour, action, source, campaign_id, delta) VALUES (
                strftime('%Y-%m-%d %H:00:00', NEW.occurred_at), NEW.action, NEW.source,
                CASE WHEN NEW.action = 'withdraw' AND NEW.prompted_by_wamid <> '' THEN
                (SELECT campaign_id FROM {messages} WHERE wamid = NEW.prompted_by_wamid) END,
                1); END""",  # noqa: S608
        f"""CREATE TRIGGER IF NOT EXISTS console_asked_reminder_insert AFTER INSERT ON {reminders}
            WHEN NEW.sent_at IS NOT NULL BEGIN
            {ask_once} VALUES (NEW.policy_id, NEW.contact_id); END""",  # noqa: S608
        f"""CREATE TRIGGER IF NOT EXISTS console_asked_reminder_update AFTER UPDATE ON {reminders}
            WHEN OLD.sent_at IS NULL AND NEW.sent_at IS NOT NULL BEGIN
            {ask_once} VALUES (NEW.policy_id, NEW.contact_id); END""",  # noqa: S608
        f"""CREATE TRIGGER IF NOT EXISTS console_asked_message_insert AFTER INSERT ON {messages}
            WHEN NEW.status IN {LEFT} BEGIN {by_campaign}; END""",
        f"""CREATE TRIGGER IF NOT EXISTS console_asked_message_update
            AFTER UPDATE OF status ON {messages}
            WHEN NEW.status IN {LEFT} AND OLD.status NOT IN {LEFT} BEGIN {by_campaign}; END""",
        f"""CREATE TRIGGER IF NOT EXISTS console_tally_asked_insert AFTER INSERT ON {asked} BEGIN
            INSERT INTO {funnel} (policy_id, figure, delta) VALUES
            (NEW.policy_id, 'reminded', 1), (NEW.policy_id, {standing.format(row="NEW")}, 1);
            END""",  # noqa: S608
        f"""CREATE TRIGGER IF NOT EXISTS console_tally_asked_delete AFTER DELETE ON {asked} BEGIN
            INSERT INTO {funnel} (policy_id, figure, delta) VALUES
            (OLD.policy_id, 'reminded', -1), (OLD.policy_id, {standing.format(row="OLD")}, -1);
            END""",  # noqa: S608
        f"""CREATE TRIGGER IF NOT EXISTS console_funnel_states_update AFTER UPDATE ON {states}
            WHEN OLD.status IS NOT NEW.status AND NEW.purpose = 'marketing' BEGIN
            {moved.format(old="OLD.status", new="NEW.status", row="NEW")}; END""",
        f"""CREATE TRIGGER IF NOT EXISTS console_funnel_states_insert AFTER INSERT ON {states}
            WHEN NEW.purpose = 'marketing' BEGIN
            {moved.format(old="'none'", new="NEW.status", row="NEW")}; END""",
        f"""CREATE TRIGGER IF NOT EXISTS console_funnel_states_delete AFTER DELETE ON {states}
            WHEN OLD.purpose = 'marketing' BEGIN
            {moved.format(old="OLD.status", new="'none'", row="OLD")}; END""",
    ]


# They read campaigns' and consent's tables: SQLite refuses to rename a table it rebuilds
# (dropped, then its new copy renamed) while a trigger names it.
READING_OTHER_APPS = ("console_asked_message_insert", "console_asked_message_update")


def drop_sqlite_triggers_reading_other_apps() -> None:
    if connection.vendor != "sqlite":
        return
    with connection.cursor() as cursor:
        for name in READING_OTHER_APPS:
            cursor.execute(f"DROP TRIGGER IF EXISTS {name}")


def restore_sqlite_tally_triggers() -> None:
    """SQLite rebuilds a table to alter it (a later migration adding a column to contacts
    or states) and the rebuilt table has no triggers: put back any that went. The rows
    were copied, not inserted, so the tallies themselves are still exact. PostgreSQL
    alters in place and keeps its triggers."""
    if connection.vendor != "sqlite":
        return
    with connection.cursor() as cursor:
        statements = _sqlite_tally_triggers()
        # Migrated back before 0003: its tables, and so its triggers, are not there.
        if AnswerTally._meta.db_table in connection.introspection.table_names(cursor):
            events = connection.introspection.get_table_description(cursor, "consent_consentevent")
            topics = any(column.name == "topic" for column in events)
            statements += sqlite_dashboard_triggers(topics=topics)
        for statement in statements:
            cursor.execute(statement)


def fold_state_tallies(*, oldest: date) -> None:
    """Fold the tally rows into one per (purpose, status, day), days before `oldest` into
    `oldest` (inside the caller's transaction). Exact under concurrent writers: the DELETE
    takes only the rows its snapshot sees; rows appended meanwhile wait for the next fold."""
    table = connection.ops.quote_name(StateTally._meta.db_table)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                f"""
                WITH gone AS (DELETE FROM {table} RETURNING purpose, status, day, delta)
                INSERT INTO {table} (purpose, status, day, delta)
                SELECT purpose, status, greatest(day, %s), sum(delta) FROM gone
                GROUP BY 1, 2, 3 HAVING sum(delta) <> 0
                """,  # noqa: S608
                [oldest],
            )
            return
        # SQLite writes one transaction at a time: read, insert, delete is exact.
        cursor.execute(f"SELECT max(id) FROM {table}")  # noqa: S608
        (last,) = cursor.fetchone()
        if last is None:
            return
        cursor.execute(
            f"""
            INSERT INTO {table} (purpose, status, day, delta)
            SELECT purpose, status, max(day, %s), sum(delta) FROM {table} WHERE id <= %s
            GROUP BY 1, 2, 3 HAVING sum(delta) <> 0
            """,  # noqa: S608
            [oldest.isoformat(), last],
        )
        cursor.execute(f"DELETE FROM {table} WHERE id <= %s", [last])  # noqa: S608


def fold_tally(model: type[AnswerTally] | type[ReconsentTally], *, since: datetime | None) -> None:
    """Fold a tally's appended rows into one per key (inside the caller's transaction);
    an answer tally's hours before `since` are dropped (nothing shows them). Exact under
    concurrent writers, as fold_state_tallies."""
    table = connection.ops.quote_name(model._meta.db_table)
    keys = "hour, action, source, campaign_id" if model is AnswerTally else "policy_id, figure"
    keep = "hour >= %s" if since is not None else "TRUE"
    params: list = []
    if since is not None:
        # SQLite keeps datetimes as UTC text: compare text with text.
        sqlite = connection.vendor == "sqlite"
        params = [since.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S") if sqlite else since]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                f"""
                WITH gone AS (DELETE FROM {table} RETURNING {keys}, delta)
                INSERT INTO {table} ({keys}, delta)
                SELECT {keys}, sum(delta) FROM gone WHERE {keep}
                GROUP BY {keys} HAVING sum(delta) <> 0
                """,  # noqa: S608
                params,
            )
            return
        cursor.execute(f"SELECT max(id) FROM {table}")  # noqa: S608
        (last,) = cursor.fetchone()
        if last is None:
            return
        cursor.execute(
            f"""
            INSERT INTO {table} ({keys}, delta)
            SELECT {keys}, sum(delta) FROM {table} WHERE id <= %s AND {keep}
            GROUP BY {keys} HAVING sum(delta) <> 0
            """,  # noqa: S608
            [last, *params],
        )
        cursor.execute(f"DELETE FROM {table} WHERE id <= %s", [last])  # noqa: S608


def recount_dashboard_tallies() -> None:
    """Count every tally again from the tables they tally (inside the caller's transaction),
    for a database loaded with its triggers off (a bulk load as `replica`): states dated by
    when they began, contacts by creation, answers by their hour, asked contacts again
    (whose own trigger then counts the funnel)."""
    postgresql = connection.vendor == "postgresql"
    day = "(%s AT TIME ZONE 'UTC')::date" if postgresql else "date(%s)"
    hour = (
        "date_trunc('hour', e.occurred_at, 'UTC')"
        if postgresql
        else "strftime('%Y-%m-%d %H:00:00', e.occurred_at)"
    )
    today = day % "now()" if postgresql else "date('now')"
    states, contacts = ConsentState._meta.db_table, Contact._meta.db_table
    tally, answers = StateTally._meta.db_table, AnswerTally._meta.db_table
    asked, funnel = ReconsentAsked._meta.db_table, ReconsentTally._meta.db_table
    statements = [
        f"DELETE FROM {tally}",  # noqa: S608
        f"""INSERT INTO {tally} (purpose, status, day, delta)
        SELECT purpose, status, coalesce({day % "since"}, {today}), count(*) FROM {states}
        GROUP BY 1, 2, 3""",  # noqa: S608
        f"""INSERT INTO {tally} (purpose, status, day, delta)
        SELECT '', 'contacts', {day % "created_at"}, count(*) FROM {contacts} GROUP BY 3""",  # noqa: S608
        f"DELETE FROM {answers}",  # noqa: S608
        f"""INSERT INTO {answers} (hour, action, source, campaign_id, delta)
        SELECT {hour}, e.action, e.source, m.campaign_id, count(*)
        FROM consent_consentevent e LEFT JOIN campaigns_message m
            ON e.action = 'withdraw' AND e.prompted_by_wamid <> ''
            AND m.wamid = e.prompted_by_wamid
        WHERE e.applied AND e.action IN ('grant', 'withdraw') AND e.topic IS NULL
        GROUP BY 1, 2, 3, 4""",  # noqa: S608
        f"DELETE FROM {asked}",  # noqa: S608
        f"DELETE FROM {funnel}",  # noqa: S608
        f"""INSERT INTO {asked} (policy_id, contact_id)
        SELECT DISTINCT policy_id, contact_id FROM campaigns_remindersent
        WHERE sent_at IS NOT NULL""",  # noqa: S608
        f"""INSERT INTO {asked} (policy_id, contact_id)
        SELECT DISTINCT p.id, m.contact_id FROM campaigns_message m
        JOIN campaigns_campaign c ON c.id = m.campaign_id AND c.kind = 'reconsent'
        JOIN consent_reconsentpolicy p ON c.launched_at >= p.created_at
        WHERE m.status IN {LEFT} AND NOT EXISTS (
            SELECT 1 FROM {asked} a WHERE a.policy_id = p.id AND a.contact_id = m.contact_id)""",  # noqa: S608
    ]
    with connection.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement)
