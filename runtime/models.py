"""Wire types of SPEC §2: everything that crosses a process boundary is one of these.

Python code uses snake_case; JSON on the wire is camelCase (``model_dump(by_alias=True)``).
Blocks are kept as plain dicts inside the reducer (``block:upsert`` shallow-merges arbitrary
fields), and validated into the typed models below only at the API edge.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, ValidationError, field_validator
from pydantic.alias_generators import to_camel

from .runner.protocol import DELTA_FIELD as DELTA_FIELD
from .runner.protocol import EVENT_TYPES as EVENT_TYPES


class WireModel(BaseModel):
    """Base of every wire model: camelCase aliases, snake_case attributes."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")

    def wire(self) -> dict[str, Any]:
        """The JSON-ready dict a remote client sees."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def now_ms() -> int:
    return int(datetime.now(UTC).timestamp() * 1000)


# --------------------------------------------------------------------------- events

EventSource = Literal["runner", "server"]

#: The event types and the delta fields live in the runner's protocol module (stdlib only, shared
#: with the sandbox side); the models below are checked against its types (tests/runtime/test_protocol.py).


class SessionEvent(WireModel):
    """One entry of a session's event log (and one message on the wire)."""

    seq: int
    type: str
    payload: dict[str, Any] = Field(default_factory=dict)
    timestamp: str
    conversation_id: str = "main"
    source: EventSource = "server"

    def wire(self) -> dict[str, Any]:
        # Hot path (every delivered event): build the dict by hand, pydantic's dump is ~5x slower.
        return {
            "seq": self.seq,
            "type": self.type,
            "payload": self.payload,
            "timestamp": self.timestamp,
            "conversationId": self.conversation_id,
            "source": self.source,
        }


_EVENT_FIELDS = frozenset({"seq", "type", "payload", "timestamp", "conversation_id", "source"})


def make_event(
    seq: int,
    kind: str,
    payload: dict[str, Any],
    timestamp: str,
    conversation_id: str = "main",
    source: str = "server",
    _new: Any = object.__new__,
    _set: Any = object.__setattr__,
) -> SessionEvent:
    """Build a ``SessionEvent`` from already-valid fields without validation.

    The hot path of the event bus and of replays: ``model_construct`` costs ~5 µs per event here,
    this ~1 µs. It sets exactly the attributes ``model_construct`` would (pydantic v2 layout).
    """
    event = _new(SessionEvent)
    _set(event, "__dict__", {"seq": seq, "type": kind, "payload": payload, "timestamp": timestamp,
                             "conversation_id": conversation_id, "source": source})
    _set(event, "__pydantic_fields_set__", _EVENT_FIELDS)
    _set(event, "__pydantic_extra__", None)
    _set(event, "__pydantic_private__", None)
    return event


class EventDraft(WireModel):
    """An event before the bus gives it a seq (what the runner prints, one per line)."""

    type: str
    payload: dict[str, Any] = Field(default_factory=dict)
    timestamp: str | None = None
    conversation_id: str = "main"
    source: EventSource = "server"


# --------------------------------------------------------------------------- blocks

BlockStatus = Literal["pending", "complete", "error"]


class BlockBase(WireModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="allow")

    id: str
    status: BlockStatus = "complete"
    timestamp: str | None = None


class UserMessageBlock(BlockBase):
    type: Literal["user_message"] = "user_message"
    content: str = ""


class AssistantTextBlock(BlockBase):
    type: Literal["assistant_text"] = "assistant_text"
    content: str = ""
    model: str | None = None


class ThinkingBlock(BlockBase):
    type: Literal["thinking"] = "thinking"
    content: str = ""


class ToolUseBlock(BlockBase):
    type: Literal["tool_use"] = "tool_use"
    tool_name: str = ""
    tool_use_id: str = ""
    input: dict[str, Any] = Field(default_factory=dict)
    display_name: str | None = None
    #: What the call does, ACP's ToolKind (``execute``, ``edit``, ``read``, ``search``, ``fetch``,
    #: ``think``, ``other``), with the ``command`` / ``path`` / unified ``diff`` where known.
    kind: str | None = None
    command: str | None = None
    path: str | None = None
    diff: str | None = None


class ToolResultBlock(BlockBase):
    type: Literal["tool_result"] = "tool_result"
    tool_use_id: str = ""
    output: Any = ""
    is_error: bool = False
    duration_ms: int | None = None


class SubagentBlock(BlockBase):
    type: Literal["subagent"] = "subagent"
    tool_use_id: str = ""
    name: str | None = None
    input: dict[str, Any] = Field(default_factory=dict)
    output: Any = None
    duration_ms: int | None = None


class SystemBlock(BlockBase):
    type: Literal["system"] = "system"
    subtype: str = ""
    message: str = ""


class ErrorBlock(BlockBase):
    type: Literal["error"] = "error"
    message: str = ""
    code: str | None = None


class UnknownBlock(BlockBase):
    """A block whose type this version does not know (or whose fields do not validate): kept
    with its fields as they are, so one odd block never makes a session unreadable."""

    type: str = "unknown"


def _block_tag(value: Any) -> str:
    kind = value.get("type") if isinstance(value, dict) else getattr(value, "type", None)
    return kind if kind in BLOCK_MODELS and not isinstance(value, UnknownBlock) else "unknown"


Block = Annotated[
    Annotated[UserMessageBlock, Tag("user_message")]
    | Annotated[AssistantTextBlock, Tag("assistant_text")]
    | Annotated[ThinkingBlock, Tag("thinking")]
    | Annotated[ToolUseBlock, Tag("tool_use")]
    | Annotated[ToolResultBlock, Tag("tool_result")]
    | Annotated[SubagentBlock, Tag("subagent")]
    | Annotated[SystemBlock, Tag("system")]
    | Annotated[ErrorBlock, Tag("error")]
    | Annotated[UnknownBlock, Tag("unknown")],
    Discriminator(_block_tag),
]


def lenient_block(raw: dict[str, Any]) -> BlockBase:
    """Validate one reducer block; anything that does not validate is kept as an ``UnknownBlock``."""
    model = BLOCK_MODELS.get(raw.get("type"))  # type: ignore[arg-type]
    if model is not None:
        try:
            return model.model_validate(raw)
        except ValidationError:
            pass
    fields = dict(raw)
    fields["id"] = str(fields.get("id"))
    fields["type"] = str(fields.get("type"))
    if fields.get("status") not in ("pending", "complete", "error"):
        fields["status"] = "complete"
    return UnknownBlock.model_construct(**fields)


BLOCK_MODELS: dict[str, type[BlockBase]] = {
    "user_message": UserMessageBlock,
    "assistant_text": AssistantTextBlock,
    "thinking": ThinkingBlock,
    "tool_use": ToolUseBlock,
    "tool_result": ToolResultBlock,
    "subagent": SubagentBlock,
    "system": SystemBlock,
    "error": ErrorBlock,
}



# --------------------------------------------------------------------------- runtime state

EnvironmentStatus = Literal["inactive", "starting", "ready", "error", "terminated"]


class EnvironmentState(WireModel):
    id: str | None = None
    status: EnvironmentStatus = "inactive"
    status_message: str | None = None
    primitive: str = "local"
    last_error: str | None = None


class ActiveQuery(WireModel):
    message_id: str
    started_at: int


class PendingPermission(WireModel):
    request_id: str
    tool_name: str
    input: dict[str, Any] = Field(default_factory=dict)
    tool_use_id: str | None = None
    title: str | None = None
    #: As on a ``tool_use`` block: the kind, and the command / path / diff asked about.
    kind: str | None = None
    command: str | None = None
    path: str | None = None
    diff: str | None = None


class SessionRuntime(WireModel):
    is_loaded: bool = False
    execution_environment: EnvironmentState | None = None
    active_query: ActiveQuery | None = None
    queued_messages: int = 0
    pending_permissions: list[PendingPermission] = Field(default_factory=list)

    def wire(self) -> dict[str, Any]:
        # exclude_none would drop executionEnvironment/activeQuery; clients expect explicit nulls.
        return self.model_dump(mode="json", by_alias=True)


class Usage(WireModel):
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int | None = None
    cache_write_tokens: int | None = None
    total_tokens: int = 0


class SessionMetadata(WireModel):
    usage: Usage | None = None
    cost_usd: float | None = None
    model: str | None = None


class SubagentState(WireModel):
    tool_use_id: str
    agent_id: str | None = None
    status: Literal["running", "completed", "failed"] = "running"
    blocks: list[Block] = Field(default_factory=list)
    prompt: str | None = None
    output: Any = None
    duration_ms: int | None = None


class SessionOptions(WireModel):
    """Per-session options; ``model`` is known, anything else is passed through to the agent."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="allow")

    model: str | None = None


# --------------------------------------------------------------------------- workspaces (SPEC §10)

WorkspaceMode = Literal["worktree", "in-place"]
MergeStrategy = Literal["merge", "squash", "rebase"]


class WorkspaceSpec(WireModel):
    """``CreateSessionArgs.workspace``: which project the session works on, and how."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")

    project: str = Field(min_length=1, max_length=4096)
    base_ref: str = Field(default="HEAD", min_length=1, max_length=1000)
    branch: str | None = Field(default=None, min_length=1, max_length=200)
    mode: WorkspaceMode = "worktree"

    @field_validator("project", "base_ref", "branch")
    @classmethod
    def _plain_text(cls, value: str | None) -> str | None:
        # Paths and refs go to the OS and to git: no NUL, no lone surrogates (JSON "\ud800").
        if value is not None:
            if "\x00" in value:
                raise ValueError("must not contain NUL characters")
            try:
                value.encode("utf-8")
            except UnicodeEncodeError as exc:
                raise ValueError("contains a lone surrogate (not valid Unicode text)") from exc
        return value


class WorkspaceInfo(WireModel):
    """``SessionSummary.workspace``: where the agent works (``path``) and on what."""

    project: str
    mode: WorkspaceMode
    branch: str | None = None
    base_ref: str | None = None
    base_commit: str | None = None
    path: str
    #: The branch a merge goes into by default.
    target: str | None = None
    #: After the session was deleted: whether its branch was kept (it held unmerged work).
    branch_kept: bool | None = None
    #: The size of the change set against ``baseCommit`` as the session's events folded it (for
    #: a session list's ``+12 -3`` without loading each session's log); absent before any change.
    changed_files: int | None = None
    additions: int | None = None
    deletions: int | None = None


class ChangedFile(WireModel):
    path: str
    status: Literal["added", "modified", "deleted", "renamed"]
    old_path: str | None = None
    additions: int = 0
    deletions: int = 0
    binary: bool | None = None


class WorkspaceChanges(WireModel):
    """The ``workspace:changes`` payload: the whole change set against ``baseCommit``."""

    base_commit: str
    head: str
    files: list[ChangedFile] = Field(default_factory=list)


class RestoreResult(WireModel):
    """What ``restore_checkpoint`` did: the checkpoint (``"12"``, ``"base"``), its commit, and
    the paths whose files changed (each also announced as a ``file:*`` event)."""

    checkpoint: str
    commit: str
    paths: list[str] = Field(default_factory=list)


class SessionSummary(WireModel):
    session_id: str
    name: str
    architecture: str
    agent_profile_ref: str = "default"
    session_options: dict[str, Any] = Field(default_factory=dict)
    primitive: str = "local"
    created_at: int
    last_activity: int
    runtime: SessionRuntime = Field(default_factory=SessionRuntime)
    metadata: SessionMetadata = Field(default_factory=SessionMetadata)
    last_seq: int = 0
    #: Replies (query ends) since a client marked the session read (docs/protocol.md, "Session
    #: summaries and unread").
    unread: int = 0
    #: The list's status word: needs-input, starting, busy, queued, error, terminated or idle.
    status: str = "idle"
    workspace: WorkspaceInfo | None = None

    def wire(self) -> dict[str, Any]:
        data = self.model_dump(mode="json", by_alias=True, exclude_none=True)
        data["runtime"] = self.runtime.wire()
        return data


class SessionDetail(SessionSummary):
    blocks: list[Block] = Field(default_factory=list)
    subagents: list[SubagentState] = Field(default_factory=list)
    #: The change set as the reducer folded it from ``workspace:*`` and ``file:*`` events.
    changes: WorkspaceChanges | None = None


class CreateSessionArgs(WireModel):
    agent_profile_ref: str = "default"
    architecture: str
    session_options: dict[str, Any] = Field(default_factory=dict)
    name: str | None = Field(default=None, max_length=200)
    primitive: str | None = None
    workspace: WorkspaceSpec | None = None

    @field_validator("architecture")
    @classmethod
    def _strip(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("architecture must not be empty")
        return value


class ArchitectureInfo(WireModel):
    id: str
    display_name: str
    available: bool
    reason: str | None = None


class ProfileInfo(WireModel):
    id: str
    name: str
    description: str = ""


PermissionMode = Literal["bypass", "ask", "acceptEdits"]


class AcpAgent(WireModel):
    """A profile's own ACP agent (``acp = { command = [...], env = {...}, state = [...] }``):
    the command the ``acp`` architecture runs, fixed variables for it, and the folders under the
    session home where it keeps its conversation (saved so a new sandbox resumes it)."""

    command: list[str] = Field(min_length=1)
    env: dict[str, str] = Field(default_factory=dict)
    state: list[str] = Field(default_factory=list)


class ProfileWorkspace(WireModel):
    """A profile's ``[workspace]`` table: ``setup``, the command that prepares a new worktree when
    the project has none of its own in ``.agent-tui.toml`` (the project's wins)."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")

    setup: str | None = Field(default=None, max_length=10_000)


class AgentProfile(WireModel):
    """SPEC §8: how an agent is configured (system prompt, model, tools, env names, files)."""

    id: str
    name: str
    description: str = ""
    system_prompt: str | None = None
    model: str | None = None
    allowed_tools: list[str] = Field(default_factory=list)
    env: list[str] = Field(default_factory=list)
    files: dict[str, str] = Field(default_factory=dict)
    mcp_servers: dict[str, Any] = Field(default_factory=dict)
    permission_mode: PermissionMode = "bypass"
    network: bool = True  # False: a local sandbox under bubblewrap gets no network (docs/isolation.md)
    acp: AcpAgent | None = None
    workspace: ProfileWorkspace | None = None

    def info(self) -> ProfileInfo:
        return ProfileInfo(id=self.id, name=self.name, description=self.description)


class FileInfo(WireModel):
    path: str
    size: int
    modified_at: int


PermissionDecision = Literal["allow", "deny", "allow_always"]
