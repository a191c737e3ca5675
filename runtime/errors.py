"""The runtime's named errors. Each carries the wire ``code`` and the HTTP status the server maps it to."""

from __future__ import annotations

from typing import Any


class AgentTuiError(Exception):
    """Base of every error the runtime raises on purpose."""

    code: str = "INTERNAL_ERROR"
    status: int = 500

    def __init__(self, message: str, *, code: str | None = None, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.details = details

    def to_wire(self) -> dict[str, Any]:
        body: dict[str, Any] = {"error": self.message, "code": self.code}
        if self.details is not None:
            body["details"] = self.details
        return body


class InvalidRequest(AgentTuiError):
    code = "INVALID_REQUEST"
    status = 400


class UnknownArchitecture(InvalidRequest):
    code = "UNKNOWN_ARCHITECTURE"


class AgentLoadError(AgentTuiError):
    """An agent is registered but cannot be used: its package failed to import or its spec is bad."""

    code = "AGENT_LOAD_FAILED"
    status = 500


class InvalidPath(InvalidRequest):
    code = "INVALID_PATH"


class NotFound(AgentTuiError):
    code = "NOT_FOUND"
    status = 404


class SessionNotFound(NotFound):
    code = "SESSION_NOT_FOUND"


class ProfileNotFound(NotFound):
    code = "PROFILE_NOT_FOUND"


class FileNotFound(NotFound):
    code = "FILE_NOT_FOUND"


class CheckpointNotFound(NotFound):
    """A session has no such checkpoint (restore, fork)."""

    code = "CHECKPOINT_NOT_FOUND"


class FileTooLarge(AgentTuiError):
    """A workspace file too big to hand over in one response."""

    code = "FILE_TOO_LARGE"
    status = 413


class PermissionNotFound(NotFound):
    code = "PERMISSION_NOT_FOUND"


class AlreadyResolved(AgentTuiError):
    code = "ALREADY_RESOLVED"
    status = 409


class SubscriberLagged(AgentTuiError):
    """A subscriber fell so far behind that its buffer overflowed; resubscribe from ``last_seq``."""

    code = "SUBSCRIBER_LAGGED"
    status = 503

    def __init__(self, session_id: str, last_seq: int) -> None:
        super().__init__(
            f"subscriber of session {session_id} fell behind after seq {last_seq}; resubscribe with after_seq={last_seq}"
        )
        self.session_id = session_id
        self.last_seq = last_seq


class StoreError(AgentTuiError):
    """Persisting failed (disk full, read-only, corrupt). Nothing unpersisted was published."""

    code = "STORE_ERROR"
    status = 503


class SandboxError(AgentTuiError):
    """A sandbox could not be created or died."""

    code = "ENVIRONMENT_ERROR"
    status = 500


class RuntimeClosed(AgentTuiError):
    code = "RUNTIME_CLOSED"
    status = 503


class NotAGitRepository(InvalidRequest):
    code = "NOT_A_GIT_REPOSITORY"


class NoWorkspace(InvalidRequest):
    code = "NO_WORKSPACE"


class WorkspaceConflict(AgentTuiError):
    """A workspace write that cannot be done now (409): ``WORKSPACE_BUSY``, ``NOTHING_TO_COMMIT``,
    ``MERGE_CONFLICT`` (details ``{files}``), ``TARGET_DIRTY``, ``TARGET_MOVED``."""

    code = "WORKSPACE_BUSY"
    status = 409
