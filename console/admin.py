"""Third-party admins in the theme, and the duplicates removed from the console."""

from django.contrib import admin
from django.contrib.auth.admin import GroupAdmin as BaseGroupAdmin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.contrib.auth.models import Group, User
from django.utils.translation import gettext_lazy as _
from django_celery_beat.admin import ClockedScheduleAdmin as BaseClockedScheduleAdmin
from django_celery_beat.admin import CrontabScheduleAdmin as BaseCrontabScheduleAdmin
from django_celery_beat.admin import PeriodicTaskAdmin as BasePeriodicTaskAdmin
from django_celery_beat.models import (
    ClockedSchedule,
    CrontabSchedule,
    IntervalSchedule,
    PeriodicTask,
    SolarSchedule,
)
from rest_framework_api_key.models import APIKey
from unfold.admin import ModelAdmin
from unfold.forms import AdminPasswordChangeForm, UserChangeForm, UserCreationForm

from .periods import describe_schedule

# Our ApiKey (api.admin) is the one place keys are made; the library's own admin
# listed a second "API keys" whose keys carry no scopes.
admin.site.unregister(APIKey)

for model in (User, Group, PeriodicTask, IntervalSchedule, CrontabSchedule, SolarSchedule):
    admin.site.unregister(model)
admin.site.unregister(ClockedSchedule)


@admin.register(User)
class UserAdmin(BaseUserAdmin, ModelAdmin):
    filter_horizontal = ()
    form = UserChangeForm
    add_form = UserCreationForm
    change_password_form = AdminPasswordChangeForm


@admin.register(Group)
class StaffRoleAdmin(BaseGroupAdmin, ModelAdmin):
    """Django's auth groups are our staff roles (marketing, compliance…)."""

    # A plain multiple select: Django's two-box filter widget fails axe-core (aria, contrast).
    filter_horizontal = ()


@admin.register(PeriodicTask)
class PeriodicTaskAdmin(BasePeriodicTaskAdmin, ModelAdmin):
    # The library's form template runs an inline script, which our CSP refuses.
    change_form_template = None
    list_display = ("name", "enabled", "schedule", "last_run_at", "one_off")
    list_select_related = ("interval", "crontab", "clocked", "solar")

    @admin.display(description=_("Runs"))
    def schedule(self, task: PeriodicTask) -> str:
        return describe_schedule(task)


@admin.register(IntervalSchedule)
class IntervalScheduleAdmin(ModelAdmin):
    list_display = ("__str__",)


@admin.register(CrontabSchedule)
class CrontabScheduleAdmin(BaseCrontabScheduleAdmin, ModelAdmin):
    pass


@admin.register(SolarSchedule)
class SolarScheduleAdmin(ModelAdmin):
    pass


@admin.register(ClockedSchedule)
class ClockedScheduleAdmin(BaseClockedScheduleAdmin, ModelAdmin):
    pass
