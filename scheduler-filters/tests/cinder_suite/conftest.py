"""Cinder's real scheduler code over a real (in-memory SQLite) Cinder database.

This suite runs in its own Python process (see ../test_filters_cinder.py): Nova and Cinder
register clashing oslo.config options and cannot share one interpreter.
"""

from __future__ import annotations

import importlib
import threading
import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any
from unittest import mock

import pytest
import sqlalchemy
from cinder import context as cinder_context
from cinder import objects
from cinder.db import api as db
from cinder.db import migration
from oslo_config import cfg
from oslo_utils import timeutils

from webex_scheduler_filters import render
from webex_scheduler_filters.hints import CINDER_VOLUME_GROUP_HINT, VOLUME_GROUP_METADATA_KEY

if TYPE_CHECKING:
    from cinder.scheduler import filter_scheduler

objects.register_all()
# Since 2023.1 the engine lives in cinder.db.api; Zed (Debian bookworm) keeps it in
# cinder.db.sqlalchemy.api. The suite runs against both.
engine_api: Any = db if hasattr(db, "get_engine") else importlib.import_module("cinder.db.sqlalchemy.api")
CONF = cfg.CONF
# The request context asks the policy engine whether it is an admin, which needs parsed options.
CONF([], project="cinder", default_config_files=[])
GROUP = "dc1/messaging/store"


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
        """Statements that read or write data.

        Left out: transaction control (oslo.db opens SQLite transactions with BEGIN) and the
        liveness ping older oslo.db sends when it checks a connection out (SELECT 1).
        """
        control = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE")
        return [
            s
            for s in self.statements
            if not s.lstrip().upper().startswith(control) and s.strip() != "SELECT 1"
        ]

    def add_volume(
        self,
        group: str | None,
        host: str | None,
        project: str | None = None,
        name: str | None = None,
        metadata: dict[str, str] | None = None,
    ) -> str:
        volume_id = str(uuid.uuid4())
        metadata = {**(metadata or {}), **({VOLUME_GROUP_METADATA_KEY: group} if group else {})}
        db.volume_create(
            cinder_context.get_admin_context(),
            {
                "id": volume_id,
                "volume_type_id": self.volume_type,
                "project_id": project or self.project,
                "host": host,
                "size": 1,
                "display_name": name,
                "status": "available" if host else "creating",
                "metadata": metadata,
            },
        )
        return volume_id

    def properties(self, group: object, volume_id: str | None = None) -> dict[str, Any]:
        hints = {} if group is None else {CINDER_VOLUME_GROUP_HINT: group}
        return {
            "context": self.context,
            "scheduler_hints": hints,
            "size": 1,
            "request_spec": {"volume_id": volume_id or str(uuid.uuid4()), "volume_properties": {"size": 1}},
        }


def pool(
    backend: str, domain: str | None, free: int = 1000, cluster: str | None = None, pool_name: str = "p1"
) -> Any:
    """A pool's state as the host manager holds it, with its failure domain declared or not."""
    caps: dict[str, Any] = {
        "pool_name": pool_name,
        "free_capacity_gb": free,
        "total_capacity_gb": 5000,
        "allocated_capacity_gb": 0,
        "reserved_percentage": 0,
        "timestamp": timeutils.utcnow(),
    }
    if domain:
        caps["failure_domain"] = domain
    # Imported here: the scheduler modules need the objects registered above.
    from cinder.scheduler import host_manager

    state = host_manager.PoolState(backend, cluster, caps, pool_name)
    state.update_from_volume_capability(caps, {"availability_zone": "nova", "disabled": False})
    return state


@pytest.fixture
def scheduler() -> Iterator[filter_scheduler.FilterScheduler]:
    from cinder.scheduler import filter_scheduler

    CONF.set_override(
        "scheduler_default_filters", render.cinder_scheduler_conf().split("=", 1)[1].strip().split(",")
    )
    try:
        # The scheduler's RPC clients are built at construction; no message is sent here.
        with mock.patch("cinder.rpc.get_client"), mock.patch("cinder.rpc.get_notifier"):
            yield filter_scheduler.FilterScheduler()
    finally:
        CONF.clear_override("scheduler_default_filters")


def with_backends(sched: filter_scheduler.FilterScheduler, backends: list[Any]) -> Any:
    return mock.patch.object(sched.host_manager, "get_all_backend_states", return_value=backends)


def layout() -> list[Any]:
    # rack-a has the most free capacity: Cinder's CapacityWeigher prefers it.
    return [
        pool("cinder-a@ssd", "rack-a", free=4000),
        pool("cinder-b@ssd", "rack-b"),
        pool("cinder-c@ssd", "rack-c"),
    ]


LOOKUP_THREAD = "webex-lookup-"
"""The name every lookup thread of the filters' deadline starts with (webex_scheduler_filters.deadline)."""


@pytest.fixture(autouse=True)
def unhurried_lookups(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The suite's one in-memory database is shared by every test: a lookup abandoned at its deadline
    would go on running into the next test's transaction ("cannot start a transaction within a
    transaction"). So the tests of placement give lookups all the time a loaded machine needs, the
    deadline's own tests set the production limit back (``production_deadline``), and no test ends
    while a lookup thread still runs."""
    from webex_scheduler_filters.cinder_filter import VolumeGroupSpreadFilter

    monkeypatch.setattr(VolumeGroupSpreadFilter, "lookup_timeout", 120.0)
    yield
    for thread in threading.enumerate():
        if thread.name.startswith(LOOKUP_THREAD):
            thread.join(30)


@pytest.fixture
def production_deadline(monkeypatch: pytest.MonkeyPatch) -> float:
    """The filter's shipped lookup limit, for the tests of the deadline itself."""
    from webex_scheduler_filters import deadline
    from webex_scheduler_filters.cinder_filter import VolumeGroupSpreadFilter

    monkeypatch.setattr(VolumeGroupSpreadFilter, "lookup_timeout", deadline.LOOKUP_TIMEOUT_SECONDS)
    return deadline.LOOKUP_TIMEOUT_SECONDS


@pytest.fixture(scope="session")
def engine() -> sqlalchemy.engine.Engine:
    # Cinder's engine facade starts once per process, so the whole suite shares one database.
    CONF.set_override("connection", "sqlite://", group="database")
    engine_api.configure(CONF)
    started: sqlalchemy.engine.Engine = engine_api.get_engine()
    # Cinder's own migrations build the schema, as cinder-manage db sync does.
    migration.db_sync(engine=started)
    return started


@pytest.fixture
def cloud(engine: sqlalchemy.engine.Engine) -> Iterator[Cloud]:
    schema = sqlalchemy.MetaData()
    schema.reflect(engine)
    with engine.begin() as connection:
        for table in reversed(schema.sorted_tables):
            if table.name != "alembic_version":
                connection.execute(table.delete())
    fresh = Cloud(engine)
    yield fresh
    sqlalchemy.event.remove(engine, "before_cursor_execute", fresh._count)
