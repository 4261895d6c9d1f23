"""One authenticated session per command run: clouds.yaml, the identity check, timeouts, retries.

Every request goes through :class:`Session`: a GET is retried on a refused connection and on the
statuses an API sends when it is briefly overloaded (keystoneauth's ``connect_retries`` and
``status_code_retries``, keystoneauth1/adapter.py), a write never on a status (it may have been applied),
and a read-only session refuses to write at all (its only POSTs are the server actions that read,
:data:`READ_ACTIONS`). Nothing here knows a resource: the views
(webex_cloud/cloud/views.py) parse what the GETs return.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, Final, Literal

from webex_cloud.cloud.access import Access, check_roles
from webex_cloud.cloud.clouds_yaml import SEARCH_PATH, region
from webex_cloud.cloud.errors import CloudError
from webex_cloud.cloud.paging import pages

Service = Literal["compute", "block_storage", "image", "network", "placement"]
SERVICE_NAMES: Final[Mapping[str, str]] = {
    "compute": "Nova",
    "block_storage": "Cinder",
    "image": "Glance",
    "network": "Neutron",
    "placement": "Placement",
}
RETRIES: Final = 2
"""Extra attempts of a GET (and of a connection that was refused before anything was sent)."""
RETRIED_STATUSES: Final = (429, 502, 503, 504)
READ_ACTIONS: Final = frozenset({"os-getConsoleOutput"})
"""The server actions that change nothing (nova 34 ``nova/api/openstack/compute/console_output.py``
returns the console log and writes nothing), the only POSTs a read-only session sends."""


class Session:
    """An authenticated connection of one identity to one cloud; use it as a context manager."""

    def __init__(self, cloud: str, access: Access, connection: Any, roles: tuple[str, ...]) -> None:
        self.cloud = cloud
        self.access = access
        self.roles = roles
        self._connection = connection

    @property
    def project_id(self) -> str:
        return str(self._connection.current_project_id or "")

    def endpoint(self, service: Service) -> str:
        return str(getattr(self._connection, service).get_endpoint())

    def _request(self, service: Service, method: str, url: str, **kwargs: Any) -> Any:
        from keystoneauth1 import exceptions as ksa
        from openstack import exceptions

        name = SERVICE_NAMES[service]
        try:
            response = getattr(self._connection, service).request(
                url, method, connect_retries=RETRIES, **kwargs
            )
            exceptions.raise_from_response(response)
        except (exceptions.SDKException, ksa.ClientException) as error:
            status = error.status_code if isinstance(error, exceptions.HttpException) else None
            raise CloudError(
                f"cloud {self.cloud!r}: {name}: {method} {url} failed: {error}", status
            ) from None
        if response.status_code == 204 or not response.content:
            return None
        try:
            return response.json()
        except ValueError as error:
            raise CloudError(
                f"cloud {self.cloud!r}: {name}: {method} {url} returned no JSON ({error})"
            ) from None

    def get(
        self,
        service: Service,
        url: str,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Mapping[str, Any]:
        """The JSON object a GET returns (retried: a GET changes nothing)."""
        return self._read(service, "GET", url, params=dict(params or {}), headers=dict(headers or {}))

    def _read(self, service: Service, method: str, url: str, **kwargs: Any) -> Mapping[str, Any]:
        """The JSON object of a request that changes nothing, retried on the statuses a read may be."""
        body = self._request(
            service,
            method,
            url,
            status_code_retries=RETRIES,
            retriable_status_codes=list(RETRIED_STATUSES),
            **kwargs,
        )
        if not isinstance(body, Mapping):
            raise CloudError(
                f"cloud {self.cloud!r}: {SERVICE_NAMES[service]}: {method} {url} returned "
                f"{type(body).__name__}, not an object"
            )
        return body

    def read_action(self, server_id: str, body: Mapping[str, Any]) -> Mapping[str, Any]:
        """A server action that only reads (:data:`READ_ACTIONS`): a POST because Nova routes every
        action through ``POST /servers/{id}/action``, allowed to a read-only session and retried like a
        GET, since it changes nothing."""
        actions = set(body)
        if len(actions) != 1 or not actions <= READ_ACTIONS:
            raise CloudError(
                f"cloud {self.cloud!r}: POST /servers/{server_id}/action {sorted(actions)} refused: not an "
                f"action that only reads ({', '.join(sorted(READ_ACTIONS))})"
            )
        return self._read("compute", "POST", f"/servers/{server_id}/action", json=dict(body))

    def listing(self, service: Service, path: str, key: str) -> Iterator[Mapping[str, Any]]:
        """Every record of a paginated Nova or Cinder list."""
        return pages(lambda url, params: self.get(service, url, params), path, key, self.endpoint(service))

    def send(
        self,
        service: Service,
        method: Literal["POST", "PUT", "DELETE"],
        url: str,
        body: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Any:
        """A write, for an operator session only; never retried on a status."""
        if self.access is not Access.OPERATE:
            raise CloudError(
                f"cloud {self.cloud!r}: {method} {url} refused: this session is "
                f"{self.access.value}; writes need the operator identity"
            )
        return self._request(service, method, url, json=body, headers=dict(headers or {}))

    def close(self) -> None:
        self._connection.close()

    def __enter__(self) -> Session:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()


def connect(cloud: str, access: Access, clouds_yaml: Path | None = None, timeout: float = 30.0) -> Session:
    """A session of ``cloud`` (a clouds.yaml entry) whose every request times out after ``timeout``
    seconds, refused unless the token's roles fit ``access``. Raises CloudError (a CloudsYamlError, before
    anything is sent, when the clouds.yaml entry is incomplete: webex_cloud/cloud/clouds_yaml.py)."""
    import openstack
    from keystoneauth1 import exceptions as ksa
    from openstack import exceptions

    found = region(cloud, clouds_yaml, timeout)
    try:
        connection = openstack.connection.Connection(config=found)
        connection.authorize()
        session: Any = connection.session
        roles = tuple(session.auth.get_access(session).role_names or ())
    except (exceptions.SDKException, ksa.ClientException) as error:
        raise CloudError(
            f"cloud {cloud!r} of {clouds_yaml or SEARCH_PATH}: cannot authenticate "
            f"({type(error).__name__}: {error}); check its auth section and that the identity endpoint "
            "answers"
        ) from None
    try:
        check_roles(access, roles, cloud)
    except CloudError:
        connection.close()
        raise
    return Session(cloud, access, connection, roles)
