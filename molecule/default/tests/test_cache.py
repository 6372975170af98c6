"""default scenario: the shop's micro-cache (flask_nginx_cache_paths: [/api/cached], the role's
1 s lifetime and 600 s of stale pages) through the host's real Nginx, in front of Gunicorn."""
import time
import uuid

from conftest import APP, UNIT, wait_for

CACHE_DIR = f"/var/cache/nginx/flask-nginx/{APP}"
# An entry stored within second S is valid through S + 1 (flask_nginx_cache_seconds: 1).
PAST_ITS_LIFETIME = 2.2


def cached_page():
    """A page of its own on the cached path (a cold key: the query is part of it)."""
    return f"/api/cached?t={uuid.uuid4().hex}"


def test_the_cache_directory_is_nginx_s_alone(host):
    directory = host.file(CACHE_DIR)
    assert directory.is_directory
    assert (directory.user, directory.group, directory.mode) == ("www-data", "root", 0o700)


def test_a_cached_page_is_a_hit_after_a_miss(http):
    page = cached_page()
    status, headers, body = http.get(page)
    assert (status, headers.get("x-cache-status")) == (200, "MISS"), headers
    status, headers, again = http.get(page)
    assert (status, headers.get("x-cache-status")) == (200, "HIT"), headers
    assert again == body


def test_a_route_outside_the_cache_paths_has_no_cache_status(http):
    status, headers, _ = http.get("/api/info")
    assert status == 200 and "x-cache-status" not in headers, headers


def test_with_gunicorn_stopped_a_cached_page_is_served_stale_and_others_get_the_error_page(host, http):
    page = cached_page()
    status, headers, body = http.get(page)
    assert (status, headers.get("x-cache-status")) == (200, "MISS"), headers
    time.sleep(PAST_ITS_LIFETIME)
    host.run_expect([0], f"systemctl stop {UNIT}.socket {UNIT}.service")
    try:
        stale = http.get(page)
        down = http.get("/api/info")
    finally:
        host.run_expect([0], f"systemctl start {UNIT}.socket {UNIT}.service")
    assert (stale[0], stale[1].get("x-cache-status"), stale[2]) == (200, "STALE", body), stale
    assert down[0] == 502 and "Back in a moment" in down[2], down
    # Gunicorn back: the next request refreshes the page.
    fresh = wait_for(lambda: http.get(page), 30, lambda answer: answer[1].get("x-cache-status") == "EXPIRED")
    assert fresh[0] == 200 and fresh[1].get("x-cache-status") == "EXPIRED" and fresh[2] != body, fresh
