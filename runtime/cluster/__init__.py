"""A team server as several nodes sharing one Postgres (and a Redis): session ownership by lease,
reads served by any node from Postgres, commands forwarded to the owner. docs/deploy.md."""

from .node import ClusterRuntime

__all__ = ["ClusterRuntime"]
