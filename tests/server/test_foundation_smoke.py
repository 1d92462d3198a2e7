def test_health_answers_ok(client):
    resp = client.get("/api/v1/health")
    assert resp.status_code == 200
    assert resp.json["database"] == "ok"
