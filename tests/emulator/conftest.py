"""An httpx client bound to an emulator's app, for talking to it the way any client would."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import httpx
import pytest

from rtk_pipeline.emulator import Emulator
from tests.support.emulator import made_and_stopped


class Api:
    """Requests relative to /accounts/{account}/realtime/kit/{app}, with the emulator's bearer token."""

    def __init__(self, emu: Emulator) -> None:
        self.emu = emu
        self.root = f"{emu.base_url}/accounts/{emu.account_id}/realtime/kit/{emu.app_id}"
        self.http = httpx.Client(
            base_url=self.root, headers={"Authorization": f"Bearer {emu.token}"}, timeout=10
        )

    def get(self, path: str, **kw) -> httpx.Response:
        return self.http.get(path, **kw)

    def post(self, path: str, **kw) -> httpx.Response:
        return self.http.post(path, **kw)

    def patch(self, path: str, **kw) -> httpx.Response:
        return self.http.patch(path, **kw)

    def put(self, path: str, **kw) -> httpx.Response:
        return self.http.put(path, **kw)

    def delete(self, path: str, **kw) -> httpx.Response:
        return self.http.delete(path, **kw)

    def walk(self, path: str, **params) -> list[dict]:
        """Every page of a list endpoint, from the emulator's first page number until an empty page."""
        pages, page_no = [], self.emu.config.page_base
        while True:
            r = self.get(path, params={**params, "page_no": page_no})
            assert r.status_code == 200, r.text
            pages.append(r.json())
            if not r.json()["data"]:
                return pages
            page_no += 1

    def close(self) -> None:
        self.http.close()


@pytest.fixture
def api_for() -> Iterator[Callable[[Emulator], Api]]:
    yield from made_and_stopped(Api, Api.close)


@pytest.fixture
def api(api_for: Callable[[Emulator], Api], emulator: Emulator) -> Api:
    return api_for(emulator)
