"""What a change to a stack is (:mod:`.model`): actions, changed inputs, the dependency graph and the
controllers' topology, whatever the source (a real ``pulumi preview --json`` or two offline plans).

Below every judge of an update: the preview's risks and report (preview/) and the release waves'
disruption count (release/disruption.py) read the same model, and neither imports the other's room.
"""
