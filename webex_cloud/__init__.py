"""webex-cloud: one service catalog, two OpenStack datacenter stacks."""
