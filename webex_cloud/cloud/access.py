"""Which identity a command may use, judged from the roles of the token it was given.

Read-only commands (audit, drift, monitoring discovery, image checks) run where a scheduled job keeps
its credentials: they must hold an identity that cannot change the cloud, so a leaked runner cannot
either. Maintenance drains hosts (disables a compute service, live-migrates servers), which Nova allows
to administrators only, so it needs an operator identity.

Keystone's default roles imply each other, admin -> manager -> member -> reader (keystone 2024.2+
``keystone/cmd/bootstrap.py`` creates them and the implied-role chain); ``_member_`` is the legacy
member role and ``service`` the services' own. A token carrying any of them can write under the default
policies of Nova, Cinder, Neutron and Glance. A custom role (for example ``webex-observer``, granted the
two read rules the audit needs to see host names and backends, docs/identities.md) is judged by what
it is not: a role that a deployment's policy overrides grant write rules to cannot be seen from a
token, which docs/identities.md says.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import Enum
from typing import Final

from webex_cloud.cloud.errors import CloudError

WRITE_ROLES: Final = frozenset({"admin", "manager", "member", "_member_", "service"})
"""Keystone's default roles that can write under the services' default policies."""
OPERATOR_ROLE: Final = "admin"
"""Disabling a compute service and live-migrating are ``rule:context_is_admin`` in Nova's defaults
(nova/policies/services.py ``os_compute_api:os-services:update``, nova/policies/migrate_server.py
``os_compute_api:os-migrate-server:migrate_live``)."""


class Access(Enum):
    READ = "read-only"
    """Audit, drift, monitoring discovery, image checks: GET only, with a token that cannot write."""
    OPERATE = "operator"
    """Maintenance: may write, with an administrator's token."""


class IdentityRefused(CloudError):
    """The token's roles do not fit the command's access; the message says which roles and the fix."""


def check_roles(access: Access, roles: Iterable[str], cloud: str) -> None:
    """Refuse a token whose roles do not fit ``access`` (raises IdentityRefused)."""
    held = sorted({role.lower() for role in roles})
    if access is Access.READ:
        writing = [role for role in held if role in WRITE_ROLES]
        if writing:
            raise IdentityRefused(
                f"cloud {cloud!r}: this command reads only and must run as a read-only identity, but the "
                f"token carries the role{'s' if len(writing) > 1 else ''} {', '.join(writing)}, which can "
                "change the cloud; give it a clouds.yaml entry of a user with the role 'reader' only "
                "(the stack's identities.reader, docs/identities.md)"
            )
        if not held:
            raise IdentityRefused(
                f"cloud {cloud!r}: the token carries no role at all; scope the clouds.yaml entry to the "
                "stack's project (project_name/project_id) with the role 'reader'"
            )
    elif OPERATOR_ROLE not in held:
        raise IdentityRefused(
            f"cloud {cloud!r}: this command changes the cloud and needs the operator identity (role "
            f"{OPERATOR_ROLE!r}), but the token carries only {', '.join(held) or 'no role'}; use the "
            "stack's identities.operator clouds.yaml entry (docs/identities.md)"
        )
