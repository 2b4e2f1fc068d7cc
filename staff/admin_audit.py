"""The audit of admin changes that no service of ours makes: forms, deletions, others' actions.

Our own admin actions call services, and the services write their audit rows.
What remains goes through the admin alone: the add and change forms, deletions,
and actions of third-party admins (auth, django-celery-beat). `install()` hooks
those into the admin once, at start-up, so each writes an `AuditEntry` in the
transaction of its change:
- add / change forms: where the admin logs them (inside the form's transaction);
- deletions, one or "delete selected": in a transaction with the delete itself;
- actions defined by third-party packages: in a transaction around the action.

A ModelAdmin whose own code audits its saves sets `audits_itself = True`.
"""

from __future__ import annotations

import functools
import sys
from pathlib import Path
from typing import Any

from django.contrib import admin
from django.db import transaction

from .audit import record_audit

_installed = False


def _summary(message: Any) -> Any:
    # The admin's change message: [{"changed": {"fields": [...]}}] and the like.
    return message if isinstance(message, list | dict) else {"message": str(message)}


def install() -> None:
    global _installed
    if _installed:
        return
    _installed = True
    model_admin = admin.ModelAdmin
    log_addition, log_change = model_admin.log_addition, model_admin.log_change
    delete_model, delete_queryset = model_admin.delete_model, model_admin.delete_queryset

    @functools.wraps(log_addition)
    def audited_addition(self, request, obj, message):
        if not getattr(self, "audits_itself", False):
            record_audit(actor=request.user, action="admin_add", obj=obj, after=_summary(message))
        return log_addition(self, request, obj, message)

    @functools.wraps(log_change)
    def audited_change(self, request, obj, message):
        if not getattr(self, "audits_itself", False):
            record_audit(
                actor=request.user, action="admin_change", obj=obj, after=_summary(message)
            )
        return log_change(self, request, obj, message)

    @functools.wraps(delete_model)
    def audited_delete(self, request, obj):
        with transaction.atomic():
            record_audit(actor=request.user, action="admin_delete", obj=obj, before=_repr(obj))
            return delete_model(self, request, obj)

    @functools.wraps(delete_queryset)
    def audited_delete_queryset(self, request, queryset):
        with transaction.atomic():
            for obj in queryset:
                record_audit(actor=request.user, action="admin_delete", obj=obj, before=_repr(obj))
            return delete_queryset(self, request, queryset)

    # On the base class: every admin is audited, third-party ones included.
    setattr(model_admin, "log_addition", audited_addition)  # noqa: B010
    setattr(model_admin, "log_change", audited_change)  # noqa: B010
    setattr(model_admin, "delete_model", audited_delete)  # noqa: B010
    setattr(model_admin, "delete_queryset", audited_delete_queryset)  # noqa: B010


def _repr(obj: Any) -> dict[str, str]:
    return {"repr": str(obj)[:200]}


def _defined_here(func: Any) -> bool:
    module = sys.modules.get(getattr(func, "__module__", "") or "")
    return module is not None and "site-packages" not in Path(module.__file__ or "").parts


def audit_foreign_actions(site: admin.AdminSite | None = None) -> None:
    """Wrap the actions defined by third-party packages (ours audit in their services)."""
    site = site or admin.site
    for model_admin in site._registry.values():
        if getattr(model_admin, "_actions_audited", False) or not model_admin.actions:
            continue
        admin_class = type(model_admin)
        foreign = [a for a in model_admin.actions if not _defined_here(_function(admin_class, a))]
        if foreign:
            model_admin.actions = [
                _audited_action(admin_class, action) if action in foreign else action
                for action in model_admin.actions
            ]
        setattr(model_admin, "_actions_audited", True)  # noqa: B010


def _function(admin_class: type, action: Any) -> Any:
    return getattr(admin_class, action) if isinstance(action, str) else action


def _audited_action(admin_class: type, action: Any):
    func = _function(admin_class, action)
    name = func.__name__

    @functools.wraps(func)
    def run(modeladmin, request, queryset):
        with transaction.atomic():
            selected = list(queryset)
            response = func(modeladmin, request, queryset)
            for obj in selected:
                record_audit(actor=request.user, action=f"admin_action:{name}", obj=obj)
        return response

    return run
