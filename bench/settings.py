"""What the benchmark runs: its knobs (BENCH_* environment variables), the setups and the
routes each is measured on, the role's variants, and the targets."""
import os
from pathlib import Path

from .ablations import ABLATIONS, CONTROL

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
NAME = "flask-nginx-bench"
IMAGE = "flask-nginx-test:bookworm"
DURATION = int(os.environ.get("BENCH_SECONDS", "3"))
ROUNDS = max(int(os.environ.get("BENCH_ROUNDS", "5")), 1)
LATENCY_SECONDS = int(os.environ.get("BENCH_LATENCY_SECONDS", "5"))
CONNECTIONS = int(os.environ.get("BENCH_CONNECTIONS", "32"))
# A fixed-rate run counts only when hey achieved its target rate within this fraction.
RATE_TOLERANCE = float(os.environ.get("BENCH_RATE_TOLERANCE", "0.05"))
# The ablations: back-to-back pairs (the unchanged copy and the ablated one, the order
# alternating) of short runs per route, so that both sides of a ratio ran seconds apart.
PAIRS = max(int(os.environ.get("BENCH_PAIRS", "8")), 1)
PAIR_SECONDS = int(os.environ.get("BENCH_PAIR_SECONDS", "1"))
SLOW_CLIENTS = 50
FLEET_APPS = int(os.environ.get("BENCH_FLEET_APPS", "4"))

SETUPS = {
    "flask-dev": {"port": 5000, "host": "shop.test", "label": "Flask dev server"},
    "gunicorn": {"port": 8000, "host": "shop.test", "label": "Gunicorn alone"},
    "seed": {"port": 8081, "host": "shop.test", "label": "Nginx, blog-post block"},
    "bare": {"port": 8082, "host": "quiet.test", "label": "Nginx, nothing but proxy_pass (keep-alive), line off"},
    "ours": {"port": 80, "host": "shop.test", "label": "flask-nginx role"},
    "quiet": {"port": 80, "host": "quiet.test", "label": "flask-nginx role, Gunicorn access log off"},
    "gevent": {"port": 80, "host": "gevent.test", "label": "flask-nginx role, gevent worker"},
}
ROUTES = {
    "dynamic /": ("/", []),
    "json /api/info": ("/api/info", []),
    "static css": ("/static/style.css", []),
    "static css gzip": ("/static/style.css", ["-H", "Accept-Encoding: gzip"]),
    # Only for the ablation of gzip (/api/info's answer is below gzip_min_length: never compressed).
    "dynamic / gzip": ("/", ["-H", "Accept-Encoding: gzip"]),
}
# The routes of the setups side by side (and of the chart).
SIDE_BY_SIDE = ["dynamic /", "json /api/info", "static css", "static css gzip"]
# The Flask dev server is only the baseline of the static target (and of `/` for contrast).
MATRIX = {"flask-dev": ["dynamic /", "static css"], "gunicorn": SIDE_BY_SIDE, "seed": SIDE_BY_SIDE,
          "bare": ["dynamic /", "json /api/info"], "ours": [*SIDE_BY_SIDE, "dynamic / gzip"],
          "quiet": ["dynamic /", "json /api/info"], "gevent": ["dynamic /", "json /api/info"]}
# The setups of the interleaved rounds (the ablations have pairs of their own).
MAIN_SETUPS = list(SETUPS)
# The role's server block with one feature changed (bench/ablations.py): a copy each on its own
# port, in front of ours's Gunicorn, each measured in pairs against the unchanged copy (CONTROL).
ABLATION_PORTS = 8090
for number, ablation in enumerate((CONTROL, *ABLATIONS)):
    SETUPS[ablation.key] = {"port": ABLATION_PORTS + number, "host": "shop.test", "label": f"ours, {ablation.feature}"}
    MATRIX[ablation.key] = ["dynamic /", "json /api/info", *(["dynamic / gzip"] if ablation.gzip_routes else [])]
# The role's site file and upstream of `ours` (vars/main.yml: __flask_nginx_site_file and
# __flask_nginx_upstream_file, with Debian's sites-available from vars/Debian.yml).
SITE_FILE = "/etc/nginx/sites-available/shop.conf"
UPSTREAM_FILE = "/etc/nginx/conf.d/flask-nginx-upstream-shop.conf"
# A default whose cost is above this (in % of throughput) must be explained or changed.
ABLATION_FLAG_PCT = 2.0
# The role's other apps on the host: one setting changed each, against the same targets.
VARIANTS = {
    "quiet": {"tag": "(access log off)", "text": "with Gunicorn's access log off (`flask_nginx_gunicorn_access_log: false`)",
              "vars": {"flask_nginx_app_name": "quiet", "flask_nginx_server_names": ["quiet.test"],
                       "flask_nginx_app_env": {"APP_NAME": "quiet"}, "flask_nginx_gunicorn_access_log": False}},
    "gevent": {"tag": "(gevent worker)", "text": "with the gevent worker (`flask_nginx_gunicorn: {worker_class: gevent}`)",
               "vars": {"flask_nginx_app_name": "gevent", "flask_nginx_server_names": ["gevent.test"],
                        "flask_nginx_app_env": {"APP_NAME": "gevent"},
                        "flask_nginx_gunicorn": {"worker_class": "gevent"}}},
}
# The breakdown of ours ÷ Gunicorn alone into three steps whose product it is (near enough:
# each is a median of per-round ratios): (step, measured against, what the step adds).
GAP_STEPS = (("bare", "gunicorn"), ("quiet", "bare"), ("ours", "quiet"))
GAP_TEXT = {
    ("bare", "gunicorn"): "the hop: the thinnest Nginx (proxy_pass, keep-alive) ÷ Gunicorn alone",
    ("quiet", "bare"): "the role's server block and the app's use of its headers: ours, line off ÷ the thinnest Nginx",
    ("ours", "quiet"): "Gunicorn's journal line per request: ours ÷ ours, line off",
}
# The targets: a value each result is judged against (at least, or at most for AT_MOST).
TARGETS = {
    "ours_vs_gunicorn": 1.0,
    "ours_vs_seed": 1.0,
    # Static files: Nginx serves them itself on both sides, with the role's precompressed copies,
    # open-file cache and sendfile against the seed block's plain alias.
    "static_vs_seed": 1.2,
    "static_vs_flask_dev": 20.0,
    "p99_vs_gunicorn": 1.2,
    "p50_minus_gunicorn_ms": 1.0,
    "slow_clients": 0.9,
    "again_s": 7.0,
    "fleet_vs_single": 1.5,
    "cached_vs_seed": 10.0,
}
AT_MOST = {"p99_vs_gunicorn", "p50_minus_gunicorn_ms", "again_s", "fleet_vs_single"}
TARGET_UNITS = {"p50_minus_gunicorn_ms": " ms", "again_s": " s"}
# The role's variable the cache targets need (bench/measurements.py: cache_measurements).
CACHE_VARIABLE = "flask_nginx_cache_paths"
# The micro-cache's setup: another app of the host with /api/ cached (the sample app's `/` sets
# its session cookie, so it is never cached: the uncached route), measured against the seed
# block on the same route in interleaved rounds, then asked with its Gunicorn stopped.
CACHED = {"port": 80, "host": "cached.test", "route": "json /api/info", "uncached_route": "dynamic /",
          "vars": {"flask_nginx_app_name": "cached", "flask_nginx_server_names": ["cached.test"],
                   "flask_nginx_app_env": {"APP_NAME": "cached"}, CACHE_VARIABLE: ["/api/"]}}
ROLE_DEFAULTS = ROOT / "roles" / "flask_nginx" / "defaults" / "main.yml"
