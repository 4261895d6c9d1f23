"""The program's config as the Pulumi engine hands it over (``PULUMI_CONFIG``), read without surprises.

The language host passes the stack's config to the program as JSON in the ``PULUMI_CONFIG``
environment variable, which the SDK parses on first use (pulumi/runtime/config.py,
``get_config_env``: ``json.loads`` of the variable, then ``key in`` the result). A value set by hand or
left over in a shell can be anything; it becomes a CatalogError naming the variable, not a traceback.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from webex_cloud.config.errors import CatalogError, Problem

ENVIRONMENT = "PULUMI_CONFIG"
"""Where the engine's config comes from; problems with it name this instead of a file."""


@dataclass(frozen=True)
class ProgramConfig:
    datacenter: object | None
    """``webex-cloud:datacenter``, parsed from its JSON form (None when unset)."""
    cloud: str | None
    """``openstack:cloud``: the clouds.yaml entry the provider authenticates with."""


def program_config() -> ProgramConfig:
    """Read the settings the program uses; raise CatalogError when the engine's config is unusable."""
    try:
        config = pulumi.Config()
        return ProgramConfig(
            datacenter=config.get_object("datacenter"),
            cloud=pulumi.Config("openstack").get("cloud"),
        )
    except pulumi.ConfigTypeError as error:
        raise CatalogError(
            [
                Problem(
                    ENVIRONMENT,
                    f"config.{error.key}",
                    f"not a valid {error.expect_type}; set it in the stack file (or with `pulumi config set "
                    "--path`) as a mapping",
                )
            ]
        ) from None
    except (ValueError, TypeError, AttributeError, KeyError, IndexError, RecursionError) as error:
        reason = str(error).splitlines()[0][:200] if str(error) else type(error).__name__
        raise CatalogError(
            [
                Problem(
                    ENVIRONMENT,
                    "",
                    f"the engine's config cannot be read ({reason}); it must be the JSON object of "
                    "the stack's settings the Pulumi CLI passes: unset PULUMI_CONFIG (and any "
                    "PULUMI_CONFIG_<KEY>) in your shell, or run the program through `pulumi`",
                )
            ]
        ) from None
