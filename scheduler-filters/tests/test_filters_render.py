"""The scheduler configuration fragments the controller stack writes."""

from __future__ import annotations

import configparser
import json
from pathlib import Path

import pytest

from webex_scheduler_filters import render


def _parse(text: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False)
    parser.read_string(text)
    return parser


def test_nova_fragment_keeps_nova_filters_and_adds_ours_last() -> None:
    text = render.nova_scheduler_conf()
    assert text.count("available_filters = ") == 2  # a MultiStrOpt: one line per source
    assert f"available_filters = {render.NOVA_FILTER_PATH}" in text
    enabled = _parse(text)["filter_scheduler"]["enabled_filters"].split(",")
    assert enabled[:-1] == list(render.NOVA_DEFAULT_FILTERS)
    assert enabled[-1] == "PodFilter"


def test_cinder_fragment_puts_ours_first() -> None:
    enabled = _parse(render.cinder_scheduler_conf())["DEFAULT"]["scheduler_default_filters"].split(",")
    assert enabled == ["VolumeGroupSpreadFilter", *render.CINDER_DEFAULT_FILTERS]


def test_cinder_fragment_carries_the_failure_domain_map() -> None:
    domains = {"rack-a": ["cinder-a@ssd"], "rack-b": ["cinder-b@ssd", "cinder-b@capacity"]}
    parsed = _parse(render.cinder_scheduler_conf(failure_domains=domains))
    assert json.loads(parsed["webex_scheduler_filters"]["failure_domains"]) == {
        "cinder-a@ssd": "rack-a",
        "cinder-b@capacity": "rack-b",
        "cinder-b@ssd": "rack-b",
    }


def test_cinder_volume_sections_declare_each_backends_domain() -> None:
    domains = {"rack-a": ["cinder-a@ceph-a", "cinder-a@lvm"], "rack-b": ["cinder-b@ceph-b"]}
    parsed = _parse(render.cinder_volume_conf(domains, "cinder-a"))
    assert parsed.sections() == ["ceph-a", "lvm"]
    assert json.loads(parsed["ceph-a"]["extra_capabilities"]) == {"failure_domain": "rack-a"}


@pytest.mark.parametrize(
    "domains, message",
    [
        ({"rack-a": ["x@b"], "rack-b": ["x@b"]}, "two failure domains"),
        ({"rack-a": ["x@b#pool"]}, "not a 'host@backend'"),
        ({"rack-a": ["nobackend"]}, "not a 'host@backend'"),
    ],
)
def test_bad_failure_domain_map_is_refused(domains: dict[str, list[str]], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        render.backend_failure_domains(domains)


def test_cli_prints_fragments_and_names_the_bad_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = tmp_path / "domains.json"
    good.write_text(json.dumps({"rack-a": ["cinder-a@ceph-a"]}))
    assert render.main(["cinder-volume", "--host", "cinder-a", "--failure-domains", str(good)]) == 0
    assert "[ceph-a]" in capsys.readouterr().out
    bad = tmp_path / "bad.json"
    bad.write_text("[1, 2]")
    assert render.main(["cinder-volume", "--host", "cinder-a", "--failure-domains", str(bad)]) == 2
    assert str(bad) in capsys.readouterr().err
    assert render.main(["nova"]) == 0
    assert "PodFilter" in capsys.readouterr().out
