"""The operator's clouds.yaml entry, judged before anything is sent: complete, or one error naming the
file, the entry, the field and the fix (a :class:`CloudsYamlError`, exit code 2 like every CloudError).

What openstacksdk 4.22.0 and keystoneauth1 5.18.1 (requirements.txt) do with an incomplete file, read in
their source:

- a file that is not valid YAML or JSON is skipped with a log warning only
  (openstack/config/loader.py, ``_load_yaml_json_file``), so a typo reads as "cloud not found";
- an entry or an ``auth`` that is not a mapping ends in an AttributeError deep in the loader;
- an auth option the plugin declares required (``auth_url``, an application credential's secret...) is
  ``MissingRequiredOptions`` from ``get_one`` (keystoneauth1/exceptions/auth_plugins.py), but an option
  the plugin would *prompt* the operator for (``loading.Opt(prompt=...)``: a password, a TOTP passcode)
  is not required: the password plugin is built without it, contacts Keystone, and only then raises a
  bare ``Exception('password is a required attribute')`` (keystoneauth1/identity/generic/password.py,
  ``create_plugin``). openstacksdk would ask ``pw_func`` for such an option; a command cannot ask, so a
  missing one is the operator's to fill in, refused here before any connection.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

from webex_cloud.cloud.errors import CloudError
from webex_cloud.input_files import InputFileError, read_bounded

SEARCH_PATH: Final = "clouds.yaml (OS_CLIENT_CONFIG_FILE, ./, ~/.config/openstack/, /etc/openstack/)"
DOCS: Final = "docs/identities.md"


class CloudsYamlError(CloudError):
    """The clouds.yaml cannot be used as it is; the message names the file, the entry, the field, the fix."""


def _file_read(given: Path | None) -> Path | None:
    """The file openstacksdk reads: the one given, else the first that exists of OS_CLIENT_CONFIG_FILE
    and its search path (``OpenStackConfig.__init__`` and ``CONFIG_FILES``, openstack/config/loader.py)."""
    from openstack.config import loader

    if given is not None:
        return given
    candidates = [os.environ.get("OS_CLIENT_CONFIG_FILE", ""), *loader.CONFIG_FILES]
    return next((Path(name) for name in candidates if name and os.path.exists(name)), None)


def _entry(path: Path, cloud: str) -> None:
    """Refuse a file openstacksdk would skip or choke on: not YAML/JSON, no ``clouds`` mapping, or the
    entry ``cloud`` (when present: an absent one is judged with the secure file merged) not a mapping."""
    import yaml

    try:
        text = read_bounded(path).decode("utf-8")
    except FileNotFoundError:
        raise CloudsYamlError(f"{path}: no such clouds.yaml; give an existing file (--clouds-yaml)") from None
    except (InputFileError, UnicodeDecodeError) as error:
        raise CloudsYamlError(
            f"{path}: this clouds.yaml {error}; fix the file or pass --clouds-yaml FILE"
        ) from None
    try:
        document = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as error:
        mark = getattr(error, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        reason = getattr(error, "problem", None) or error
        raise CloudsYamlError(
            f"{path}: not valid {'JSON' if path.suffix == '.json' else 'YAML'}{where}: {reason}; fix the "
            "file (openstacksdk would skip it and find no cloud)"
        ) from None
    clouds = document.get("clouds") if isinstance(document, Mapping) else None
    if not isinstance(clouds, Mapping):
        raise CloudsYamlError(
            f"{path}: no `clouds:` mapping at the top; write "
            f"`clouds: {{{cloud}: {{auth: {{...}}}}}}` ({DOCS})"
        )
    entry = clouds.get(cloud, {})
    if not isinstance(entry, Mapping):
        raise CloudsYamlError(
            f"{path}: clouds.{cloud} is {type(entry).__name__}, not a mapping; give it an `auth:` section "
            f"(auth_url, username, password, project_name...; {DOCS})"
        )
    if not isinstance(entry.get("auth", {}), Mapping):
        raise CloudsYamlError(
            f"{path}: clouds.{cloud}.auth is {type(entry['auth']).__name__}, not a mapping; give it "
            f"auth_url, username, password, project_name... ({DOCS})"
        )


def _missing(where: str, cloud: str, auth_type: str, options: list[Any]) -> CloudsYamlError:
    """The refusal of an entry without the keystoneauth ``Opt`` s in ``options``."""
    named = ", ".join(f"auth.{option.dest}" for option in options)
    secret = (
        " (or, being a secret, in a secure.yaml: OS_CLIENT_SECURE_FILE or openstacksdk's search path)"
        if any(o.secret for o in options)
        else ""
    )
    return CloudsYamlError(
        f"{where}: cloud {cloud!r} has no {named}, which its auth_type {auth_type!r} needs; set "
        f"{'it' if len(options) == 1 else 'them'} under clouds.{cloud}.auth{secret}, or pass --cloud NAME; "
        "nothing was sent to the cloud"
    )


def region(cloud: str, clouds_yaml: Path | None, timeout: float) -> Any:
    """The openstacksdk ``CloudRegion`` of ``cloud``, every auth field its plugin needs present, whose
    requests time out after ``timeout`` seconds. Raises CloudsYamlError; nothing is sent."""
    from keystoneauth1 import exceptions as ksa
    from keystoneauth1 import loading
    from openstack import exceptions
    from openstack.config import loader

    path = _file_read(clouds_yaml)
    if path is not None:
        _entry(path, cloud)
    try:
        # A file given is the whole truth: with the environment loaded, openstacksdk reads the file in
        # OS_CLIENT_CONFIG_FILE instead (an operator's sourced openrc), and takes OS_* values over it.
        config = (
            loader.OpenStackConfig(config_files=[str(clouds_yaml)], load_envvars=False)
            if clouds_yaml
            else loader.OpenStackConfig()
        )
    except exceptions.ConfigException as error:
        raise CloudsYamlError(f"{path or SEARCH_PATH}: {error}; fix the file ({DOCS})") from None
    where = str(config.config_filename or path or SEARCH_PATH)
    known = sorted(str(name) for name in config.cloud_config["clouds"])
    if path is None and cloud not in known:
        raise CloudsYamlError(
            f"no {SEARCH_PATH} found for cloud {cloud!r}; write one with that entry ({DOCS}) or pass "
            "--clouds-yaml FILE"
        )
    if cloud not in known:
        raise CloudsYamlError(
            f"{where}: no cloud entry {cloud!r} (entries: {', '.join(known) or 'none'}); add it under "
            "`clouds:`, name an existing one in the stack file's identities, or pass --cloud NAME"
        )
    try:
        found = config.get_one(cloud=cloud, api_timeout=timeout)
    except ksa.MissingRequiredOptions as error:
        auth_type = str(config.cloud_config["clouds"][cloud].get("auth_type", "password"))
        raise _missing(where, cloud, auth_type, list(error.options)) from None
    except ksa.NoMatchingPlugin as error:
        raise CloudsYamlError(
            f"{where}: clouds.{cloud}.auth_type {error.name!r} is no auth plugin; use one of "
            f"{', '.join(sorted(loading.get_available_plugin_names()))}"
        ) from None
    except ksa.AuthPluginException as error:
        # A plugin's own check of how options combine (OptionError): its message names no field, so the
        # fields it requires are listed with it.
        auth_type = str(config.cloud_config["clouds"][cloud].get("auth_type", "password"))
        installed = auth_type in loading.get_available_plugin_names()
        options = loading.get_plugin_loader(auth_type).get_options() if installed else []
        required = [f"auth.{option.dest}" for option in options if option.required]
        raise CloudsYamlError(
            f"{where}: cloud {cloud!r} cannot be used: {error} (auth_type {auth_type!r} requires "
            f"{', '.join(required) or 'no field'}); fix clouds.{cloud} ({DOCS})"
        ) from None
    except exceptions.ConfigException as error:
        raise CloudsYamlError(
            f"{where}: cloud {cloud!r} cannot be used: {error}; fix clouds.{cloud} ({DOCS})"
        ) from None
    auth_type = str(found.config["auth_type"])
    auth: Mapping[str, Any] = found.config["auth"]
    prompted = [
        option
        for option in loading.get_plugin_loader(auth_type).get_options()
        if option.prompt is not None and not auth.get(option.dest)
    ]
    if prompted:
        raise _missing(where, cloud, auth_type, prompted)
    return found
