"""The wire format of the emulated API: routes, response envelopes and injected-fault answers."""

from __future__ import annotations

import hmac
from http import HTTPStatus
from typing import Any, NamedTuple
from urllib.parse import unquote

from rtk_pipeline.emulator.faults import Decision
from rtk_pipeline.emulator.records import dumps

API_ROOT = "/client/v4"

RESOURCES = {
    "meetings": {"GET": "list_meetings", "POST": "create_meeting"},
    "meeting": {"GET": "get_meeting", "PATCH": "update_meeting", "PUT": "replace_meeting"},
    "participants": {"GET": "list_participants", "POST": "add_participant"},
    "participant": {"GET": "get_participant", "PATCH": "edit_participant", "DELETE": "delete_participant"},
    "token": {"POST": "refresh_token"},
}
PROXY_PAGE = (
    "<html>\r\n<head><title>{status} {phrase}</title></head>\r\n<body>\r\n<center><h1>{status} {phrase}</h1>"
    "</center>\r\n<hr><center>cloudflare</center>\r\n</body>\r\n</html>\r\n"
)


class Response(NamedTuple):
    status: int
    body: bytes
    content_type: str = "application/json"
    headers: tuple[tuple[str, str], ...] = ()
    action: str | None = None  # "reset": close with RST, no answer; "cut": send half the body, then close


class Route(NamedTuple):
    endpoint: str | None  # None: the resource exists but not with this method
    account: str
    app: str
    meeting: str | None
    participant: str | None
    allow: str


def rtk_error(status: int, message: str, headers: tuple[tuple[str, str], ...] = ()) -> Response:
    """RealtimeKit's error envelope."""
    return Response(
        status, dumps({"success": False, "error": {"code": status, "message": message}}), headers=headers
    )


def cf_error(status: int, code: int, message: str, headers: tuple[tuple[str, str], ...] = ()) -> Response:
    """Cloudflare's v4 error envelope (auth failures, rate limiting, unroutable paths)."""
    body = {"success": False, "errors": [{"code": code, "message": message}], "messages": [], "result": None}
    return Response(status, dumps(body), headers=headers)


def ok(data: Any, status: int = 200) -> Response:
    return Response(status, dumps({"success": True, "data": data}))


def page_response(data: bytes, offset: int, count: int, total: int) -> Response:
    """A list envelope around a pre-serialized JSON array; offsets are 1-based and inclusive."""
    paging = b'{"end_offset":%d,"start_offset":%d,"total_count":%d}' % (offset + count, offset + 1, total)
    return Response(200, b'{"data":' + data + b',"paging":' + paging + b',"success":true}')


def parse_route(method: str, path: str) -> Route | None:
    if not path.startswith(API_ROOT + "/"):
        return None
    parts = [unquote(p) for p in path[len(API_ROOT) + 1 :].split("/")]
    if parts[-1] == "":
        parts.pop()
    if len(parts) < 6 or not all(parts) or parts[0] != "accounts" or parts[2:4] != ["realtime", "kit"]:
        return None
    if parts[5] != "meetings":
        return None
    rest = parts[6:]
    if len(rest) > 1 and rest[1] != "participants":
        return None
    resource = {0: "meetings", 1: "meeting", 2: "participants", 3: "participant"}.get(len(rest))
    if len(rest) == 4 and rest[3] == "token":
        resource = "token"
    if resource is None:
        return None
    methods = RESOURCES[resource]
    return Route(
        methods.get(method),
        parts[1],
        parts[4],
        rest[0] if rest else None,
        rest[2] if len(rest) > 2 else None,
        ", ".join(methods),
    )


def bearer_ok(header: str | None, token: str) -> bool:
    scheme, _, value = (header or "").strip().partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(value.strip().encode(), token.encode())


def fault_response(d: Decision) -> Response:
    """The answer to a request that a fault replaces (nothing was handled)."""
    headers = (("Retry-After", d.retry_after),) if d.retry_after else ()
    if d.status == 429:
        return cf_error(429, 971, "Please wait and consider throttling your request speed", headers)
    if d.kind == "reset":
        return Response(0, b"", action="reset")
    if d.kind == "non_json":
        phrase = HTTPStatus(d.status).phrase if d.status != 200 else "Bad Gateway"
        page = PROXY_PAGE.format(status=d.status if d.status != 200 else 502, phrase=phrase)
        return Response(d.status, page.encode(), content_type="text/html; charset=UTF-8")
    if d.kind == "success_false":
        return Response(200, dumps({"success": False, "error": {"code": 500, "message": "Internal error"}}))
    if d.status in (401, 403):
        return cf_error(d.status, 10000, "Authentication error")
    return rtk_error(d.status, HTTPStatus(d.status).phrase)


def truncate(resp: Response, style: str) -> Response:
    """A handled answer, damaged: cut mid-body ("json") or the connection dropped mid-body ("transport")."""
    if style == "transport":
        return resp._replace(action="cut")
    return resp._replace(body=resp.body[: max(1, len(resp.body) // 2)])
