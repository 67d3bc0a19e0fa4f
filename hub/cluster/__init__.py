"""Several hub processes as one: cluster.py has the design; leadership.py (the lease in lease.py, and terms),
following.py (the leader's stream, batched in stream.py) and rpc.py (calls between processes) its parts, over
a bus (bus.py: the protocol; redis_bus.py and memory_bus.py), seeing the hub through member.py's protocols."""

from hub.cluster.cluster import Cluster

__all__ = ["Cluster"]
