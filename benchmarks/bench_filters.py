"""Our scheduler filters against the built-ins they replace, at 1,000 and 10,000 hosts/pools.

Nova: ``PodFilter`` against ``ServerGroupAntiAffinityFilter``, per request, both through Nova's
``HostFilterHandler`` over in-memory host states and both paying their database queries against a
real Nova cell database (SQLite file, Nova's own models, 372 instances with metadata) and API
database: ours its metadata queries and, for the anchor being created, the read of its build
request (its room, see docs/scheduler-filters.md), the built-in the group members' hosts that Nova's
scheduler reads before filtering. Target: ours / built-in <= 1.5.

Cinder: ``VolumeGroupSpreadFilter`` against ``DifferentBackendFilter`` placing the third replica
of a volume (two siblings placed), both through Cinder's ``BackendFilterHandler`` over pool
states, against a real Cinder database (SQLite file, Cinder's own schema), so every query the
filters make is paid. Target: built-in / ours >= 100 at 1,000 pools.

Nova and Cinder cannot share one interpreter (clashing oslo.config options), so each part runs
in a child process of this one.

    .venv/bin/python -m benchmarks.bench_filters [--sizes 1000 10000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from functools import partial
from typing import Any

from benchmarks.commands import load_average
from webex_cloud.paths import PROJECT_DIR

NOVA_TARGET = 1.5
CINDER_TARGET = 100.0


def best_of(repeat: int, run: Callable[[], object]) -> float:
    timings = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        timings.append(time.perf_counter() - start)
    return min(timings)


def count_queries(engine: Any) -> list[int]:
    """A one-item counter of the statements ``engine`` executes from now on (reset it by assigning 0)."""
    import sqlalchemy

    queries = [0]

    def count(connection: Any, cursor: Any, statement: str, *rest: Any) -> None:
        # Transaction control (oslo.db's BEGIN on SQLite) is not a query.
        if not statement.lstrip().upper().startswith(("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE")):
            queries[0] += 1

    sqlalchemy.event.listen(engine, "before_cursor_execute", count)
    return queries


def nova_part(sizes: list[int], repeat: int) -> dict[str, Any]:
    import nova.conf
    from nova import context as nova_context
    from nova import objects
    from nova.db.api import api as api_db
    from nova.db.api import models as api_models
    from nova.db.main import api as main_db
    from nova.db.main import models
    from nova.scheduler import filters, host_manager
    from nova.scheduler.filters.affinity_filter import ServerGroupAntiAffinityFilter
    from webex_scheduler_filters import hints
    from webex_scheduler_filters.nova_filter import PodFilter

    objects.register_all()
    conf = nova.conf.CONF
    from osprofiler import opts as profiler_opts

    profiler_opts.set_defaults(conf)  # nova.db.main.api reads [profiler] when osprofiler is installed
    conf([], project="nova", default_config_files=[])
    workdir = tempfile.mkdtemp(prefix="bench-nova-")
    conf.set_override("connection", f"sqlite:///{workdir}/nova.sqlite", group="database")
    main_db.configure(conf)
    engine = main_db.get_engine()
    models.BASE.metadata.create_all(engine)
    conf.set_override("connection", f"sqlite:///{workdir}/nova_api.sqlite", group="api_database")
    api_db.configure(conf)
    api_models.BASE.metadata.create_all(api_db.get_engine())

    queries = count_queries(engine)
    api_queries = count_queries(api_db.get_engine())
    context = nova_context.RequestContext(user_id="user", project_id="project-a")
    admin = nova_context.get_admin_context()
    cell = str(uuid.uuid4())
    # A service of 4 pods x 3 instances, and 30 other services of the same shape in the cell.
    anchors: list[str] = []
    for service in range(31):
        for pod in range(4):
            for member in range(3):
                instance = str(uuid.uuid4())
                key = hints.pod_key("dc1", f"svc{service}", f"svc{service}-pod-{pod}")
                main_db.instance_create(
                    admin,
                    {
                        "uuid": instance,
                        "project_id": "project-a",
                        "host": f"compute-{(service * 4 + pod) % 997}",
                        "metadata": {
                            hints.INSTANCE_SERVICE_METADATA_KEY: hints.service_key("dc1", f"svc{service}"),
                            hints.INSTANCE_POD_METADATA_KEY: key,
                            hints.INSTANCE_POD_ROLE_METADATA_KEY: "anchor" if member == 0 else "member",
                        },
                    },
                )
                if service == 0 and member == 0:
                    anchors.append(instance)

    def one_cell(ctx: Any, fn: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
        # scatter_gather_skip_cell0 over a deployment of one cell: the query, in this process.
        return {cell: fn(ctx, *args, **kwargs)}

    handler = filters.HostFilterHandler()
    results: dict[str, Any] = {}
    from unittest import mock

    with mock.patch.object(nova_context, "scatter_gather_skip_cell0", side_effect=one_cell):
        for size in sizes:
            hosts = [host_manager.HostState(f"compute-{i}", f"compute-{i}", cell) for i in range(size)]
            group = objects.InstanceGroup(
                uuid=str(uuid.uuid4()), policy="anti-affinity", members=[], hosts=[]
            )
            created = str(uuid.uuid4())
            new_pod = hints.pod_key("dc1", "svc0", "svc0-pod-4")
            ours_spec = objects.RequestSpec(
                _context=context,
                instance_uuid=created,
                instance_group=group,
                scheduler_hints={hints.NOVA_POD_HINT: [new_pod]},
            )
            ours_spec._context = context
            # The anchor being created: not in its cell yet, kept in a build request (nova/compute/api.py
            # _provision_instances).
            objects.BuildRequest(
                context,
                instance=objects.Instance(
                    context=context,
                    uuid=created,
                    metadata={
                        hints.INSTANCE_SERVICE_METADATA_KEY: hints.service_key("dc1", "svc0"),
                        hints.INSTANCE_POD_METADATA_KEY: new_pod,
                        hints.INSTANCE_POD_ROLE_METADATA_KEY: hints.ANCHOR_ROLE,
                    },
                ),
                instance_uuid=created,
                project_id="project-a",
                block_device_mappings=objects.BlockDeviceMappingList(),
                tags=objects.TagList(),
            ).create()

            def builtin_request(size: int = size, hosts: list[Any] = hosts) -> int:
                # The built-in's per-request database work, done by the scheduler before filtering
                # (nova/scheduler/utils.py _get_instance_group_hosts_and_members -> InstanceGroup.get_hosts:
                # the members' instances by UUID), then the filter over every host.
                members = objects.InstanceList.get_by_filters(context, {"uuid": anchors, "deleted": False})
                spec = objects.RequestSpec(
                    instance_uuid=str(uuid.uuid4()),
                    instance_group=objects.InstanceGroup(
                        uuid=str(uuid.uuid4()),
                        policy="anti-affinity",
                        members=[m.uuid for m in members],
                        hosts=[m.host for m in members],
                    ),
                    scheduler_hints={},
                )
                for state in hosts:
                    state.instances = {}
                for m in members:
                    if int(m.host.split("-")[1]) < size:
                        hosts[int(m.host.split("-")[1])].instances = {m.uuid: None}
                return len(handler.get_filtered_objects([ServerGroupAntiAffinityFilter()], hosts, spec))

            assert len(handler.get_filtered_objects([PodFilter()], hosts, ours_spec)) == size - 4
            assert builtin_request() == size - 4
            queries[0] = api_queries[0] = 0
            handler.get_filtered_objects([PodFilter()], hosts, ours_spec)
            ours_queries = queries[0] + api_queries[0]
            queries[0] = api_queries[0] = 0
            builtin_request()
            builtin_queries = queries[0] + api_queries[0]
            t_ours = best_of(repeat, partial(handler.get_filtered_objects, [PodFilter()], hosts, ours_spec))
            t_builtin = best_of(repeat, builtin_request)
            results[str(size)] = {
                "ours_ms": t_ours * 1e3,
                "builtin_ms": t_builtin * 1e3,
                "ours_queries": ours_queries,
                "builtin_queries": builtin_queries,
                "ratio": t_ours / t_builtin,
            }
    return results


def cinder_part(sizes: list[int], repeat: int) -> dict[str, Any]:
    from cinder import objects

    # Cinder's scheduler modules need its versioned objects registered before they import.
    objects.register_all()
    from cinder import context as cinder_context
    from cinder.db import api as db
    from cinder.db import models
    from cinder.scheduler import filters, host_manager
    from cinder.scheduler.filters.affinity_filter import DifferentBackendFilter
    from oslo_config import cfg
    from oslo_utils import timeutils
    from webex_scheduler_filters.cinder_filter import VolumeGroupSpreadFilter

    workdir = tempfile.mkdtemp(prefix="bench-cinder-")
    cfg.CONF([], project="cinder", default_config_files=[])
    cfg.CONF.set_override("connection", f"sqlite:///{workdir}/cinder.sqlite", group="database")
    db.configure(cfg.CONF)
    # DifferentBackendFilter builds a volume API client, which needs an RPC transport; the
    # in-process fake one never carries a message here.
    import oslo_messaging.opts
    from cinder import rpc

    for group, options in oslo_messaging.opts.list_opts():
        if group is None:
            cfg.CONF.register_opts(options)
    cfg.CONF.set_override("transport_url", "fake:/")
    rpc.init(cfg.CONF)
    engine = db.get_engine()
    models.BASE.metadata.create_all(engine)
    queries = count_queries(engine)
    admin = cinder_context.get_admin_context()
    context = cinder_context.RequestContext(
        user_id="user", project_id="project-a", roles=["member", "reader"]
    )
    volume_type = db.volume_type_create(admin, {"name": "replica"})["id"]
    group = "dc1/messaging/store"
    siblings = []
    for i in range(2):
        volume_id = str(uuid.uuid4())
        db.volume_create(
            admin,
            {
                "id": volume_id,
                "project_id": "project-a",
                "volume_type_id": volume_type,
                "host": f"cinder-{i}@ceph#pool",
                "size": 1,
                "status": "available",
                "metadata": {"webex_volume_group": group},
            },
        )
        siblings.append(volume_id)
    # Unrelated volumes, so the queries search a populated table.
    for i in range(300):
        db.volume_create(
            admin,
            {
                "id": str(uuid.uuid4()),
                "project_id": "project-a",
                "size": 1,
                "volume_type_id": volume_type,
                "host": f"cinder-{i % 97}@ceph#pool",
                "status": "available",
                "metadata": {"webex_volume_group": f"other/{i}"},
            },
        )
    # The volume being scheduled has its row, as the create flow writes it before the cast: the
    # filter reads (and on the first request records) its admin-metadata link.
    scheduled = str(uuid.uuid4())
    db.volume_create(
        admin,
        {
            "id": scheduled,
            "project_id": "project-a",
            "volume_type_id": volume_type,
            "size": 1,
            "status": "creating",
            "metadata": {"webex_volume_group": group},
        },
    )
    handler = filters.BackendFilterHandler("cinder.scheduler.filters")
    results: dict[str, Any] = {}
    for size in sizes:
        pools = []
        for i in range(size):
            caps = {
                "pool_name": "pool",
                "free_capacity_gb": 100,
                "total_capacity_gb": 100,
                "failure_domain": f"rack-{i}",
                "timestamp": timeutils.utcnow(),
            }
            pool = host_manager.PoolState(f"cinder-{i}@ceph", None, caps, "pool")
            pool.update_from_volume_capability(caps, {"availability_zone": "nova", "disabled": False})
            pools.append(pool)
        ours_props = {
            "context": context,
            "scheduler_hints": {"webex_volume_group": group},
            "request_spec": {"volume_id": scheduled},
        }
        builtin_props = {
            "context": context,
            "scheduler_hints": {"different_host": siblings},
            "request_spec": {"volume_id": str(uuid.uuid4())},
        }

        t_ours, ours_queries = measure(handler, VolumeGroupSpreadFilter, pools, ours_props, repeat, queries)
        # The built-in pays a query per pool: one request takes over a minute at 10,000 pools.
        runs = 1 if size > 1000 else repeat
        t_builtin, builtin_queries = measure(
            handler, DifferentBackendFilter, pools, builtin_props, runs, queries
        )
        results[str(size)] = {
            "ours_ms": t_ours * 1e3,
            "builtin_ms": t_builtin * 1e3,
            "ours_queries": ours_queries,
            "builtin_queries": builtin_queries,
            "speedup": t_builtin / t_ours,
        }
    return results


def measure(
    handler: Any,
    filter_class: type,
    pools: list[Any],
    properties: dict[str, Any],
    runs: int,
    queries: list[int],
) -> tuple[float, int]:
    """Best time of ``runs`` requests through Cinder's handler, and the queries one request makes."""
    best = float("inf")
    for _ in range(runs):
        queries[0] = 0
        start = time.perf_counter()
        passing = handler.get_filtered_objects([filter_class], pools, properties)
        best = min(best, time.perf_counter() - start)
        assert len(passing) == len(pools) - 2  # both keep the two siblings' backends out
    return best, queries[0]


def child(part: str, sizes: list[int], repeat: int) -> dict[str, Any]:
    command = [
        sys.executable,
        "-W",
        "ignore",
        "-m",
        "benchmarks.bench_filters",
        "--part",
        part,
        "--repeat",
        str(repeat),
        "--sizes",
        *map(str, sizes),
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=False, cwd=PROJECT_DIR)
    if done.returncode != 0:
        raise SystemExit(f"{part} part failed:\n{done.stdout}\n{done.stderr}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--part", choices=["nova", "cinder"], help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.part:
        run = nova_part if args.part == "nova" else cinder_part
        print(json.dumps(run(args.sizes, args.repeat)))
        return 0
    print(f"before: {load_average()}", flush=True)
    nova = child("nova", args.sizes, args.repeat)
    print(f"after Nova: {load_average()}", flush=True)
    cinder = child("cinder", args.sizes, args.repeat)
    print(f"after Cinder: {load_average()}", flush=True)
    ok = True
    print(
        "Nova, per request with its database queries: PodFilter vs ServerGroupAntiAffinityFilter "
        f"(target ours/built-in <= {NOVA_TARGET})"
    )
    for size, r in nova.items():
        print(
            f"  {int(size):>6} hosts: ours {r['ours_ms']:.2f} ms ({r['ours_queries']} queries), built-in "
            f"{r['builtin_ms']:.2f} ms ({r['builtin_queries']} queries), ratio {r['ratio']:.2f}"
        )
        ok &= r["ratio"] <= NOVA_TARGET
    print(
        "Cinder, per request: VolumeGroupSpreadFilter vs DifferentBackendFilter "
        f"(target built-in/ours >= {CINDER_TARGET:.0f} at 1,000 pools)"
    )
    for size, r in cinder.items():
        print(
            f"  {int(size):>6} pools: ours {r['ours_ms']:.2f} ms ({r['ours_queries']} queries), "
            f"built-in {r['builtin_ms']:.1f} ms ({r['builtin_queries']} queries), "
            f"speed-up {r['speedup']:.0f}x"
        )
        if size == "1000":
            ok &= r["speedup"] >= CINDER_TARGET
    print("targets met" if ok else "TARGET MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
