"""The emulated endpoints: auth, routing checks, validation, then the data's query or write, as one
`Api.handle` call per request (the emulator holds its lock around it)."""

from __future__ import annotations

import uuid
from collections import Counter
from typing import Any

from rtk_pipeline.emulator import validation as v
from rtk_pipeline.emulator.config import EmulatorConfig
from rtk_pipeline.emulator.data import EmulatorData
from rtk_pipeline.emulator.faults import FaultEngine
from rtk_pipeline.emulator.records import dumps, participant_record
from rtk_pipeline.emulator.wire import (
    API_ROOT,
    Response,
    Route,
    bearer_ok,
    cf_error,
    ok,
    page_response,
    rtk_error,
)


class NotFound(Exception):
    pass


class Api:
    """The 11 endpoints over the emulated app's data; drift faults change it between pages."""

    def __init__(
        self, config: EmulatorConfig, data: EmulatorData, engine: FaultEngine, stats: Counter
    ) -> None:
        self.config = config
        self._data = data
        self._engine = engine
        self._stats = stats

    def handle(
        self,
        method: str,
        path: str,
        route: Route | None,
        query: dict[str, str],
        body: Any,
        bad_json: bool,
        auth: str | None,
    ) -> Response:
        cfg = self.config
        if not path.startswith(API_ROOT + "/"):
            return cf_error(404, 7000, "No route for that URI")
        read_only = cfg.read_only_token is not None and bearer_ok(auth, cfg.read_only_token)
        if not (read_only or bearer_ok(auth, cfg.token)):
            return cf_error(401, 10000, "Authentication error")
        if route is None:
            return cf_error(
                404, 7003, "Could not route to the path, perhaps your object identifier is invalid?"
            )
        if route.account != cfg.account_id:
            return cf_error(403, 10000, "Authentication error")
        if read_only and method != "GET":  # a token with read permission only, as Cloudflare scopes them
            return cf_error(403, 10000, "Authentication error")
        if route.app != cfg.app_id:
            return rtk_error(404, "App not found")
        if route.endpoint is None:
            return rtk_error(405, f"Method {method} not allowed", headers=(("Allow", route.allow),))
        if bad_json:
            return rtk_error(400, "request body is not valid JSON")
        try:
            return getattr(self, "_" + route.endpoint)(route, query, body)
        except v.Invalid as e:
            return rtk_error(400, str(e))
        except NotFound as e:
            return rtk_error(404, str(e))

    def _meeting_slot(self, route: Route) -> int:
        slot = None if route.meeting is None else self._data.slot_of(route.meeting)
        if slot is None:
            raise NotFound("Meeting not found")
        return slot

    def _participant(self, route: Route) -> tuple[int, list]:
        slot = self._meeting_slot(route)
        pid = route.participant
        rec = None if pid is None else self._data.find_participant(slot, pid)
        if rec is None:
            raise NotFound("Participant not found")
        return slot, rec

    def _paging(self, query: dict[str, str]) -> tuple[int, int]:
        """(offset, per_page) from page_no/per_page; per_page above the cap is served as the cap."""
        cfg = self.config
        page_no = v.int_param(query, "page_no", cfg.page_base, cfg.page_base)
        per_page = min(v.int_param(query, "per_page", cfg.default_per_page, 1), cfg.max_per_page)
        return (page_no - cfg.page_base) * per_page, per_page

    def _list_meetings(self, route: Route, query: dict[str, str], body: Any) -> Response:
        cfg = self.config
        offset, per_page = self._paging(query)
        start = v.time_param(query, "start_time", upper=False, inclusive=cfg.start_inclusive)
        end = v.time_param(query, "end_time", upper=True, inclusive=cfg.end_inclusive)
        status = v.enum_param(query, "status", v.STATUS) if cfg.status_filter else None
        search = query.get("search") or None
        data = self._data
        rows = data.query(
            start_ms=start, end_ms=end, status=status, search=search, order=cfg.order, field=cfg.window_field
        )
        page = rows.page(offset, per_page)
        resp = page_response(data.list_rows(page), offset, len(page), len(rows))
        self._drift_meetings(rows, offset + len(page), start, end, status, search)
        return resp

    def _drift_meetings(self, rows, served: int, start: int | None, end: int | None, status, search) -> None:
        """Between this page and the next: maybe update a meeting not yet served, maybe insert one on top."""
        engine, data, faults = self._engine, self._data, self._engine.faults
        if engine.drift(faults.drift_update) and served < len(rows):
            slot = rows.page(served + engine.pick(len(rows) - served), 1)[0]
            data.write_meeting(slot, {}, replace=False)
            self._stats["drift", "update"] += 1
        if engine.drift(faults.drift_insert):
            now = self._data.clock.now_ms()
            created = end if end is not None and end < now else now
            if start is not None:
                created = max(created, start)
            title = f"drift insert {search}" if search else "drift insert"
            updated = created if self.config.window_field == "updated_at" else now  # inside the window
            data.create_meeting(
                {"title": title, "status": status or "ACTIVE"}, created_ms=created, updated_ms=updated
            )
            self._stats["drift", "insert"] += 1

    def _create_meeting(self, route: Route, query: dict[str, str], body: Any) -> Response:
        fields = _given(v.body_object({} if body is None else body, v.CREATE_MEETING))
        return ok(self._data.doc(self._data.create_meeting(fields)), status=201)

    def _get_meeting(self, route: Route, query: dict[str, str], body: Any) -> Response:
        return ok(self._data.doc(self._meeting_slot(route)))

    def _update_meeting(self, route: Route, query: dict[str, str], body: Any) -> Response:
        fields = v.body_object({} if body is None else body, v.UPDATE_MEETING)
        return ok(self._data.write_meeting(self._meeting_slot(route), fields, replace=False))

    def _replace_meeting(self, route: Route, query: dict[str, str], body: Any) -> Response:
        fields = _given(v.body_object({} if body is None else body, v.REPLACE_MEETING))
        return ok(self._data.write_meeting(self._meeting_slot(route), fields, replace=True))

    def _list_participants(self, route: Route, query: dict[str, str], body: Any) -> Response:
        slot = self._meeting_slot(route)
        offset, per_page = self._paging(query)
        rows = self._data.participants(slot)
        page = rows[offset : offset + per_page]
        resp = page_response(dumps([participant_record(p) for p in page]), offset, len(page), len(rows))
        if rows and self._engine.drift(self._engine.faults.drift_delete):
            # Deleting a row already served shifts an unseen one onto a page the client has passed.
            served = min(offset + len(page), len(rows)) or len(rows)
            self._data.delete_participant(slot, rows[self._engine.pick(served)][0])
            self._stats["drift", "delete"] += 1
        return resp

    def _add_participant(self, route: Route, query: dict[str, str], body: Any) -> Response:
        slot = self._meeting_slot(route)
        fields = v.body_object({} if body is None else body, v.ADD_PARTICIPANT)
        cpid = fields["custom_participant_id"]
        if any(p[1] == cpid for p in self._data.participants(slot)):
            return rtk_error(
                409, "A participant with this custom_participant_id already exists in the meeting"
            )
        return ok(participant_record(self._data.add_participant(slot, fields), token=True), status=201)

    def _get_participant(self, route: Route, query: dict[str, str], body: Any) -> Response:
        return ok(participant_record(self._participant(route)[1]))

    def _edit_participant(self, route: Route, query: dict[str, str], body: Any) -> Response:
        slot, rec = self._participant(route)
        fields = v.body_object({} if body is None else body, v.EDIT_PARTICIPANT)
        return ok(participant_record(self._data.edit_participant(slot, rec[0], fields), token=True))

    def _delete_participant(self, route: Route, query: dict[str, str], body: Any) -> Response:
        slot, rec = self._participant(route)
        self._data.delete_participant(slot, rec[0])
        data = participant_record(rec)
        return ok(
            {
                "created_at": data["created_at"],
                "custom_participant_id": data["custom_participant_id"],
                "preset_id": str(
                    uuid.uuid5(uuid.NAMESPACE_URL, f"rtk-emulator:preset:{data['preset_name']}")
                ),
                "updated_at": data["updated_at"],
            }
        )

    def _refresh_token(self, route: Route, query: dict[str, str], body: Any) -> Response:
        slot, rec = self._participant(route)
        return ok({"token": self._data.refresh_token(slot, rec[0])[7]})


def _given(fields: dict) -> dict:
    """Create and replace bodies may send null for an optional field (the OpenAPI extract allows it): null
    means "not given", so the meeting gets the default and its responses stay within the schema."""
    return {k: value for k, value in fields.items() if value is not None}
