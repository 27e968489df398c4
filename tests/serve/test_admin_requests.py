"""The control API's admin routes answer a request with a missing or unexpected JSON key
with 400 and a UsageError naming the key (not a 500), and do nothing: a real
`opsconsole serve` and a real HTTP client on its control socket."""

from __future__ import annotations

import json
from typing import Any

import aiohttp

from tests.serve.conftest import Site

SECRET = "pw-Never-Echoed-77"


async def post(site: Site, path: str, body: Any, *, raw: bytes | None = None) -> tuple[int, Any]:
    connector = aiohttp.UnixConnector(path=str(site.data_dir / "control.sock"))
    data = raw if raw is not None else json.dumps(body).encode()
    headers = {"Content-Type": "application/json"}
    async with (
        aiohttp.ClientSession(connector=connector) as session,
        session.post(f"http://engine{path}", data=data, headers=headers) as response,
    ):
        return response.status, await response.json(content_type=None)


async def test_a_bad_admin_request_is_a_400_naming_the_key(site: Site) -> None:
    serve = site.serve()
    cases: list[tuple[str, Any, list[str]]] = [
        (
            "/admin/assets/set_credential",
            {"name": "db", "usrname": "u", "password": SECRET},
            [
                "POST /admin/assets/set_credential: missing 'username'; unexpected 'usrname'",
                "(it takes: name, username, password, private_key, passphrase, description)",
            ],
        ),
        ("/admin/assets/show", {}, ["missing 'name'"]),
        ("/admin/assets/delete", {"name": "db", "forced": True}, ["unexpected 'forced'"]),
        ("/admin/assets/entries", {"name": "db"}, ["unexpected 'name'", "no arguments"]),
        ("/admin/assets/set_variable", ["v", 1], ["the body must be a JSON object"]),
        ("/admin/schedules/create", {}, ["missing 'schedule'"]),
        ("/admin/schedules/create", {"schedule": {"name": "n"}}, ["schedule: missing 'runbook'"]),
        ("/admin/schedules/next", {"name": "n", "cnt": 3}, ["unexpected 'cnt'"]),
        (
            "/admin/webhooks/create",
            {"name": "h", "runbook": "r", "pattern": "localhost", "secret": True},
            ["unexpected 'secret'"],
        ),
        ("/admin/webhooks/set_enabled", {"name": "h"}, ["missing 'enabled'"]),
    ]
    for path, body, expected in cases:
        status, answer = await post(site, path, body)
        assert status == 400, (path, body, answer)
        error = answer["error"]
        assert error["type"] == "UsageError" and error["exit_code"] == 2, (path, answer)
        for text in expected:
            assert text in error["message"], (path, error["message"])
        assert SECRET not in json.dumps(answer)

    status, answer = await post(site, "/admin/assets/show", None, raw=b"{not json")
    assert status == 400 and "the body is not JSON" in answer["error"]["message"]

    # nothing was made, the engine is well, and a right request still works
    assert site.cli("assets", "list", "--json").stdout.strip() == "[]"
    assert site.cli("schedules", "list", "--json").stdout.strip() == "[]"
    status, answer = await post(site, "/admin/assets/set_variable", {"name": "v", "value": 3})
    assert status == 200 and answer["name"] == "v"
    assert serve.proc.poll() is None
    assert "Traceback" not in serve.text() and SECRET not in serve.text()
    assert serve.stop() == 0
