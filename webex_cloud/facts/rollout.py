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

INSTANCE_STEP_TIMEOUT_S = 30 * 60
"""How long the provider waits on one create, update or delete of a pod instance before it fails the step:
terraform-provider-openstack v3.4.0 ``openstack/resource_openstack_compute_instance_v2.go:44-48``
(``Timeouts``: ``DefaultTimeout(30 * time.Minute)`` for Create, Update and Delete). The program sets no
``customTimeouts``, so these defaults are the bound."""
ATTACHMENT_STEP_TIMEOUT_S = 10 * 60
"""The same for a volume attachment (``resource_openstack_compute_volume_attach_v2.go:26-29``, v3.4.0:
Create and Delete 10 minutes): a wave's gate also waits for its pods' attachments."""
IMAGE_IMPORT_TIMEOUT_S = 30 * 60
"""How long the provider waits for Glance to import a new image (web-download) until it is active:
terraform-provider-openstack v3.4.0 ``openstack/resource_openstack_images_image_v2.go:31-33`` (Create
``DefaultTimeout(30 * time.Minute)``; the images are imported side by side, and the program sets no
``customTimeouts``)."""
DEPLOY_STEPS_BEFORE_UP_S = 20 * 60 + IMAGE_IMPORT_TIMEOUT_S
"""What deploy-stack.yml runs before ``pulumi up`` (install, the Pulumi CLI, finding the images, their
import, their check, preview, drift): minutes of work that a release's bound must not eat into."""
DEPLOY_JOB_LIMIT_MINUTES = 1440
"""The longest a stack's deploy job may run: 24 hours, when the job's ``GITHUB_TOKEN`` expires (GitHub
documents it valid until the job ends or 24 hours). A release whose bound is longer is a rollout to split
(more ``max_unavailable``, a shorter ``deadline_s``), not a timeout to raise."""


def wave_count(pods: int, max_unavailable: int) -> int:
    """How many waves a release of ``pods`` pods takes, ``max_unavailable`` at a time (release/rollout.py
    ``waves`` forms them; a test keeps the two equal)."""
    step = max(1, max_unavailable)
    return -(-pods // step)


def release_bound_s(pods: int, max_unavailable: int, deadline_s: int, attached: bool) -> int:
    """The longest a service's release can take before something gives up on its own: its waves run one
    after the other, and each wave may spend a whole delete and a whole create of its instances (the
    instances of a wave are replaced side by side, delete-before-replace on their ports), the same for its
    attachments when the service attaches volumes, then its gate's whole deadline."""
    per_wave = 2 * INSTANCE_STEP_TIMEOUT_S + deadline_s + (2 * ATTACHMENT_STEP_TIMEOUT_S if attached else 0)
    return wave_count(pods, max_unavailable) * per_wave
