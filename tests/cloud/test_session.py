"""The live-cloud session: the identity a command may use, retries of reads, no writes when read-only.

openstacksdk and keystoneauth run unchanged against a scripted Keystone and Nova on 127.0.0.1
(tests/cloud/fake_cloud.py); the loopback OpenStack checks the same with real tokens
(tests/integration/test_live_audit.py).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cloud.fake_cloud import fake_cloud
from webex_cloud.cloud.access import WRITE_ROLES, Access, check_roles
from webex_cloud.cloud.errors import CloudError
from webex_cloud.cloud.session import RETRIES, connect
from webex_cloud.cloud.views import read_project


@pytest.mark.parametrize("role", sorted(WRITE_ROLES))
def test_a_read_only_command_refuses_a_token_that_can_write(role: str) -> None:
    with pytest.raises(CloudError, match=f"role {role}") as refused:
        check_roles(Access.READ, ["reader", role.upper() if role == "admin" else role], "dc1")
    assert "identities.reader" in str(refused.value)


def test_a_reader_and_a_custom_read_role_are_accepted_for_reading_only() -> None:
    check_roles(Access.READ, ["reader", "webex-observer"], "dc1")
    with pytest.raises(CloudError, match="operator identity"):
        check_roles(Access.OPERATE, ["reader", "webex-observer"], "dc1")
    check_roles(Access.OPERATE, ["admin", "member", "reader"], "dc1")


def test_a_token_without_roles_is_refused() -> None:
    with pytest.raises(CloudError, match="no role"):
        check_roles(Access.READ, [], "dc1")


def test_connect_refuses_an_admin_token_for_a_read_only_command(tmp_path: Path) -> None:
    with fake_cloud(["admin", "member", "reader"]) as cloud:
        clouds = cloud.clouds_yaml(tmp_path)
        with pytest.raises(CloudError, match=r"roles admin, member"):
            connect("fake", Access.READ, clouds, timeout=5)
        # No request beyond authentication was sent with the refused token.
        assert not [r for r in cloud.requests if r[1].startswith("/compute/v2.1/servers")]


def test_a_read_is_retried_when_the_api_is_briefly_unavailable(tmp_path: Path) -> None:
    with fake_cloud(["reader"]) as cloud:
        cloud.script["/compute/v2.1/servers/detail"] = [
            (503, {"error": "busy"}),
            (200, {"servers": [{"id": "s1", "name": "a", "status": "ACTIVE", "hostId": "h"}]}),
        ]
        cloud.script["/v3/volumes/detail"] = []
        with connect("fake", Access.READ, cloud.clouds_yaml(tmp_path), timeout=5) as session:
            assert session.project_id == "p1" and session.roles == ("reader",)
            servers = list(session.listing("compute", "/servers/detail", "servers"))
        assert [s["id"] for s in servers] == ["s1"]
        listed = [path for method, path in cloud.requests if "/servers/detail" in path]
        assert len(listed) == 2


def test_a_read_that_keeps_failing_is_an_error_naming_the_cloud_and_request(tmp_path: Path) -> None:
    with fake_cloud(["reader"]) as cloud:
        cloud.script["/compute/v2.1/servers/detail"] = [(503, {"error": "busy"})] * (RETRIES + 1)
        clouds = cloud.clouds_yaml(tmp_path)
        failed = pytest.raises(CloudError, match=r"cloud 'fake': Nova: GET /servers/detail failed")
        with connect("fake", Access.READ, clouds, timeout=5) as session, failed:
            read_project(session)
        assert len([p for _, p in cloud.requests if "/servers/detail" in p]) == RETRIES + 1


def test_a_read_only_session_never_writes(tmp_path: Path) -> None:
    with fake_cloud(["reader"]) as cloud:
        clouds = cloud.clouds_yaml(tmp_path)
        refused = pytest.raises(CloudError, match="read-only")
        with connect("fake", Access.READ, clouds, timeout=5) as session, refused:
            session.send("compute", "POST", "/servers/s1/action", {"os-stop": None})
        assert not [r for r in cloud.requests if r[0] == "POST" and "/servers" in r[1]]


def test_a_read_only_session_sends_only_the_server_actions_that_read(tmp_path: Path) -> None:
    """The console (monitoring_ops/host_keys.py) is read by a POST: that action, alone, is let through
    and retried like a read; any other action, or one smuggled beside it, is refused unsent."""
    console = {"output": "login: "}
    with fake_cloud(["reader"], {"/compute/v2.1/servers/s1/action": (200, console)}) as cloud:
        cloud.script["/compute/v2.1/servers/s1/action"] = [(503, {"error": "busy"})]
        with connect("fake", Access.READ, cloud.clouds_yaml(tmp_path), timeout=5) as session:
            assert session.read_action("s1", {"os-getConsoleOutput": {"length": None}}) == console
            smuggled: list[dict[str, object]] = [
                {"os-stop": None},
                {"os-getConsoleOutput": {}, "os-stop": None},
            ]
            for body in smuggled:
                with pytest.raises(CloudError, match="not an action that only reads"):
                    session.read_action("s1", body)
        assert [body for _, body in cloud.posted] == [{"os-getConsoleOutput": {"length": None}}] * 2


def test_an_unknown_cloud_entry_names_the_file_and_the_fix(tmp_path: Path) -> None:
    with fake_cloud(["reader"]) as cloud:
        clouds = cloud.clouds_yaml(tmp_path)
        with pytest.raises(CloudError, match=r"'other'.*--cloud NAME") as error:
            connect("other", Access.READ, clouds, timeout=5)
        assert str(clouds) in str(error.value)


def test_the_clouds_yaml_given_is_read_even_when_the_environment_names_another(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An operator with an openrc sourced: openstacksdk puts OS_CLIENT_CONFIG_FILE before the files it is
    # given and reads only the first, so --clouds-yaml was silently replaced ("Cloud fake was not found").
    other = tmp_path / "sourced" / "clouds.yaml"
    other.parent.mkdir()
    other.write_text("clouds:\n  somewhere-else: {}\n")
    monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", str(other))
    monkeypatch.setenv("OS_CLOUD", "somewhere-else")
    with (
        fake_cloud(["reader"]) as cloud,
        connect("fake", Access.READ, cloud.clouds_yaml(tmp_path), 5) as session,
    ):
        assert session.roles == ("reader",)
