"""The micro-cache (flask_nginx_cache_paths): the role's rendered files pass `nginx -t` with it, and
a real Nginx on them, in front of a small real app started here, caches what it may and nothing
else, fills a page once for many clients, and serves a cached page stale while the app fails."""
import collections
import http.client
import http.server
import re
import shutil
import threading
import time
import urllib.parse
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from conftest import SAMPLE_APP, plan
from test_nginx_templates import live_nginx, nginx, nginx_t  # noqa: F401  (nginx: the fixture)

UPSTREAM_PORT = 18093
# Nginx's read timeout towards the app in the live cases: a "timeout" answer takes longer.
READ_TIMEOUT = 2
LIVE = {"flask_nginx_default_server": False, "flask_nginx_ipv6": "never", "flask_nginx_logs": {"buffer": ""},
        # The app of this test, not a Gunicorn socket: TCP on loopback.
        "flask_nginx_gunicorn": {"bind": f"127.0.0.1:{UPSTREAM_PORT}"}, "flask_nginx_timeouts": {"proxy_read": f"{READ_TIMEOUT}s"}}
CACHED = "/cached/"
FLEET_GROUPS = {"flask_nginx_fleet": {"lb_hosts": "cache_lb", "app_hosts": "cache_app"}}
# name -> variables over the role's defaults (each a made-up host of its own).
CASES = {
    # Served for real (module fixture `site`).
    "cache": {**LIVE, "flask_nginx_http_port": 18083, "flask_nginx_cache_paths": [CACHED], "flask_nginx_cache_seconds": 1,
              "flask_nginx_healthcheck": {"path": f"{CACHED}healthz?full=1"}},
    # Served for real by the test of the stale window: an entry's file lives 1 + 2 s after its last request.
    "cache-short-stale": {**LIVE, "flask_nginx_http_port": 18084, "flask_nginx_cache_paths": [CACHED],
                          "flask_nginx_cache_seconds": 1, "flask_nginx_cache_stale_seconds": 2},
    # A second app of the same host: every path, only what the app itself marks cacheable, no stale
    # pages, and locations that must never be cached (WebSocket, stream).
    "cache-blog": {"flask_nginx_app_name": "blog", "flask_nginx_server_names": ["blog.test"],
                   "flask_nginx_cache_paths": ["/"], "flask_nginx_cache_seconds": 0, "flask_nginx_cache_stale_seconds": 0,
                   "flask_nginx_cache_max_size": "1g",
                   "flask_nginx_locations": [{"path": "/ws/", "websocket": True}, {"path": "= /api/stream", "buffering": False},
                                             {"path": "/api/upload", "client_max_body_size": "200m"}]},
}
# A fleet: the cache lives on the load balancer; the app host renders no Nginx file.
FLEET = {
    "cache-fleet-lb": {"flask_nginx_app_name": "shop", "flask_nginx_server_names": ["shop.test"],
                       "flask_nginx_cache_paths": ["/blog/", "/api/v1.0/"]},
    "cache-fleet-app": {"flask_nginx_app_name": "shop", "flask_nginx_server_names": ["shop.test"],
                        "flask_nginx_cache_paths": ["/blog/", "/api/v1.0/"], "flask_nginx_app_address": "10.0.0.21"},
}
ERROR_PAGE = "Back in a moment (test)"


@pytest.fixture(scope="module")
def rendered(tmp_path_factory, nginx):  # noqa: F811
    """Plan and render every case in one run (as tests/test_nginx_templates.py does); return the
    output directory. Logs, caches and error pages live in it (this user may write there)."""
    out = tmp_path_factory.mktemp("cache")
    (out / "errors").mkdir()
    (out / "errors" / "50x.html").write_text(f"<p>{ERROR_PAGE}</p>\n")
    hosts = {name: {"flask_nginx_app_src": SAMPLE_APP, **variables} for name, variables in CASES.items()}
    inventory = {"all": {"hosts": hosts, "children": {
        "cache_lb": {"hosts": {"cache-fleet-lb": {"flask_nginx_app_src": SAMPLE_APP, **FLEET_GROUPS, **FLEET["cache-fleet-lb"]}}},
        "cache_app": {"hosts": {"cache-fleet-app": {"flask_nginx_app_src": SAMPLE_APP, **FLEET_GROUPS,
                                                    **FLEET["cache-fleet-app"]}}},
    }}}
    facts = {
        "__flask_nginx_access_log": str(out) + "/{{ inventory_hostname }}.access.log",
        "__flask_nginx_error_log": str(out) + "/{{ inventory_hostname }}.error.log",
        "__flask_nginx_cache_dir": str(out) + "/{{ inventory_hostname }}.cache",
        "__flask_nginx_error_pages": str(out / "errors"),
    }
    result, _ = plan(out, inventory, facts)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr
    return out / "rendered"


def cache_file(app="flaskapp"):
    return f"flask-nginx-cache-{app}.conf"


def site_file(app="flaskapp"):
    return f"{app}.conf"


def app_of(case):
    return {**CASES, **FLEET}[case].get("flask_nginx_app_name", "flaskapp")


@pytest.mark.parametrize("case", [*CASES, "cache-fleet-lb"])
def test_nginx_accepts_the_cache(nginx, rendered, tmp_path, case):  # noqa: F811
    # conf.d before the site, as nginx.conf includes them.
    result = nginx_t(nginx, [rendered / case / "flask-nginx-*.conf", rendered / case / site_file(app_of(case))], tmp_path)
    assert result.returncode == 0, f"nginx -t rejected case {case}:\n{result.stderr}"
    assert "[warn]" not in result.stderr, result.stderr


def test_two_apps_with_a_cache_each_share_a_host(nginx, rendered, tmp_path):  # noqa: F811
    """Two app names, two zones and two directories: no clash."""
    blog = rendered / "cache-blog"
    result = nginx_t(nginx, [rendered / "cache" / "*.conf", blog / cache_file("blog"), blog / "flask-nginx-log-blog.conf",
                             blog / "flask-nginx-upstream-blog.conf", blog / site_file("blog")], tmp_path)
    assert result.returncode == 0, result.stderr
    assert "[warn]" not in result.stderr, result.stderr
    zones = [re.search(r"keys_zone=(\S+?):", (rendered / case / cache_file(app)).read_text()).group(1)
             for case, app in (("cache", "flaskapp"), ("cache-blog", "blog"))]
    assert zones == ["flask_nginx_flaskapp_cache", "flask_nginx_blog_cache"]


def test_the_cache_lives_on_the_load_balancer_of_a_fleet(rendered):
    text = (rendered / "cache-fleet-lb" / cache_file("shop")).read_text()
    assert re.search(r"^proxy_cache_path \S+/cache-fleet-lb\.cache levels=1:2 keys_zone=flask_nginx_shop_cache:10m"
                     r" max_size=100m inactive=601s use_temp_path=off;$", text, re.M), text
    assert re.search(r'^    "~\^\(\?:/blog/\|/api/v1\\\.0/\)" 1;$', text, re.M), text
    assert re.search(r"^ *proxy_cache flask_nginx_shop_cache;$", (rendered / "cache-fleet-lb" / site_file("shop")).read_text(), re.M)
    assert not list((rendered / "cache-fleet-app").iterdir())  # the app host renders no Nginx file


def location(text, path):
    """The body of `location PATH { ... }` in a rendered site (locations hold no nested braces)."""
    found = re.search(rf"^    location {re.escape(path)} \{{\n(.*?)^ *\}}$", text, re.M | re.S)
    assert found, f"no location {path}:\n{text}"
    return found.group(1)


def test_websocket_and_streamed_locations_are_never_cached(rendered):
    site = (rendered / "cache-blog" / site_file("blog")).read_text()
    for path in ("/ws/", "= /api/stream"):
        assert "proxy_cache flask_nginx_blog_cache;" not in location(site, path), path
    assert "proxy_cache off;" in location(site, "= /api/stream")
    for path in ("/api/upload", "/"):
        assert "proxy_cache flask_nginx_blog_cache;" in location(site, path), path


def test_cache_seconds_0_caches_only_what_the_app_marks_and_stale_seconds_0_serves_no_stale_page(rendered):
    site = (rendered / "cache-blog" / site_file("blog")).read_text()
    assert not re.search(r"^ *proxy_cache_valid ", site, re.M), site
    assert re.search(r"^ *proxy_cache_use_stale updating;$", site, re.M), site
    assert "inactive=1s" in (rendered / "cache-blog" / cache_file("blog")).read_text()


def test_the_cached_location_has_the_key_the_lock_and_stale_pages_on_errors(rendered):
    site = location((rendered / "cache" / site_file()).read_text(), "/")
    for line in ("proxy_cache flask_nginx_flaskapp_cache;", "proxy_cache_key $scheme://$host$request_uri;",
                 "proxy_cache_bypass $flask_nginx_flaskapp_cache_skip;", "proxy_no_cache $flask_nginx_flaskapp_cache_skip;",
                 "proxy_cache_valid 200 301 302 1s;", "proxy_cache_lock on;",
                 "proxy_cache_use_stale error timeout invalid_header updating http_500 http_502 http_503 http_504;"):
        assert f"        {line}\n" in site, line
    assert "proxy_cache_background_update on" not in site


# --- A real Nginx in front of a real app -------------------------------------------------------


class Upstream:
    """A small real app on 127.0.0.1:PORT behind the rendered Nginx. It counts the requests per
    target (path and query) and answers "TARGET answer N"; the query says how: `cc` a
    Cache-Control header, `cookie` a Set-Cookie, `delay` seconds to wait first. `failure` makes
    every answer that status, or "timeout": no answer within Nginx's read timeout. HTTP/1.0, so
    that no connection outlives stop()."""

    def __init__(self, port):
        self.port, self.hits, self.failure, self.server = port, collections.Counter(), None, None
        self.lock = threading.Lock()

    def start(self):
        upstream = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802  (the name http.server calls)
                upstream.answer(self)

            do_HEAD = do_POST = do_GET

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        self.server.handle_error = lambda *args: None  # an answer to a client Nginx gave up on
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    def answer(self, handler):
        handler.rfile.read(int(handler.headers.get("Content-Length") or 0))
        with self.lock:
            self.hits[handler.path] += 1
            count = self.hits[handler.path]
        query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(handler.path).query))
        time.sleep(float(query.get("delay", 0)) + (READ_TIMEOUT + 2 if self.failure == "timeout" else 0))
        status = self.failure if isinstance(self.failure, int) else 200
        body = f"{handler.path} answer {count}".encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "text/plain")
        handler.send_header("Content-Length", str(len(body)))
        if "cc" in query:
            handler.send_header("Cache-Control", query["cc"])
        if "cookie" in query:
            handler.send_header("Set-Cookie", "session=s3cr3t; Path=/; HttpOnly")
        handler.end_headers()
        if handler.command != "HEAD":
            handler.wfile.write(body)


class Answer(collections.namedtuple("Answer", "status cache body")):
    """An answer of Nginx: its status, X-Cache-Status (None when absent) and body."""


def request(port, target, method="GET", headers=None):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    try:
        connection.request(method, target, body=b"x" if method == "POST" else None,
                           headers={"Host": "localhost", **(headers or {})})
        response = connection.getresponse()
        return Answer(response.status, response.getheader("X-Cache-Status"), response.read().decode())
    finally:
        connection.close()


def page(prefix=CACHED, **query):
    """A target of its own (a cold key): PREFIX, a random name, QUERY."""
    return f"{prefix}{uuid.uuid4().hex[:12]}" + (f"?{urllib.parse.urlencode(query)}" if query else "")


# An entry stored within second S is valid through S + 1: it is expired 2 s later at the latest.
PAST_ONE_SECOND = 2.1


@pytest.fixture(scope="module")
def upstream():
    app = Upstream(UPSTREAM_PORT)
    app.start()
    yield app
    app.stop()


@pytest.fixture(scope="module")
def site(nginx, rendered, tmp_path_factory, upstream):  # noqa: F811
    """A real Nginx on the `cache` case's files (port 18083), in front of `upstream`."""
    server = live_nginx(nginx, rendered, tmp_path_factory.mktemp("live-cache"), "cache", 18083)
    yield 18083
    server.terminate()
    server.wait(timeout=10)


@pytest.fixture
def app(upstream):
    """The upstream, answering normally again after each test."""
    upstream.failure = None
    yield upstream
    upstream.failure = None


def test_a_page_on_a_cached_path_is_a_miss_then_a_hit_and_reaches_the_app_once(site, app):
    target = page()
    first = request(site, target)
    assert (first.status, first.cache) == (200, "MISS")
    assert request(site, target) == (200, "HIT", first.body)
    assert request(site, target, method="HEAD")[:2] == (200, "HIT")
    assert app.hits[target] == 1


def test_a_path_outside_the_cached_paths_is_never_cached_and_has_no_cache_status(site, app):
    target = page("/uncached/")
    answers = [request(site, target) for _ in range(2)]
    assert [(a.status, a.cache) for a in answers] == [(200, None), (200, None)]
    assert app.hits[target] == 2


def test_the_health_check_path_is_never_cached_even_under_a_cached_prefix(site, app):
    """The role's health check must reach the app: a cached or stale answer would pass it."""
    target = f"{CACHED}healthz?full=1"
    answers = [request(site, target) for _ in range(2)]
    assert [(a.status, a.cache) for a in answers] == [(200, None), (200, None)]
    assert app.hits[target] == 2


def test_a_post_is_never_answered_from_the_cache(site, app):
    target = page()
    assert request(site, target)[:2] == (200, "MISS")
    assert [request(site, target, method="POST")[:2] for _ in range(2)] == [(200, None), (200, None)]
    assert app.hits[target] == 3


@pytest.mark.parametrize("header", [{"Cookie": "session=abc"}, {"Authorization": "Bearer abc"}],
                         ids=["cookie", "authorization"])
def test_a_request_with_a_cookie_or_authorization_bypasses_the_cache_and_is_not_stored(site, app, header):
    target = page()
    assert request(site, target, headers=header)[:2] == (200, "BYPASS")
    assert request(site, target)[:2] == (200, "MISS")  # the answer above was not stored
    cached = request(site, target)
    assert cached.cache == "HIT"
    personal = request(site, target, headers=header)
    assert personal.cache == "BYPASS" and personal.body != cached.body  # the app answers, not the cache
    assert app.hits[target] == 3


@pytest.mark.parametrize("query", [{"cookie": "1"}, {"cc": "no-store"}, {"cc": "private"}, {"cc": "no-cache"},
                                   {"cc": "public, max-age=60, private"}, {"cc": "max-age=0"}],
                         ids=["set-cookie", "no-store", "private", "no-cache", "private-among-others", "max-age-0"])
def test_an_answer_the_app_keeps_private_is_never_stored(site, app, query):
    """Nginx itself stores no answer with Set-Cookie or Cache-Control private, no-cache or no-store."""
    target = page(**query)
    assert [request(site, target)[:2] for _ in range(2)] == [(200, "MISS"), (200, "MISS")]
    assert app.hits[target] == 2


def test_fifty_concurrent_requests_for_a_cold_page_reach_the_app_once(site, app):
    # The app takes 0.5 s and gives the page 30 s, so that it is still fresh for every waiting request.
    target = page(delay="0.5", cc="max-age=30")
    start = threading.Barrier(50)

    def one(_):
        start.wait()
        return request(site, target)

    with ThreadPoolExecutor(max_workers=50) as pool:
        answers = list(pool.map(one, range(50)))
    assert app.hits[target] == 1
    assert {a.status for a in answers} == {200} and len({a.body for a in answers}) == 1
    assert sorted(collections.Counter(a.cache for a in answers).items()) == [("HIT", 49), ("MISS", 1)]


def test_a_page_past_its_lifetime_is_fetched_again_and_reported_expired(site, app):
    target = page()
    first = request(site, target)
    time.sleep(PAST_ONE_SECOND)
    again = request(site, target)
    assert (again.status, again.cache) == (200, "EXPIRED") and again.body != first.body
    assert request(site, target) == (200, "HIT", again.body)
    assert app.hits[target] == 2


def test_the_apps_max_age_outlives_cache_seconds(site, app):
    target = page(cc="max-age=10")
    first = request(site, target)
    time.sleep(PAST_ONE_SECOND)
    assert request(site, target) == (200, "HIT", first.body)
    assert app.hits[target] == 1


@pytest.mark.parametrize("failure", ["down", "timeout", 500, 502, 503, 504])
def test_a_cached_page_is_served_stale_while_the_app_fails(site, app, failure):
    target, other = page(), page("/uncached/")
    first = request(site, target)
    assert first[:2] == (200, "MISS")
    time.sleep(PAST_ONE_SECOND)
    if failure == "down":
        app.stop()
    else:
        app.failure = failure
    try:
        stale = request(site, target)
        uncached = request(site, other)
    finally:
        if failure == "down":
            app.start()
        app.failure = None
    assert stale == (200, "STALE", first.body)
    if failure in ("down", "timeout"):
        # Nginx's own error, with the role's page.
        assert (uncached.status, uncached.cache) == (502 if failure == "down" else 504, None), uncached
        assert ERROR_PAGE in uncached.body
    else:
        assert (uncached.status, uncached.cache) == (failure, None)  # the app's own answer, passed on
    # Once the app answers again, the next request refreshes the page.
    fresh = request(site, target)
    assert (fresh.status, fresh.cache) == (200, "EXPIRED") and fresh.body != first.body


def test_a_page_whose_file_was_removed_by_hand_is_asked_of_the_app_again(site, app, rendered):
    """docs/cache.md: emptying the cache directory drops every kept page."""
    target = page(cc="max-age=30")
    assert request(site, target)[:2] == (200, "MISS")
    for level in (rendered.parent / "cache.cache").iterdir():
        shutil.rmtree(level)
    assert request(site, target)[:2] == (200, "MISS")
    assert request(site, target)[:2] == (200, "HIT")
    assert app.hits[target] == 2


def cached_files(directory):
    return [path for path in directory.rglob("*") if path.is_file()] if directory.exists() else []


def test_a_page_is_kept_for_stale_answers_until_nobody_asked_for_it_for_cache_plus_stale_seconds(
        nginx, rendered, tmp_path, app):  # noqa: F811
    """inactive = cache_seconds + stale_seconds (1 + 2 s here): Nginx's cache manager removes an
    entry that long after its last request; after that a failing app's answer reaches the client."""
    directory = rendered.parent / "cache-short-stale.cache"
    server = live_nginx(nginx, rendered, tmp_path, "cache-short-stale", 18084)
    try:
        target = page()
        assert request(18084, target)[:2] == (200, "MISS")
        assert cached_files(directory), "the page was not stored"
        stored = time.time()
        # The manager wakes when the oldest entry is due, or every 10 s when it found none.
        deadline = stored + 20
        while cached_files(directory) and time.time() < deadline:
            time.sleep(0.2)
        assert not cached_files(directory), "the entry outlived inactive"
        assert time.time() - stored >= 3 - 1, "removed before cache_seconds + stale_seconds"
        app.failure = 500
        assert request(18084, target)[:2] == (500, "MISS")
    finally:
        server.terminate()
        server.wait(timeout=10)
