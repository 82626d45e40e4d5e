"""L3 procedural memory: traces on disk, their index, slots and goal → trace matching."""

from llmos.memory.integrity import TraceSigner, Trust
from llmos.memory.matching import Matcher, MatchResult, SimilarTrace, UntrustedTrace
from llmos.memory.store import ImportReport, ReindexReport, TraceStore
from llmos.memory.trace import (
    DETERMINISTIC_TOOLS,
    FORMAT_VERSION,
    Postcondition,
    Seal,
    Slot,
    Step,
    Trace,
    environment_fingerprint,
    new_trace_id,
)
from llmos.memory.trace_format import parse_trace, read_trace, render_trace

__all__ = [
    "DETERMINISTIC_TOOLS",
    "FORMAT_VERSION",
    "ImportReport",
    "MatchResult",
    "Matcher",
    "Postcondition",
    "ReindexReport",
    "Seal",
    "SimilarTrace",
    "Slot",
    "Step",
    "Trace",
    "TraceSigner",
    "TraceStore",
    "Trust",
    "UntrustedTrace",
    "environment_fingerprint",
    "new_trace_id",
    "parse_trace",
    "read_trace",
    "render_trace",
]
