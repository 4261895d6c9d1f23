"""The scheduler config fragments the controllers get, rendered by the filter distribution itself."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from webex_scheduler_filters import render


def render_fragments(
    nova_filters: Sequence[str] = render.NOVA_DEFAULT_FILTERS,
    cinder_filters: Sequence[str] = render.CINDER_DEFAULT_FILTERS,
    failure_domains: Mapping[str, Sequence[str]] | None = None,
) -> dict[str, str]:
    """Fragment name -> content: ``nova`` for nova-scheduler, ``cinder`` for cinder-scheduler.

    The site's own filter lists (default: Nova's and Cinder's defaults) plus ours, as the
    distribution orders them: a rollout adds our filters and takes none of the site's away. The
    cinder fragment carries the stack's failure-domain map, which the Cinder filter reads.
    """
    return {
        "nova": render.nova_scheduler_conf(nova_filters),
        "cinder": render.cinder_scheduler_conf(cinder_filters, failure_domains),
    }
