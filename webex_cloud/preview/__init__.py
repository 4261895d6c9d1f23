"""Risk-ranked release previews: what a stack will change, and which of those changes are dangerous.

Two sources feed one change model (:mod:`webex_cloud.change.model`): a real ``pulumi preview --json``
output (:mod:`.pulumi_json`), or the difference between two offline plans, optionally against the last
deployed checkpoint read from the self-managed S3 state backend (:mod:`.offline`, :mod:`.state`).
:mod:`.risks` ranks the changes and :mod:`.render` writes the Markdown and JSON reports.
"""
