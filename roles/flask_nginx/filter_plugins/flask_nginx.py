"""Filters of the flask_nginx role."""
import hashlib


def flask_nginx_differs(state, path, content=None, mode=None, owner="root", group="root", target=None,
                        kind=None):
    """True when PATH, as the module flask_nginx_file_state read it (STATE), is not yet
    what a task would make of it: a file with CONTENT (and MODE, OWNER, GROUP), a
    directory (kind="directory"), or a link to TARGET. True also when the path was
    not read, so a task never skips a path nobody looked at."""
    found = (state or {}).get(path)
    if not found:
        return True
    if target is not None:
        return found.get("type") != "link" or found.get("target") != target
    wanted = kind or "file"
    if found.get("type") != wanted:
        return True
    if (mode is not None and found.get("mode") != mode) or found.get("owner") != owner or found.get("group") != group:
        return True
    if wanted == "file":
        if content is None:
            return True
        return found.get("checksum") != hashlib.sha1(str(content).encode("utf-8")).hexdigest()  # noqa: S324
    return False


class FilterModule:
    def filters(self):
        return {"flask_nginx_differs": flask_nginx_differs}
