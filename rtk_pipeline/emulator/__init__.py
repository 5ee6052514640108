"""A local emulator of the Cloudflare RealtimeKit Meetings API (the 11 endpoints of the reference).

    from rtk_pipeline.emulator import Emulator, EmulatorConfig, Faults
    with Emulator(EmulatorConfig(meetings=500, days=30, seed=7)) as emu:
        emu.base_url  # http://127.0.0.1:PORT/client/v4, with emu.token, emu.account_id, emu.app_id

It shares no code with the client (`rtk_pipeline.client`), so each checks the other.

What the emulator assumes where the API docs are silent (compare with the live API):
- Paging: `page_no` counts from 1 (`EmulatorConfig(page_base=0)` counts from 0); `per_page` defaults to 20
  and is capped at `max_per_page` (100) silently: a larger value is served as 100. Values that are not
  integers (`2.0` is accepted), `page_no` below the base and `per_page` < 1 are 400s.
- `paging`: `total_count` = rows matching the filters; `start_offset` = 1-based index of the page's first
  row, `end_offset` = index of its last row, so `end_offset - start_offset + 1` = rows on the page. A page
  past the end (or of an empty result) has `data: []`, `start_offset` = where it would start (offset + 1)
  and `end_offset` = `start_offset - 1`; e.g. 0 rows -> {total_count 0, start_offset 1, end_offset 0}.
- `start_time`/`end_time` filter on `created_at` (`window_field="updated_at"`), both bounds inclusive (a
  meeting created exactly at 00:00:00.000 is in the window of both days it touches; `start_inclusive=False`,
  `end_inclusive=False` make either exclusive). Accepted: ISO 8601 with `Z` or an offset, any number of
  fractional digits, a bare date (= midnight), no zone = UTC. start > end = no rows.
- Order: newest first by `created_at`, ties by id, descending (`order=` "created_asc", "updated_desc",
  "updated_asc": ties by id in the same direction).
- `search`: case-insensitive substring of the meeting id or title. `status`: ACTIVE or INACTIVE exactly
  (`status_filter=False`: ignored, as by an API that predates it).
- `read_only_token=`: a second accepted token whose writes are 403s (Cloudflare's envelope, code 10000).
- Unknown query parameters are ignored; a repeated one takes its last value.
- Writes: create returns 201; PATCH applies only the given fields (objects such as `ai_config` are replaced
  whole); PUT replaces every writable field (absent ones back to the create defaults: flags false,
  keep-alive 60, default `recording_config`) but keeps `status` unless given; a null optional field in a
  create/replace body means "not given". Every PATCH/PUT moves `updated_at` forward, even when nothing
  changed: the emulator clock (`emu.clock`) is wall time, strictly increasing per reading, and starts at
  `end` if `end` is in the future. Unknown body fields, wrong types,
  bad enum values and out-of-range numbers are 400s. Participant writes do not touch the meeting.
- Rooms: a share of the generated meetings (`EmulatorConfig(rooms=0.33)`, `--rooms SHARE`, 0 = none) are
  reusable rooms whose participants keep arriving at a cadence (daily, weekly, fortnightly) after creation,
  a new participant per join, some edited later (`updated_at` moves); never while the meeting is INACTIVE.
  Arrivals are visible up to the end of the data, or up to where `emu.clock.set()`/`advance()` moved the
  clock: wall time passing releases none, so a sync never races its ground truth. `emu.rooms()` lists them.
- Participants are listed oldest first (created_at, then id). add returns 201 with `token`; edit returns the
  participant with `token`; list and get never include it. A second participant with the same
  `custom_participant_id` in a meeting is a 409. Delete returns {created_at, custom_participant_id,
  preset_id, updated_at}; preset_id is a stable UUID per preset name.
- Errors: RealtimeKit's `{"success": false, "error": {"code": <HTTP status>, "message"}}` for 400/404/405/409/
  5xx (unknown meeting or participant, malformed ids included, and an unknown app id are 404s); Cloudflare's
  `{"success": false, "errors": [{"code", "message"}], "messages": [], "result": null}` for auth (missing or
  wrong bearer token: 401, code 10000; a valid token on the wrong account: 403, code 10000), rate limiting
  (429, code 971) and paths outside the API (404, codes 7000/7003).
- Credentials: meetings with storage in `recording_config.storage_config` return `access_key`, `secret`,
  `password` and `private_key` (values `EMU-SECRET-<kind>-<n>`) from GET/PATCH/PUT, and a few meetings
  show every field in the list too (fields newer than the reference: `ai_config`, `recording_config`,
  `transcribe_on_end`, `x_region`). Participant tokens look like `EMU-PTOKEN-<n>`.
- Rate limit (off by default; `Faults(rate_limit=(1200, 300))`): every request counts, and the one that
  exceeds the budget starts a lockout during which every request is a 429 with Retry-After.
"""

from __future__ import annotations

from rtk_pipeline.emulator.cli import add_cli_arguments, config_from_args
from rtk_pipeline.emulator.clock import Clock
from rtk_pipeline.emulator.config import EmulatorConfig
from rtk_pipeline.emulator.faults import Faults
from rtk_pipeline.emulator.server import Emulator, RequestRecord, serve

__all__ = [
    "Clock",
    "Emulator",
    "EmulatorConfig",
    "Faults",
    "RequestRecord",
    "add_cli_arguments",
    "config_from_args",
    "serve",
]
