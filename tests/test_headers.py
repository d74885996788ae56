"""Security headers on every response; HSTS and secure cookies over HTTPS."""
from __future__ import annotations

import pytest

from research_repo import create_app


@pytest.mark.parametrize("path", ["/login", "/studies", "/no-such-page", "/static/app.css"])
def test_security_headers(client, path):
    with client.get(path) as response:
        h = response.headers
    csp = h["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert "frame-ancestors 'none'" in csp
    assert h["X-Content-Type-Options"] == "nosniff"
    assert h["Referrer-Policy"] == "same-origin"
    assert "Strict-Transport-Security" not in h  # plain HTTP: HSTS would be ignored anyway


def test_pages_are_not_cached_but_static_files_may_be(client):
    assert client.get("/login").headers["Cache-Control"] == "no-store"
    with client.get("/static/app.css") as response:
        assert response.status_code == 200
        assert "no-store" not in response.headers.get("Cache-Control", "")


def test_https_adds_hsts_and_secure_host_cookie(app_config):
    app = create_app({**app_config, "HTTPS": True})
    response = app.test_client().get("/login", base_url="https://localhost")
    assert response.headers["Strict-Transport-Security"].startswith("max-age=63072000")
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith("__Host-research_repo=")
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_no_inline_script_in_pages(client, signed_in):
    signed_in("alex")
    for path in ("/login", "/studies", "/studies/new"):
        html = client.get(path).get_data(as_text=True)
        assert "<script>" not in html and " onclick=" not in html and "style=" not in html
