"""Cinder's real scheduler code over a real (in-memory SQLite) Cinder database.

This suite runs in its own Python process (see ../test_filters_cinder.py): Nova and Cinder
register clashing oslo.config options and cannot share one interpreter.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy
from cinder import context as cinder_context
from cinder import objects
from cinder.db import api as db
from cinder.db import api as db_api
from cinder.db import models
from oslo_config import cfg

objects.register_all()
CONF = cfg.CONF
# The request context asks the policy engine whether it is an admin, which needs parsed options.
CONF([], project="cinder", default_config_files=[])


class Cloud:
    """A Cinder database and the backend states the scheduler would hold."""

    def __init__(self, engine: sqlalchemy.engine.Engine) -> None:
        self.engine = engine
        self.project = "project-a"
        self.context = cinder_context.RequestContext(user_id="user", project_id=self.project)
        self.statements: list[str] = []
        self.volume_type = db.volume_type_create(cinder_context.get_admin_context(), {"name": "replica"})[
            "id"
        ]
        sqlalchemy.event.listen(engine, "before_cursor_execute", self._count)

    def _count(self, connection: Any, cursor: Any, statement: str, *args: Any) -> None:
        self.statements.append(statement)

    @property
    def queries(self) -> list[str]:
        """Statements that read or write data (oslo.db opens SQLite transactions with BEGIN)."""
        control = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE")
        return [s for s in self.statements if not s.lstrip().upper().startswith(control)]

    def add_volume(self, group: str | None, host: str | None, project: str | None = None) -> str:
        volume_id = str(uuid.uuid4())
        metadata = {"webex_volume_group": group} if group else {}
        db.volume_create(
            cinder_context.get_admin_context(),
            {
                "id": volume_id,
                "volume_type_id": self.volume_type,
                "project_id": project or self.project,
                "host": host,
                "size": 1,
                "status": "available" if host else "creating",
                "metadata": metadata,
            },
        )
        return volume_id

    def properties(self, group: object, volume_id: str | None = None) -> dict[str, Any]:
        hints = {} if group is None else {"webex_volume_group": group}
        return {
            "context": self.context,
            "scheduler_hints": hints,
            "size": 1,
            "request_spec": {"volume_id": volume_id or str(uuid.uuid4()), "volume_properties": {"size": 1}},
        }


@pytest.fixture(scope="session")
def engine() -> sqlalchemy.engine.Engine:
    # Cinder's engine facade starts once per process, so the whole suite shares one database.
    CONF.set_override("connection", "sqlite://", group="database")
    db_api.configure(CONF)
    started: sqlalchemy.engine.Engine = db_api.get_engine()
    models.BASE.metadata.create_all(started)
    return started


@pytest.fixture
def cloud(engine: sqlalchemy.engine.Engine) -> Iterator[Cloud]:
    with engine.begin() as connection:
        for table in reversed(models.BASE.metadata.sorted_tables):
            connection.execute(table.delete())
    fresh = Cloud(engine)
    yield fresh
    sqlalchemy.event.remove(engine, "before_cursor_execute", fresh._count)
