import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models


MOVED = ["consentkeyword", "optoutreview"]


def move_content_types(apps, schema_editor, *, source: str, target: str) -> None:
    """Permissions and admin history follow the models: their content types change app."""
    ContentType = apps.get_model("contenttypes", "ContentType")
    db = schema_editor.connection.alias
    for model in MOVED:
        if ContentType.objects.using(db).filter(app_label=target, model=model).exists():
            continue
        ContentType.objects.using(db).filter(app_label=source, model=model).update(
            app_label=target
        )


def forwards(apps, schema_editor):
    move_content_types(apps, schema_editor, source="consent", target="conversation")


def backwards(apps, schema_editor):
    move_content_types(apps, schema_editor, source="conversation", target="consent")


class Migration(migrations.Migration):
    """ConsentKeyword and OptOutReview, moved from the consent app.

    State only: the tables consent.0004 created keep their names (`db_table`) and rows.
    """

    initial = True

    dependencies = [
        ('consent', '0012_sealed_heads_without_a_foreign_key_constraint'),
        ('contacts', '0006_no_prefix_indexes_on_identifiers'),
        ('contenttypes', '0002_remove_content_type_name'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[],
            state_operations=[
        migrations.CreateModel(
            name='ConsentKeyword',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('phrase', models.CharField(help_text="Stored normalised: 'stop promotions'.", max_length=100)),
                ('language', models.CharField(max_length=16)),
                ('meaning', models.CharField(choices=[('stop', 'Opt out of marketing'), ('stop_all', 'Opt out of every purpose'), ('start', 'Send the one-tap opt-in'), ('preferences', 'Send a preference-centre link')], max_length=16)),
                ('active', models.BooleanField(default=True)),
                ('created_at', models.DateTimeField(default=django.utils.timezone.now, editable=False)),
            ],
            options={
                'db_table': 'consent_consentkeyword',
                'ordering': ['language', 'meaning', 'phrase'],
                'indexes': [models.Index(condition=models.Q(('active', True)), fields=['phrase'], name='keyword_active_phrase_idx')],
                'constraints': [models.UniqueConstraint(fields=('language', 'phrase'), name='keyword_unique_phrase')],
            },
        ),
        migrations.CreateModel(
            name='OptOutReview',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('wamid', models.CharField(max_length=256, unique=True, verbose_name='WhatsApp message id')),
                ('prompted_by_wamid', models.CharField(blank=True, max_length=256)),
                ('text', models.TextField()),
                ('matched', models.CharField(blank=True, help_text='Why it was queued.', max_length=200)),
                ('received_at', models.DateTimeField()),
                ('decision', models.CharField(choices=[('pending', 'To review'), ('opted_out', 'Recorded as an opt-out'), ('dismissed', 'Not an opt-out')], default='pending', max_length=16)),
                ('decided_at', models.DateTimeField(blank=True, null=True)),
                ('contact', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='opt_out_reviews', to='contacts.contact')),
                ('decided_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL)),
                ('event', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='consent.consentevent')),
            ],
            options={
                'db_table': 'consent_optoutreview',
                'ordering': ['-received_at'],
                'indexes': [models.Index(condition=models.Q(('decision', 'pending')), fields=['received_at'], name='review_pending_idx')],
            },
        ),
                ],
        ),
        migrations.RunPython(forwards, backwards),
    ]
