"""Periodic task schedules in words ("every 5 minutes", not "every 300 seconds")."""

from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django_celery_beat.models import IntervalSchedule, PeriodicTask

_SECONDS_IN = {
    IntervalSchedule.DAYS: 86400,
    IntervalSchedule.HOURS: 3600,
    IntervalSchedule.MINUTES: 60,
    IntervalSchedule.SECONDS: 1,
    IntervalSchedule.MICROSECONDS: 1e-6,
}


def describe_interval(seconds: float) -> str:
    if seconds >= 86400 and seconds % 86400 == 0:
        n = int(seconds // 86400)
        return ngettext("every day", "every %(n)d days", n) % {"n": n}
    if seconds >= 3600 and seconds % 3600 == 0:
        n = int(seconds // 3600)
        return ngettext("every hour", "every %(n)d hours", n) % {"n": n}
    if seconds >= 60 and seconds % 60 == 0:
        n = int(seconds // 60)
        return ngettext("every minute", "every %(n)d minutes", n) % {"n": n}
    n = int(seconds)
    return ngettext("every second", "every %(n)d seconds", n) % {"n": n}


def describe_schedule(task: PeriodicTask) -> str:
    if task.interval_id:
        interval = task.interval
        return describe_interval(interval.every * _SECONDS_IN.get(interval.period, 1))
    if task.crontab_id:
        crontab = task.crontab
        if (
            crontab.day_of_week == "*"
            and crontab.day_of_month == "*"
            and crontab.month_of_year == "*"
            and crontab.hour.isdigit()
            and crontab.minute.isdigit()
        ):
            return _("every day at %(time)s") % {
                "time": f"{int(crontab.hour):02d}:{int(crontab.minute):02d} {crontab.timezone}"
            }
        return str(crontab)
    if task.clocked_id:
        return _("once, at %(when)s") % {"when": task.clocked.clocked_time}
    return str(task.schedule) if task.solar_id else ""
