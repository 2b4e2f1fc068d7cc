"""Staff roles as auth groups: marketing and compliance see and do different things.

Each app declares what its roles may do in its own `roles.py`
(`PERMISSIONS = {"Marketing": [...], "Compliance": [...]}` of "app_label.codename");
this module gathers them into groups after every migrate.
"""

import importlib
from collections import defaultdict
from typing import Any

from django.apps import AppConfig, apps
from django.contrib.auth.models import Group, Permission

MARKETING = "Marketing"
COMPLIANCE = "Compliance"
# This app's own part: compliance reads the staff audit.
PERMISSIONS = {COMPLIANCE: ["staff.view_auditentry"]}


def _last_app_with_models() -> AppConfig:
    # post_migrate is sent for the apps that have a models module, in INSTALLED_APPS order.
    return [config for config in apps.get_app_configs() if config.models_module is not None][-1]


def declared_permissions() -> dict[str, set[str]]:
    declared: dict[str, set[str]] = defaultdict(set)
    for config in apps.get_app_configs():
        try:
            module = importlib.import_module(f"{config.name}.roles")
        except ModuleNotFoundError as exc:
            if exc.name != f"{config.name}.roles":
                raise
            continue
        for role, perms in getattr(module, "PERMISSIONS", {}).items():
            declared[role].update(perms)
    return declared


def sync_roles(*, app_config: AppConfig | None = None, **kwargs: Any) -> None:
    """Create the role groups and set exactly their declared permissions.

    As a post_migrate receiver it is called once per app (and after every flush of a
    transactional test): it does its work once, after the last app, when every app's
    permissions exist.
    """
    if app_config is not None and app_config is not _last_app_with_models():
        return
    for role, perms in declared_permissions().items():
        group, _ = Group.objects.get_or_create(name=role)
        wanted = []
        for perm in sorted(perms):
            app_label, codename = perm.split(".")
            found = Permission.objects.filter(
                content_type__app_label=app_label, codename=codename
            ).first()
            if found:
                wanted.append(found)
        group.permissions.set(wanted)
