"""The rules of the webex-cloud policy pack, as plain functions, and their CrossGuard adapters.

``resource_rules`` and ``stack_rules`` hold the decisions (no Pulumi import, unit-tested directly);
``params`` the configurable parameters and their schema; ``pack`` wraps each rule in a
ResourceValidationPolicy or StackValidationPolicy filtered on its type tokens.
"""
