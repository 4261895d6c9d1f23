"""Live cloud access: the one owner of every request this project sends to an OpenStack API.

Commands never build requests of their own: they ask :mod:`webex_cloud.cloud.session` for a session of
the identity their job allows (:mod:`webex_cloud.cloud.access`) and read typed views through it
(:mod:`webex_cloud.cloud.views`). Paging (:mod:`webex_cloud.cloud.paging`) stays on the endpoint a listing
started from, every request has a timeout, idempotent reads are retried, and every failure is a
:class:`~webex_cloud.cloud.session.CloudError` whose message names the cloud, the request and the fix.

Why openstacksdk (pinned in requirements.txt) and not a small keystoneauth client: the session, the
service catalog, clouds.yaml with its search path, ``secure.yaml``, every auth plugin (password,
application credential, token, v3oidc...), TLS settings and per-service API versions come from
openstacksdk's config loader (``openstack.config.loader.OpenStackConfig``), which is what operators'
`openstack` CLI already reads; a keystoneauth client of our own would have to re-implement that loader
and would read a clouds.yaml differently from the CLI and from the Pulumi provider (gophercloud's
clientconfig follows the same file format). What every runner installs grows by openstacksdk and its
dependencies (keystoneauth1, os-service-types, requestsexceptions, dogpile.cache, ...), all pure Python;
the requests themselves stay ours: the proxies are used only as keystoneauth adapters (GET of a path),
never through openstacksdk's resource layer, so the JSON we parse is the API's own.
"""
