"""The placement pictures, read back with xml.etree: what `place` and `audit` draw is what they found."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tests.audit.fakes import STACK, deployed, first_pods, host_id
from tests.conftest import REPO
from webex_cloud.audit import compare
from webex_cloud.audit.expected import Expected
from webex_cloud.audit.picture import audit_picture
from webex_cloud.cloud import views as observed
from webex_cloud.naming import cloud_name
from webex_cloud.picture import SVG_NS, VIOLATION_FILL, Column, Mark, Picture, render
from webex_cloud.placement.engine import RulesPipelines, ServiceResult, place
from webex_cloud.placement.picture import placement_picture
from webex_cloud.placement.plan import PlacementPlan
from webex_cloud.tags import ownership_metadata

DOCS_PICTURE = REPO / "docs" / "placement-dc1.svg"
NS = {"svg": SVG_NS}


def parse(svg: str) -> ET.Element:
    return ET.fromstring(svg.encode())


def columns_of(root: ET.Element, kind: str) -> dict[str, list[ET.Element]]:
    """Column name -> its marks (the <g> of each pod or replica)."""
    return {
        g.get("data-name", ""): g.findall("svg:g", NS)
        for g in root.iter(f"{{{SVG_NS}}}g")
        if g.get("class") == kind
    }


def violations(root: ET.Element) -> list[tuple[str, str]]:
    """(column, mark) of every mark drawn as a violation."""
    return sorted(
        (column.get("data-name", ""), mark.get("data-name", ""))
        for column in root.iter(f"{{{SVG_NS}}}g")
        if column.get("class") in ("host", "domain")
        for mark in column.findall("svg:g", NS)
        if "violation" in (mark.get("class") or "").split()
    )


def placement_svg(plan: PlacementPlan) -> str:
    return render(placement_picture(plan, place(plan, RulesPipelines(plan.failure_domains)).services))


def test_the_placement_picture_shows_every_host_pod_domain_and_replica_of_the_plan(
    plan: PlacementPlan,
) -> None:
    root = parse(placement_svg(plan))
    hosts = columns_of(root, "host")
    assert list(hosts) == [h.name for h in plan.hosts]
    drawn = {m.get("data-name") for marks in hosts.values() for m in marks}
    assert drawn == {pod.name for s in plan.services for pod in s.pods}
    domains = columns_of(root, "domain")
    assert list(domains) == list(plan.failure_domains)
    replicas = [m.get("data-name") for marks in domains.values() for m in marks]
    assert len(replicas) == sum(len(g.replicas) for s in plan.services for g in s.volume_groups)
    assert violations(root) == []


def test_the_committed_readme_picture_is_what_place_draws_for_the_example_plan(plan: PlacementPlan) -> None:
    assert DOCS_PICTURE.read_text(encoding="utf-8") == placement_svg(plan), (
        f"{DOCS_PICTURE} is stale: regenerate it with `python -m webex_cloud plan --stack dc1 && "
        "python -m webex_cloud place --stack dc1 --engine rules --svg docs/placement-dc1.svg`"
    )


def test_a_pod_booted_onto_a_siblings_host_is_drawn_red_where_it_breaks_the_rule(expected: Expected) -> None:
    cloud = deployed(expected)
    pod0, pod1 = first_pods(expected, "messaging")[:2]
    for server in cloud.servers:
        if server["name"] == pod1.instances[0]:
            server.update({"hostId": host_id(expected.hosts[0]), observed.HOST_FIELD: expected.hosts[0]})
    report = compare.audit(expected, cloud.observation())
    root = parse(render(audit_picture(expected, report, host_names_visible=True)))
    assert violations(root) == sorted(
        [(expected.hosts[0], pod0.name), (expected.hosts[0], pod1.name), (expected.hosts[1], pod1.name)]
    )
    red = [
        rect.get("fill")
        for g in root.iter(f"{{{SVG_NS}}}g")
        if "violation" in (g.get("class") or "").split()
        for rect in g.findall("svg:rect", NS)
    ]
    assert red and set(red) == {VIOLATION_FILL}
    assert list(columns_of(root, "host")) == list(expected.hosts)


def test_without_host_names_the_columns_are_host_ids_and_the_limits_are_written(expected: Expected) -> None:
    report = compare.audit(expected, deployed(expected).observation(admin=False))
    root = parse(render(audit_picture(expected, report, host_names_visible=False)))
    hosts = columns_of(root, "host")
    assert hosts and all(name.startswith(compare.HOST_ID_PREFIX) for name in hosts)
    notes = " ".join(t.text or "" for t in root.iter(f"{{{SVG_NS}}}text"))
    assert observed.HOST_RULE in notes and observed.BACKEND_RULE in notes


def test_names_are_escaped_and_the_output_is_deterministic() -> None:
    nasty = "a<b>&\"c'"
    picture = Picture(nasty, (Column(nasty, (Mark(nasty, nasty, "pod", True, nasty),)),), ())
    svg = render(picture)
    assert svg == render(picture)
    root = parse(svg)
    assert [g.get("data-name") for g in root.iter(f"{{{SVG_NS}}}g") if g.get("class") == "pod violation"] == [
        nasty
    ]
    assert nasty in {t.text for t in root.iter(f"{{{SVG_NS}}}text")}


@pytest.mark.parametrize("stack", [STACK])
def test_place_writes_the_picture_it_proves(stack: str, plan_file: Path, tmp_path: Path) -> None:
    from webex_cloud.commands.place import main

    out = tmp_path / "p.svg"
    assert main(["--stack", stack, "--plan", str(plan_file), "--engine", "rules", "--svg", str(out)]) == 0
    assert columns_of(parse(out.read_text()), "host")


def test_replicas_sharing_a_domain_and_a_stray_volume_are_drawn_red_in_that_domain(
    expected: Expected,
) -> None:
    cloud = deployed(expected)
    group = next(g for g in expected.groups if len(g.replicas) >= 2)
    (domain, backends), *_ = expected.failure_domains.items()
    for volume in cloud.volumes:
        if volume["name"] == group.replicas[1]:
            volume[observed.BACKEND_FIELD] = f"{backends[-1]}#pool"
    cloud.volume("dc1-stray<&>", backends[0], ownership_metadata(group.service, "t", STACK))
    report = compare.audit(expected, cloud.observation())
    root = parse(render(audit_picture(expected, report, host_names_visible=True)))
    assert violations(root) == sorted(
        [(domain, group.replicas[0]), (domain, group.replicas[1]), (domain, "dc1-stray<&>")]
    )


def test_the_placement_picture_draws_what_the_proof_would_refuse(plan: PlacementPlan) -> None:
    """Two pods on one host and two replicas in one domain, as a placement result: both drawn red."""
    service = next(s for s in plan.services if len(s.pods) >= 2 and s.volume_groups)
    group = service.volume_groups[0]
    host, domain = plan.hosts[0].name, next(iter(plan.failure_domains))
    result = ServiceResult(
        service.name,
        pod_hosts={service.pods[0].name: [host], service.pods[1].name: [host]},
        group_domains={group.name: [domain] * len(group.replicas)},
    )
    root = parse(render(placement_picture(plan, [result])))
    replicas = [cloud_name(plan.stack, r.name) for r in group.replicas]
    assert violations(root) == sorted(
        [(host, service.pods[0].name), (host, service.pods[1].name), *((domain, r) for r in replicas)]
    )
