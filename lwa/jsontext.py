"""Compact JSON text, as Lambda's envelopes and lwa's context headers carry it: no spaces,
non-ASCII characters as they are.

One encoder for the process: `json.dumps` with options builds a new encoder on every call, and
this runs three times per invocation. `encode` keeps no state between calls (thread-safe)."""

from __future__ import annotations

import json

compact = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
