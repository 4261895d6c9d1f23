"""Code that runs on the controllers, not here: the rollout copies these files to each controller.

Standard library only, and nothing in this folder imports webex_cloud: the controller's own
``/usr/bin/python3`` runs the file as a script. The build side (webex_cloud/controller/filter_release.py)
only reads it, as bytes of the release.
"""
