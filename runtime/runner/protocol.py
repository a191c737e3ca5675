"""The event protocol of SPEC §2 as plain data: event types, payloads and blocks. Stdlib only.

One module for both sides of the runner's stdout: the runner and its converters (shipped into the
sandbox, stdlib only) and the runtime (``runtime.models`` takes its constants from here, and
``tests/runtime/test_protocol.py`` checks its pydantic models against the types below). Events
travel as dicts; these types say which keys each one has, in the wire's camelCase.

The ``TypedDict`` classes are read by the type checker only: importing ``typing`` costs the runner
~2 ms of start-up per query, and nothing at run time needs the classes. The constants are real.
"""

from __future__ import annotations

#: Every event type of the log (SPEC §2 and §10), in the order SPEC lists them.
EVENT_TYPES: tuple[str, ...] = (
    "block:upsert",
    "block:delta",
    "query:started",
    "query:completed",
    "query:failed",
    "query:interrupted",
    "ee:creating",
    "ee:ready",
    "ee:terminated",
    "ee:error",
    "metadata:update",
    "subagent:spawned",
    "subagent:completed",
    "file:created",
    "file:modified",
    "file:deleted",
    "workspace:changes",
    "workspace:committed",
    "workspace:merged",
    "workspace:conflict",
    "workspace:discarded",
    "workspace:checkpoint",
    "workspace:restored",
    "workspace:forked",
    "options:update",
    "permission:requested",
    "permission:resolved",
    "log",
    "error",
)

#: The event types a runner may print; anything else (a forged ``query:completed``, say) is
#: turned into a warning by the runtime's gate (``runtime/sessions/runner_events.py``).
RUNNER_EVENT_TYPES: frozenset[str] = frozenset(
    {
        "block:upsert",
        "block:delta",
        "metadata:update",
        "subagent:spawned",
        "subagent:completed",
        "file:created",
        "file:modified",
        "file:deleted",
        "permission:requested",
        # Only as a withdrawal (a deny) of a question still open: see PermissionBroker.withdrawal.
        "permission:resolved",
        "log",
        "error",
    }
)

#: Block types (SPEC §2, "Blocks").
BLOCK_TYPES: tuple[str, ...] = (
    "user_message",
    "assistant_text",
    "thinking",
    "tool_use",
    "tool_result",
    "subagent",
    "system",
    "error",
)
BLOCK_STATUSES: tuple[str, ...] = ("pending", "complete", "error")

#: Which field a ``block:delta`` appends to, by block type.
DELTA_FIELD: dict[str, str] = {
    "user_message": "content",
    "assistant_text": "content",
    "thinking": "content",
    "tool_result": "output",
}

#: The ``TypedDict`` below that types each event type's payload (checked by the tests: every
#: event type has one).
PAYLOAD_TYPES: dict[str, str] = {
    "block:upsert": "BlockUpsert",
    "block:delta": "BlockDelta",
    "query:started": "QueryStarted",
    "query:completed": "QueryCompleted",
    "query:failed": "QueryFailed",
    "query:interrupted": "QueryInterrupted",
    "ee:creating": "EnvironmentCreating",
    "ee:ready": "EnvironmentReady",
    "ee:terminated": "EnvironmentTerminated",
    "ee:error": "EnvironmentFailed",
    "metadata:update": "MetadataUpdate",
    "subagent:spawned": "SubagentSpawned",
    "subagent:completed": "SubagentCompleted",
    "file:created": "FileChanged",
    "file:modified": "FileChanged",
    "file:deleted": "FileChanged",
    "workspace:changes": "WorkspaceChanges",
    "workspace:committed": "WorkspaceCommitted",
    "workspace:merged": "WorkspaceMerged",
    "workspace:conflict": "WorkspaceConflict",
    "workspace:discarded": "WorkspaceDiscarded",
    "workspace:checkpoint": "WorkspaceCheckpoint",
    "workspace:restored": "WorkspaceRestored",
    "workspace:forked": "WorkspaceForked",
    "options:update": "OptionsUpdate",
    "permission:requested": "PermissionRequested",
    "permission:resolved": "PermissionResolved",
    "log": "Log",
    "error": "Error",
}
#: The ``TypedDict`` of each block type.
BLOCK_TYPEDDICTS: dict[str, str] = {
    "user_message": "UserMessageBlock",
    "assistant_text": "AssistantTextBlock",
    "thinking": "ThinkingBlock",
    "tool_use": "ToolUseBlock",
    "tool_result": "ToolResultBlock",
    "subagent": "SubagentBlock",
    "system": "SystemBlock",
    "error": "ErrorBlock",
}

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Literal, NotRequired, TypedDict

    # ------------------------------------------------------------------ the envelope

    class RunnerEvent(TypedDict):
        """One line of a runner's stdout (an event before the bus gives it a ``seq``)."""

        type: str
        payload: dict[str, Any]
        timestamp: NotRequired[str | None]
        conversationId: NotRequired[str]
        source: NotRequired[Literal["runner", "server"]]

    class SessionEvent(TypedDict):
        """One entry of the log, as a remote client receives it."""

        seq: int
        type: str
        payload: dict[str, Any]
        timestamp: str
        conversationId: str
        source: Literal["runner", "server"]

    # ------------------------------------------------------------------ blocks

    class _Block(TypedDict):
        id: str
        type: str
        status: NotRequired[Literal["pending", "complete", "error"]]
        timestamp: NotRequired[str | None]

    class UserMessageBlock(_Block):
        content: NotRequired[str]

    class AssistantTextBlock(_Block):
        content: NotRequired[str]
        model: NotRequired[str | None]

    class ThinkingBlock(_Block):
        content: NotRequired[str]

    class _ToolDetail(TypedDict, total=False):
        """What a tool call does, on its card and on the permission asked for it."""

        #: ACP's ToolKind: execute, edit, read, search, fetch, think, other.
        kind: str | None
        command: str | None
        path: str | None
        diff: str | None

    class ToolUseBlock(_Block, _ToolDetail):
        toolName: NotRequired[str]
        toolUseId: NotRequired[str]
        input: NotRequired[dict[str, Any]]
        displayName: NotRequired[str | None]

    class ToolResultBlock(_Block):
        toolUseId: NotRequired[str]
        output: NotRequired[Any]
        isError: NotRequired[bool]
        durationMs: NotRequired[int | None]

    class SubagentBlock(_Block):
        toolUseId: NotRequired[str]
        name: NotRequired[str | None]
        input: NotRequired[dict[str, Any]]
        output: NotRequired[Any]
        durationMs: NotRequired[int | None]

    class SystemBlock(_Block):
        subtype: NotRequired[str]
        message: NotRequired[str]

    class ErrorBlock(_Block):
        message: NotRequired[str]
        code: NotRequired[str | None]

    # ------------------------------------------------------------------ payloads

    class BlockUpsert(TypedDict):
        block: _Block

    class BlockDelta(TypedDict):
        blockId: str
        delta: str

    class QueryStarted(TypedDict):
        messageId: str
        content: str

    class QueryCompleted(TypedDict):
        messageId: str
        durationMs: int

    class QueryFailed(TypedDict):
        messageId: str
        error: str
        code: str

    class QueryInterrupted(TypedDict):
        messageId: str
        reason: Literal["user", "shutdown"]

    class EnvironmentCreating(TypedDict):
        statusMessage: str

    class EnvironmentReady(TypedDict):
        eeId: str | None
        primitive: str

    class EnvironmentTerminated(TypedDict):
        reason: Literal["manual", "idle", "unhealthy", "shutdown"]

    class EnvironmentFailed(TypedDict):
        message: str
        code: str

    class Usage(TypedDict):
        inputTokens: int
        outputTokens: int
        cacheReadTokens: NotRequired[int | None]
        cacheWriteTokens: NotRequired[int | None]
        totalTokens: int

    class MetadataUpdate(TypedDict, total=False):
        usage: Usage
        costUsd: float
        model: str

    class SubagentSpawned(TypedDict):
        toolUseId: str
        agentId: NotRequired[str]
        prompt: NotRequired[str]
        subagentType: NotRequired[str]
        description: NotRequired[str]

    class SubagentCompleted(TypedDict):
        toolUseId: str
        agentId: NotRequired[str]
        status: NotRequired[Literal["completed", "failed"]]
        output: NotRequired[Any]
        durationMs: NotRequired[int]

    class FileChanged(TypedDict):
        path: str
        size: NotRequired[int]
        additions: NotRequired[int]
        deletions: NotRequired[int]

    class ChangedFile(TypedDict):
        path: str
        status: Literal["added", "modified", "deleted", "renamed"]
        oldPath: NotRequired[str | None]
        additions: int
        deletions: int
        binary: NotRequired[bool | None]

    class WorkspaceChanges(TypedDict):
        baseCommit: str
        head: str
        files: list[ChangedFile]

    class WorkspaceCommitted(TypedDict):
        commit: str
        message: str

    class WorkspaceMerged(TypedDict):
        commit: str
        into: str
        strategy: Literal["merge", "squash", "rebase"]

    class WorkspaceConflict(TypedDict):
        into: str
        files: list[str]

    class WorkspaceDiscarded(TypedDict):
        paths: list[str]

    class WorkspaceCheckpoint(TypedDict):
        ref: str
        commit: str
        messageId: str | None

    class WorkspaceRestored(TypedDict):
        checkpoint: str
        commit: str
        paths: list[str]

    class WorkspaceForked(TypedDict):
        sessionId: str
        checkpoint: str
        commit: str
        branch: str

    class OptionsUpdate(TypedDict):
        options: dict[str, Any]

    class PermissionRequested(_ToolDetail):
        requestId: str
        toolName: str
        toolUseId: NotRequired[str | None]
        #: SPEC §2 lists it; a runner may leave it out (the summary shows ``{}``).
        input: NotRequired[dict[str, Any]]
        title: NotRequired[str | None]

    class PermissionResolved(TypedDict):
        requestId: str
        decision: Literal["allow", "deny", "allow_always"]
        message: NotRequired[str]
        by: NotRequired[str]

    class Log(TypedDict):
        level: Literal["debug", "info", "warn", "error"]
        message: str
        data: NotRequired[Any]

    class Error(TypedDict):
        message: str
        code: NotRequired[str]
        data: NotRequired[Any]
