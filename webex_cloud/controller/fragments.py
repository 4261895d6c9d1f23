"""The scheduler config fragments the controllers get, rendered by the filter distribution itself."""

from __future__ import annotations

from webex_scheduler_filters import render


def render_fragments() -> dict[str, str]:
    """Fragment name -> content: ``nova`` for nova-scheduler, ``cinder`` for cinder-scheduler.

    Nova's and Cinder's default filter lists plus ours, as the distribution orders them.
    """
    return {"nova": render.nova_scheduler_conf(), "cinder": render.cinder_scheduler_conf()}
