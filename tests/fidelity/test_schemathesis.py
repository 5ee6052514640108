"""The emulator held against the OpenAPI extract with schemathesis: every finding is either fixed in the
emulator or one of the deliberate differences below (the README's assumptions table gives each reason).

Small and deterministic: positive examples only (schema-valid requests, whose answers must conform),
`derandomize=True`, no example database, no shrinking, EXAMPLES per operation. The account and app path
parameters are the emulator's; meeting and participant ids are real ones, so answers are real objects.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import NamedTuple

import hypothesis
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode

# A copy of ../shared/reference/realtimekit-openapi-extract.json (our own reconstructed extract), so a
# fresh clone runs this without the shared folder.
EXTRACT = Path(__file__).with_name("openapi-extract.json")
EXAMPLES = 12
SCHEMA = schemathesis.openapi.from_path(EXTRACT)
OPERATIONS = [result.ok() for result in SCHEMA.get_all_operations()]


class Finding(NamedTuple):
    method: str
    path: str
    kind: str  # the schemathesis failure class, e.g. UndefinedStatusCode
    status: int
    where: str  # for a response-schema violation: the schema location that failed
    detail: str  # its first line, or the emulator's error message


def _message(response) -> str:
    try:
        return str(response.json().get("error", {}).get("message", ""))
    except ValueError:
        return ""


# Deliberate differences (name = the row in README's assumptions table) and how to recognise each.
DECIDED = {
    "4xx statuses the extract does not declare": lambda f: (
        f.kind == "UndefinedStatusCode" and 400 <= f.status < 500
    ),
    "PUT participant (replace_participant) is not emulated": lambda f: (
        f.method == "PUT" and f.path.endswith("{participant_id}") and f.status == 405
    ),
    "unknown body fields are rejected": lambda f: "unknown field(s)" in f.detail,
    "page_no/per_page must be integers >= the base / >= 1": lambda f: (
        re.match(r"(page_no|per_page) must be an integer >= \d", f.detail) is not None
    ),
    "participant ids and presets must be given and non-empty": lambda f: (
        re.search(r"(custom_participant_id|preset_name) must not be (empty|null)|missing required", f.detail)
        is not None
    ),
    "storage credentials are returned (the reference shows them)": lambda f: (
        f.kind == "JsonSchemaError" and "StorageConfig" in f.where
    ),
    "generated meetings include null titles": lambda f: (
        f.kind == "JsonSchemaError" and f.where.endswith("/title:") and f.detail.startswith("null")
    ),
}


def decision(finding: Finding) -> str | None:
    return next((name for name, matches in DECIDED.items() if matches(finding)), None)


def _findings(case, response, error: BaseExceptionGroup) -> list[Finding]:
    out = []
    for failure in error.exceptions:
        text = str(getattr(failure, "message", failure))
        where = re.search(r"Schema at (\S+)", text)
        first = text.splitlines()[0] if text else ""
        out.append(
            Finding(
                case.method,
                case.path,
                type(failure).__name__,
                response.status_code,
                where.group(1) if where else "",
                first if where else _message(response),
            )
        )
    return out


@pytest.mark.parametrize("operation", OPERATIONS, ids=[op.label.split("{app_id}")[1] for op in OPERATIONS])
def test_emulator_conforms_to_the_extract(emulator_factory, operation):
    emu = emulator_factory(meetings=40, days=5)
    meeting = emu.meetings()[0]["id"]
    found: list[Finding] = []

    @settings(
        max_examples=EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=GenerationMode.POSITIVE))
    def run(case):
        fixed = {"account_id": emu.account_id, "app_id": emu.app_id, "meeting_id": meeting}
        if "participant_id" in case.path_parameters:  # a live one each time: DELETE removes them
            fixed["participant_id"] = emu.add_participant(meeting)["id"]
        case.path_parameters.update({k: v for k, v in fixed.items() if k in case.path_parameters})
        response = case.call(base_url=emu.base_url, headers={"Authorization": f"Bearer {emu.token}"})
        try:
            case.validate_response(response)
        except BaseExceptionGroup as error:
            found.extend(_findings(case, response, error))

    run()
    undecided = sorted({f for f in found if decision(f) is None})
    assert not undecided, "fix the emulator or add a deliberate difference (README):\n" + "\n".join(
        map(str, undecided)
    )
    assert len(emu.requests) >= EXAMPLES // 2  # the run really talked to the emulator
