# flask-nginx start-up check: import the WSGI app of a release the way Gunicorn
# will, as the app's user in its sandbox, before the release goes live. Exit 1
# with the app's own traceback when it cannot be loaded. The entry point is
# parsed, never evaluated: 'module:name' or a factory call with literal arguments.
import ast
import importlib
import sys
import traceback

module_name, _, expression = sys.argv[1].partition(":")
sys.path.insert(0, ".")
try:
    node = ast.parse(expression, mode="eval").body
    if isinstance(node, ast.Name):
        factory, args, kwargs = None, [], {}
        name = node.id
    elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        name = node.func.id
        args = [ast.literal_eval(arg) for arg in node.args]
        kwargs = {kw.arg: ast.literal_eval(kw.value) for kw in node.keywords}
        factory = True
    else:
        raise ValueError(f"{sys.argv[1]}: expected 'module:name' or 'module:factory(literal args)'")
    module = importlib.import_module(module_name)
    application = getattr(module, name)
    if factory:
        application = application(*args, **kwargs)
except Exception:
    traceback.print_exc()
    sys.exit(1)
if not callable(application):
    print(f"{sys.argv[1]} is not a WSGI callable: {application!r}", file=sys.stderr)
    sys.exit(1)
print(f"{sys.argv[1]} loads")
