from django.apps import AppConfig
from django.db.models.signals import post_migrate


class StaffConfig(AppConfig):
    name = "staff"
    verbose_name = "Staff roles"

    def ready(self) -> None:
        from .admin_audit import audit_foreign_actions, install
        from .roles import sync_roles

        post_migrate.connect(sync_roles, dispatch_uid="staff.sync_roles")
        # After every app's admin registered (the admin app comes first and discovers them).
        install()
        audit_foreign_actions()
