"""The webex-cloud policy pack: `pulumi preview --stack dc1 --policy-pack policies`.

Only wiring here; the rules live in webex_policies (see docs/policies.md).
"""

from pulumi_policy import EnforcementLevel, PolicyPack
from webex_policies.pack import PACK_NAME, policies

# Serves the Analyzer gRPC service and prints its port on stdout; the CLI (or the offline harness,
# webex_cloud.policy_check) connects to it. Each policy sets its own default enforcement level.
PolicyPack(name=PACK_NAME, policies=policies(), enforcement_level=EnforcementLevel.MANDATORY)
