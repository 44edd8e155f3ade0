"""Schemathesis hooks for `infra/scripts/schemathesis.sh`: what the OpenAPI document cannot say.

Loaded through `hooks = ...` in `schemathesis.toml`. Each hook removes one reason a schema-valid
request is rightly refused, so `positive_data_acceptance` keeps checking everything else.
"""

import json
import uuid
from datetime import datetime

import schemathesis

# Any fixed namespace: keys only need to be stable from one run to the next.
_KEY_NAMESPACE = uuid.UUID("6f1c2a8e-3d4b-4f5a-9e7c-1b2d3e4f5a6b")


@schemathesis.hook
def filter_query(ctx, query):
    """`from` must be before `to`: an empty range is refused (400 `from must be before to`), and
    JSON Schema cannot compare two parameters. Cases with both, in that wrong order, are skipped."""
    if not query or "from" not in query or "to" not in query:
        return True
    try:
        start = datetime.fromisoformat(str(query["from"]).replace("Z", "+00:00"))
        end = datetime.fromisoformat(str(query["to"]).replace("Z", "+00:00"))
    except ValueError:
        return True  # not a date-time: a negative case, kept
    return start < end


@schemathesis.hook
def before_call(ctx, case, kwargs):
    """One `X-Idempotency-Key` per distinct request. The document's example key would otherwise
    be sent with many different bodies, which is 422 `IDEMPOTENCY_KEY_REUSED` by contract. The
    key is derived from the request, so runs stay deterministic and a repeated request is a
    replay, as a client would make it. Negative cases (a missing `Authorization`, a key that is
    not a UUID, ...) are sent exactly as generated."""
    meta = case.meta
    if meta is not None and meta.generation.mode.is_negative:
        return
    headers = case.headers
    name = next((h for h in headers or {} if h.lower() == "x-idempotency-key"), None)
    if name is None:
        return
    body = json.dumps(case.body, sort_keys=True, default=str) if case.body is not None else ""
    headers[name] = str(uuid.uuid5(_KEY_NAMESPACE, f"{case.method} {case.formatted_path} {body}"))
