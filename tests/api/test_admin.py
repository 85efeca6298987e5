"""Admin routes: refused without a configured key, 401 with a wrong one; with the right key
they import a catalog, train and hot-reload the models of a running app."""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path

import pytest

from api.app import create_app
from recagent.runtime import Runtime
from recagent.settings import Settings
from tests.api.support import asgi_client

KEY = "s3cret-admin-key"


@pytest.mark.parametrize("path", ["/v1/admin/reload", "/v1/admin/train", "/v1/admin/ingest"])
async def test_admin_is_refused_when_no_key_is_configured(
    make_settings: Callable[..., Settings], shared_runtime: Runtime, path: str,
) -> None:
    app = create_app(make_settings(admin_api_key=None), runtime=shared_runtime)
    async with asgi_client(app) as client:
        for headers in ({}, {"Authorization": "Bearer "}, {"X-Admin-Key": "anything"}):
            r = await client.post(path, json={}, headers=headers)
            assert r.status_code == 403
            assert r.json()["error"]["code"] == "admin_disabled"
            assert "RECAGENT_ADMIN_API_KEY" in r.json()["error"]["message"]


async def test_admin_wrong_or_missing_key_is_401(
    make_settings: Callable[..., Settings], shared_runtime: Runtime,
) -> None:
    app = create_app(make_settings(admin_api_key=KEY), runtime=shared_runtime)
    async with asgi_client(app) as client:
        for headers in ({}, {"Authorization": "Bearer nope"}, {"X-Admin-Key": KEY + "x"},
                        {"Authorization": KEY}):
            r = await client.post("/v1/admin/reload", headers=headers)
            assert r.status_code == 401, headers
            assert r.json()["error"]["code"] == "unauthorized"
            assert r.headers["www-authenticate"] == "Bearer"


def _write_catalog(folder: Path) -> tuple[Path, Path]:
    items = folder / "items.csv"
    interactions = folder / "interactions.csv"
    genres = ["Comedy", "Drama", "Horror"]
    with items.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["item_id", "title", "year", "categories"])
        for i in range(30):
            w.writerow([f"b{i}", f"Board Game {i}", 1990 + i % 10, genres[i % 3]])
    with interactions.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["user_id", "item_id", "rating"])
        for u in range(40):
            for k in range(6):
                w.writerow([f"u{u}", f"b{(u * 7 + k * (1 + u % 3)) % 30}", 1 + (u + k) % 5])
    return items, interactions


async def test_ingest_train_and_reload_with_the_right_key(
    make_settings: Callable[..., Settings], tmp_path: Path,
) -> None:
    settings = make_settings(database_url=f"sqlite:///{tmp_path / 'admin.db'}",
                             model_dir=tmp_path / "models", admin_api_key=KEY)
    items, interactions = _write_catalog(tmp_path)
    auth = {"Authorization": f"Bearer {KEY}"}
    async with asgi_client(create_app(settings)) as client:
        ready = await client.get("/readyz")
        assert ready.status_code == 503 and "models" in ready.json()["error"]["message"]

        r = await client.post("/v1/admin/ingest", headers=auth, json={
            "kind": "csv", "items": str(items), "interactions": str(interactions)})
        assert r.status_code == 200, r.text
        assert (await client.get("/v1/items", params={"q": "board game 7"})).json()["items"]

        bad = tmp_path / "bad.csv"
        bad.write_text("item_id,title,year\nz1,Zed,not-a-year\n", encoding="utf-8")
        r = await client.post("/v1/admin/ingest", headers={"X-Admin-Key": KEY},
                              json={"kind": "csv", "items": str(bad)})
        assert r.status_code == 422
        assert r.json()["error"]["code"] == "ingest_failed"
        assert "bad.csv:2" in r.json()["error"]["message"]
        assert (await client.get("/v1/items/z1")).status_code == 404

        r = await client.post("/v1/admin/reload", headers=auth)
        assert r.status_code == 409 and r.json()["error"]["code"] == "no_models"

        r = await client.post("/v1/admin/train", headers=auth,
                              json={"models": ["als", "popularity"]})
        assert r.status_code == 200, r.text
        serving = r.json()["detail"]["serving"]
        assert serving["models"] == ["als", "popularity"]
        assert serving["artifact"] == r.json()["detail"]["artifact"]
        ready = await client.get("/readyz")
        assert ready.status_code == 200, ready.text

        chat = await client.post("/v1/chat", json={"message": "a comedy from the 90s"})
        assert chat.status_code == 200
        assert chat.json()["recommendations"]
        assert all(x["item_id"].startswith("b") for x in chat.json()["recommendations"])

        r = await client.post("/v1/admin/reload", headers=auth)
        assert r.status_code == 200 and r.json()["detail"]["serving"]["models"] == [
            "als", "popularity"]

        r = await client.post("/v1/admin/train", headers=auth, json={"models": ["nope"]})
        assert r.status_code == 422
