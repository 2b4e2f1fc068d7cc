"""Staff roles as auth groups: marketing and compliance see and do different things.

Each app declares what its roles may do in its own `roles.py`
(`PERMISSIONS = {"Marketing": [...], "Compliance": [...]}` of "app_label.codename");
this module gathers them into groups after every migrate.
"""

import importlib
from collections import defaultdict

from django.apps import apps
from django.contrib.auth.models import Group, Permission

MARKETING = "Marketing"
COMPLIANCE = "Compliance"
# This app's own part: compliance reads the staff audit.
PERMISSIONS = {COMPLIANCE: ["staff.view_auditentry"]}


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


def sync_roles(**kwargs) -> None:
    """Create the role groups and set exactly their declared permissions."""
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
