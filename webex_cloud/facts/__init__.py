"""The ground floor's shared facts: what every floor above needs to agree on, imported from here only.

- :mod:`.provider`: what the pinned OpenStack provider does to each changed input (replace, rebuild,
  resize, retype, power), read from its source at the pinned version;
- :mod:`.rollout`: the release waves' constants the catalog, the program and the gates share;
- :mod:`.invariants`: the placement rules (a pod on one host, no two pods of a service on one host, no
  two replicas of a volume group in one failure domain) as pure functions, for the placement runs, the
  live audit and the pictures.

Like :mod:`webex_cloud.naming`, these modules import nothing of the project: the standard library only.
"""
