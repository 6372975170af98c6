"""flask-nginx benchmark: the role's stack against the setups people would
otherwise pick, side by side, on the same app and the same host.

  make bench          (scripts/bench.sh: bootstrap, then `python -m bench`)
  python -m bench --report    re-render the outputs from bench/results.json

Setups, all in one Debian 12 container with systemd (traffic stays on its
127.0.0.1; the load generators run inside it too, so every setup shares the
same two cores):
  flask-dev   Flask's development server (threaded), :5000
  gunicorn    Gunicorn alone, sync workers, as many as the role starts
              ((2 x CPUs) + 1), on 127.0.0.1:8000
  seed        Nginx with the server block of a typical blog post, as written:
              /static from disk with `alias` (the release's static directory),
              everything else `proxy_pass` to the Gunicorn above with the
              proxy_params headers; all else Nginx's defaults. :8081
  bare        the thinnest Nginx in front of the role's Gunicorn (the quiet app's
              socket, below): proxy_pass with upstream keep-alive and the Host
              header, nothing else, no access log. :8082. Not a setup to run (the
              app learns neither the client's address nor the scheme): it shows
              what Nginx's hop itself costs, so that the rest of the gap to
              Gunicorn alone can be put down to what the role adds on purpose.
  ours        the role: Nginx + Gunicorn on a unix socket, :80
  quiet       the role again, a second app on the same host (quiet.test on :80),
              with flask_nginx_gunicorn_access_log: false: what Gunicorn's line
              per request in the journal costs
  gevent      the role a third time (gevent.test on :80), its defaults but
              flask_nginx_gunicorn.worker_class: gevent: what the opt-in
              worker class buys for apps that are gevent-safe

Measurements, each printed as a progress line:
  throughput  wrk, BENCH_ROUNDS interleaved rounds (in each round every setup
              in turn, the order rotating); a ratio is the median of the
              per-round ratios, so slow drifts of the host cancel out.
  latency     at a fixed rate of half Gunicorn alone's measured throughput on
              `/`, open loop (hey: -q per worker x -c workers; the achieved
              rate is checked), Gunicorn alone and ours interleaved; p50, p99,
              and the CPU time per request of Nginx and of Gunicorn.
  slow        fast clients on `/` with and without 50 slow clients.
  ablations   the role's server block with one feature changed at a time, each
              copy on its own port in front of the same Gunicorn, in the same
              throughput rounds: what each feature costs.
  converge    the single host: first run by phase and idempotent re-run (tasks
              run, every task's time from ansible.posix.profile_tasks); a fleet
              of 1 load balancer + 4 app hosts; with Mitogen too when it is
              installed (BENCH_MITOGEN=1, the opt-in of scripts/mitogen.sh).

Writes bench/results.json, bench/results.md, bench/results.png and the results
block of docs/performance.md.

The package, one module per job:
  settings      the knobs (BENCH_* variables), the setups, routes and targets
  shell         commands on the controller and in the container, progress lines
  setups        containers, converges, and the alternatives beside the role
  ablations     the role's site file with one feature changed (pure text)
  load          the load generators: wrk, hey at a fixed rate, slow clients
  measurements  interleaved rounds, the rate check, CPU time per request, ratios
  phases        a converge's tasks by phase (packages, virtualenvs, files, ...)
  report        results.json, results.md, the chart, the docs page's block
  __main__      the run, in order
"""
