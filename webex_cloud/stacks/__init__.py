"""The datacenter stacks of the project, read from stacks/Pulumi.*.yaml, and their deploy waves."""
