"""Every dashboard figure is now kept exact by triggers (0003): the 10-minute snapshot and
its beat task go (a stored schedule for a task that no longer exists would fail each run)."""

from django.db import migrations


def forget_the_refresh_task(apps, schema_editor):
    periodic_task = apps.get_model("django_celery_beat", "PeriodicTask")
    periodic_task.objects.filter(task="console.tasks.refresh_dashboard").delete()


class Migration(migrations.Migration):
    dependencies = [
        ("console", "0003_dashboard_exact_answers_and_reconsent_funnel"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [
        migrations.RunPython(forget_the_refresh_task, migrations.RunPython.noop),
        migrations.DeleteModel(name="DashboardSnapshot"),
    ]
