"""agent-tui's embeddable agent runtime. No Textual here, ever (a test checks it).

from runtime import AgentRuntime, RuntimeConfig, CreateSessionArgs

async with AgentRuntime(RuntimeConfig()) as runtime:
    session = await runtime.create_session(CreateSessionArgs(architecture="shell"))
    await runtime.send_message(session.session_id, "echo hello")
    async for event in runtime.subscribe(session.session_id):
        ...
"""

from .agent_runtime import VERSION, AgentRuntime, RuntimeNotice, SessionsChanged, SessionStatusChanged
from .config import ModalConfig, RuntimeConfig
from .errors import (
    AgentTuiError,
    AlreadyResolved,
    FileNotFound,
    InvalidPath,
    InvalidRequest,
    NotFound,
    PermissionNotFound,
    ProfileNotFound,
    RuntimeClosed,
    SandboxError,
    SessionNotFound,
    StoreError,
    SubscriberLagged,
    UnknownArchitecture,
)
from .events import EventBus, Subscription
from .models import (
    AgentProfile,
    ArchitectureInfo,
    CreateSessionArgs,
    EventDraft,
    FileInfo,
    ProfileInfo,
    SessionDetail,
    SessionEvent,
    SessionRuntime,
    SessionSummary,
    WorkspaceChanges,
    WorkspaceInfo,
    WorkspaceSpec,
)
from .reducer import SessionState, apply_event, reduce_events
from .store import MemoryStore, SQLiteStore

__all__ = [
    "VERSION",
    "AgentProfile",
    "AgentRuntime",
    "AgentTuiError",
    "AlreadyResolved",
    "ArchitectureInfo",
    "CreateSessionArgs",
    "EventBus",
    "EventDraft",
    "FileInfo",
    "FileNotFound",
    "InvalidPath",
    "InvalidRequest",
    "MemoryStore",
    "ModalConfig",
    "NotFound",
    "PermissionNotFound",
    "ProfileInfo",
    "ProfileNotFound",
    "RuntimeClosed",
    "RuntimeConfig",
    "RuntimeNotice",
    "SQLiteStore",
    "SandboxError",
    "SessionDetail",
    "SessionEvent",
    "SessionNotFound",
    "SessionRuntime",
    "SessionState",
    "SessionStatusChanged",
    "SessionSummary",
    "SessionsChanged",
    "StoreError",
    "SubscriberLagged",
    "Subscription",
    "UnknownArchitecture",
    "WorkspaceChanges",
    "WorkspaceInfo",
    "WorkspaceSpec",
    "apply_event",
    "reduce_events",
]

# The package root is the library's composition root: importing the server (cheap, aiohttp loads only
# when it starts) registers it, so RuntimeConfig.websocket_port works; nothing else in the core imports it.
from . import server as server  # noqa: E402
