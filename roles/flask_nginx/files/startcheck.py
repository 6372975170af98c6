# flask-nginx start-up check: import the WSGI app of a release the way Gunicorn
# will, as the app's user, before the release goes live. Exit 1 with the app's
# own traceback when it cannot be loaded.
import importlib
import sys
import traceback

module_name, _, expression = sys.argv[1].partition(":")
sys.path.insert(0, ".")
try:
    module = importlib.import_module(module_name)
    application = eval(expression, vars(module))  # "app" or a factory call like "create_app()"
except Exception:
    traceback.print_exc()
    sys.exit(1)
if not callable(application):
    print(f"{sys.argv[1]} is not a WSGI callable: {application!r}", file=sys.stderr)
    sys.exit(1)
print(f"{sys.argv[1]} loads")
