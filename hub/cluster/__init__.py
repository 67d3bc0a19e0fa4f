"""Several hub processes sharing one Redis: cluster.py has the design; lease.py and stream.py its parts."""

from hub.cluster.cluster import Cluster

__all__ = ["Cluster"]
