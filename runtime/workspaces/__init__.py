"""Workspaces (SPEC §10): a session works on the user's own repository in its own git worktree.

``project`` validates ``CreateSessionArgs.workspace`` and makes the session branch; ``workspace``
holds one session's worktree and its changes, diff, commit, merge and discard; ``watcher`` turns
file-system changes into ``file:*`` events; ``git`` runs the git CLI. Why the git CLI and not a
library: docs/workspaces.md.
"""

from .project import resolve_workspace
from .workspace import Workspace

__all__ = ["Workspace", "resolve_workspace"]
