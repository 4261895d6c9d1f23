"""The live placement audit: where a stack's pods and replicas really are, against its offline plan."""
