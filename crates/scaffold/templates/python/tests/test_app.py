"""The API end to end through FastAPI's TestClient, on a fresh database per test."""

import pytest
from fastapi.testclient import TestClient

from {{module}}.app import create_app
from {{module}}.settings import Settings


@pytest.fixture
def client(tmp_path):
    with TestClient(create_app(Settings(data_dir=tmp_path))) as client:
        yield client


def test_health(client):
    answer = client.get("/healthz")
    assert answer.status_code == 200
    assert answer.json() == {"status": "SERVING"}


def test_the_database_is_created_in_the_data_dir(tmp_path, client):
    assert (tmp_path / "{{name}}" / "{{name}}.db").is_file()


def test_create_get_update_delete(client):
    created = client.post("/v1/items", json={"name": "first"})
    assert created.status_code == 200
    item = created.json()
    assert set(item) == {"id", "name", "createTime", "updateTime"}
    assert item["name"] == "first"
    assert item["createTime"].endswith("Z")

    assert client.get(f"/v1/items/{item['id']}").json() == item

    updated = client.patch(f"/v1/items/{item['id']}", json={"name": "renamed"}).json()
    assert updated["name"] == "renamed"
    assert updated["createTime"] == item["createTime"]
    assert updated["updateTime"] >= item["updateTime"]

    assert client.delete(f"/v1/items/{item['id']}").json() == {}
    missing = client.get(f"/v1/items/{item['id']}")
    assert missing.status_code == 404
    assert missing.json() == {
        "code": 5,
        "message": f"item {item['id']} not found",
        "details": [],
    }


def test_list_pages_through_every_item_in_creation_order(client):
    names = [f"item {n}" for n in range(5)]
    for name in names:
        client.post("/v1/items", json={"name": name})
    seen, token = [], ""
    while True:
        page = client.get("/v1/items", params={"page_size": 2, "page_token": token}).json()
        seen += [item["name"] for item in page["items"]]
        token = page["nextPageToken"]
        if not token:
            break
    assert seen == names


def test_bad_input_is_400_with_what_is_wrong(client):
    for body in ({}, {"name": ""}, {"name": 7}):
        answer = client.post("/v1/items", json=body)
        assert answer.status_code == 400, body
        assert answer.json()["code"] == 3
        assert "name" in answer.json()["message"]
    assert client.get("/v1/items", params={"page_size": -1}).status_code == 400
    assert client.get("/v1/items", params={"page_token": "x"}).status_code == 400


def test_unknown_ids_are_404(client):
    assert client.get("/v1/items/nope").status_code == 404
    assert client.patch("/v1/items/nope", json={"name": "x"}).status_code == 404
    assert client.delete("/v1/items/nope").status_code == 404


def test_migrations_run_once(tmp_path):
    for _ in range(2):
        with TestClient(create_app(Settings(data_dir=tmp_path))) as client:
            client.post("/v1/items", json={"name": "kept"})
    with TestClient(create_app(Settings(data_dir=tmp_path))) as client:
        assert len(client.get("/v1/items").json()["items"]) == 2
