"""The webex-cloud policy pack: `pulumi preview --stack <stack> --policy-pack policies`.

Only wiring here; the rules live in webex_policies (see docs/policies.md).
"""

import gc

from pulumi_policy import EnforcementLevel, PolicyPack

from webex_policies.pack import PACK_NAME, policies

# The SDK turns each request's properties into fresh dicts and proxies for every policy: millions of
# short-lived containers next to a large, long-lived AnalyzeStack request. With the default
# thresholds the collector rescans the long-lived objects so often that a 10,000-resource stack
# costs twice as much and grows faster than linearly; nothing here builds reference cycles, so
# collecting rarely loses nothing.
gc.set_threshold(100_000, 50, 100)

# Serves the Analyzer gRPC service and prints its port on stdout; the CLI (or the offline harness,
# webex_cloud.policy_check) connects to it. Each policy sets its own default enforcement level.
PolicyPack(name=PACK_NAME, policies=policies(), enforcement_level=EnforcementLevel.MANDATORY)
