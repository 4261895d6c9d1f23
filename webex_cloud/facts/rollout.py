"""The release waves' constants, shared by the catalog's checks (config/), the program (components/) and
the gates (release/): one definition, on the ground floor, so that none of them imports another's room."""

from __future__ import annotations

DEPLOY_RUNNER_SOURCE = "deploy-runner"
"""The named source range (``sources:`` of the stack) of the machine that runs ``pulumi up``: the health
gates probe from there, so the service's security group admits it on the checked ports."""
PROBE_INTERPRETER = (".venv/bin/python", "-m", "webex_cloud.release.probe")
"""How a gate runs its probe: relative to the project folder, where pulumi-command runs local commands
(``commandOutputs.go``: ``cmd.Dir`` is the provider's working directory, which the engine sets to the
program's, pulumi ``sdk/go/common/resource/plugin/plugin.go``), with the environment Pulumi.yaml's
``virtualenv: .venv`` makes ``pulumi install`` create. It is written into every plan: the probe's module
path is part of the plan's contract (a move of ``release/probe.py`` changes every gate)."""
GENERATION_KEY = "webex_pod_generation"
"""Instance metadata key holding the pod's generation: the fingerprint of its members' flavors. The
instances have ``replaceOnChanges`` on it, so a flavor change replaces the pod as a whole."""
