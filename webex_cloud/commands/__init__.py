"""The top floor: one module per ``python -m webex_cloud <command>``, composing the rooms below.

A command parses its options, calls the capabilities below it (plan/, policy_check/, placement/,
preview/, audit/, stacks/, controller/, cloud/) and maps their errors to the exit-code contract
(webex_cloud/exit_codes.py) through webex_cloud/cli_common.py; nothing below imports a command. The
pull-request check (:mod:`.pr_check`) runs the other commands (some as subprocesses, in the base
checkout's environment) and :mod:`.comment` assembles their outputs; :mod:`.pipeline` is the
plan-then-policy step the ``plan`` command runs. webex_cloud/cli.py dispatches to them by name.
A new operational command is a package of its own for what it knows, plus one module here.
"""
