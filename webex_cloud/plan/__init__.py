"""The offline plan: the real program run under the Pulumi SDK's mock engine, captured as JSON."""
