"""What `/health/` checks beyond django-health-check's own database and cache probes."""

import dataclasses

from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from health_check.base import HealthCheck
from health_check.exceptions import ServiceUnavailable

from .celery import app


@dataclasses.dataclass
class Broker(HealthCheck):
    """The Celery broker accepts a connection (no worker needed)."""

    def run(self) -> None:
        try:
            with app.connection_for_write() as conn:
                conn.ensure_connection(max_retries=1, timeout=2)
        except Exception as error:
            raise ServiceUnavailable("broker unreachable") from error


@dataclasses.dataclass
class Migrations(HealthCheck):
    """Every migration in the code is applied to the database."""

    def run(self) -> None:
        executor = MigrationExecutor(connection)
        if executor.migration_plan(executor.loader.graph.leaf_nodes()):
            raise ServiceUnavailable("unapplied migrations")
