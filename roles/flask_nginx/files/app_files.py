"""The files of a local app that make its release, chosen once for both uses (run on the
controller, by the role's plan and build):

    app_files.py id SRC EXCLUDE_JSON                print the release id (12 hex digits)
    app_files.py pack SRC EXCLUDE_JSON ID [STATIC]  pack the files (or only those under STATIC, none
                                                    if "") into a private temporary .tar.gz and print
                                                    its path, if what was read still makes release ID

EXCLUDE_JSON is a JSON list of shell patterns. A pattern starting with "/" is matched
against the path from SRC ("/instance", "/docs/*.md"); any other against each name on
the path (".env", "*.pyc"), so it leaves out a directory with all it holds.

What goes, and how:
- links are followed when they lead to a place inside SRC, and refused when they lead out
  of it (a link to ~/.ssh would ship a key) or nowhere;
- every file and directory belongs to root in the archive; the app's group may read all
  of it, and others what the controller lets others read (a 0600 file stays private to
  root and the app, a 0644 one may be served by Nginx);
- the id is a checksum of each path, mode and content, so one id means one content: the
  archive is checked against the id from the very bytes it holds (an edit in between fails).
"""
import fnmatch
import hashlib
import io
import json
import os
import stat
import sys
import tarfile
import tempfile


class Refused(Exception):
    pass


def excluded(rel, patterns):
    parts = rel.split("/")
    for pattern in patterns:
        if pattern.startswith("/"):
            anchored = pattern.strip("/")
            if any(fnmatch.fnmatchcase("/".join(parts[:i + 1]), anchored) for i in range(len(parts))):
                return True
        elif any(fnmatch.fnmatchcase(part, pattern) for part in parts):
            return True
    return False


def shipped_mode(mode, is_dir):
    """Root owns everything; the app's group reads all (and enters or runs what root may);
    others keep only what the controller gives them."""
    executable = is_dir or mode & stat.S_IXUSR
    owner = 0o700 if executable else 0o600
    group = 0o050 if executable else 0o040
    others = mode & (0o005 if executable else 0o004)
    return owner | group | others


def walk(src, patterns):
    """[(relative path, real path, mode, is_dir)], sorted by path, of what goes."""
    root = os.path.realpath(src)
    if not os.path.isdir(root):
        raise Refused(f"{src} is not a directory")
    out = []

    def visit(directory, rel_dir, ancestors):
        for name in sorted(os.listdir(directory)):
            rel = f"{rel_dir}/{name}" if rel_dir else name
            if excluded(rel, patterns):
                continue
            path = os.path.join(directory, name)
            real = os.path.realpath(path)
            if real != root and not real.startswith(root + os.sep):
                raise Refused(f"{rel} is a link out of the app's directory (to {real}); copy what it needs into it")
            try:
                info = os.stat(real)
            except OSError:
                raise Refused(f"{rel} is a link to nothing") from None
            if stat.S_ISDIR(info.st_mode):
                if real in ancestors:
                    raise Refused(f"{rel} leads back into a directory above it (a link loop)")
                out.append((rel, real, shipped_mode(info.st_mode, True), True))
                visit(real, rel, ancestors | {real})
            elif stat.S_ISREG(info.st_mode):
                out.append((rel, real, shipped_mode(info.st_mode, False), False))
            else:
                raise Refused(f"{rel} is neither a file nor a directory")

    visit(root, "", {root})
    return out


def contents(entries):
    """Each entry with the bytes it holds (None for a directory), each file read once."""
    for rel, real, mode, is_dir in entries:
        if is_dir:
            yield rel, real, mode, None
        else:
            with open(real, "rb") as handle:
                yield rel, real, mode, handle.read()


def digest_of(digest, rel, mode, data):
    digest.update(f"{rel}\0{mode:o}\0".encode())
    if data is not None:
        digest.update(hashlib.sha256(data).digest())


def release_id(entries):
    digest = hashlib.sha256()
    for rel, _real, mode, data in contents(entries):
        digest_of(digest, rel, mode, data)
    return digest.hexdigest()[:12]


def selected(rel, static):
    """Whether REL goes to a load balancer's archive (STATIC: its static directory)."""
    if static is None:
        return True
    prefix = static.strip("/")
    return bool(prefix) and (rel == prefix or rel.startswith(prefix + "/") or prefix.startswith(rel + "/"))


def pack(entries, static=None):
    """The archive's path and the release id of exactly the bytes read for it (all the files
    count, also those a load balancer's archive leaves out)."""
    old = os.umask(0o077)
    try:
        fd, path = tempfile.mkstemp(prefix="flask-nginx-code-", suffix=".tar.gz",
                                    dir=os.environ.get("TMPDIR") or "/tmp")
    finally:
        os.umask(old)
    digest = hashlib.sha256()
    packed = 0
    try:
        with os.fdopen(fd, "wb") as handle, tarfile.open(fileobj=handle, mode="w:gz") as archive:
            for rel, real, mode, data in contents(entries):
                digest_of(digest, rel, mode, data)
                if not selected(rel, static):
                    continue
                packed += 1
                info = tarfile.TarInfo(rel)
                info.mode, info.uid, info.gid, info.uname, info.gname = mode, 0, 0, "root", "root"
                info.mtime = int(os.stat(real).st_mtime)
                if data is None:
                    info.type = tarfile.DIRTYPE
                    archive.addfile(info)
                else:
                    info.size = len(data)
                    archive.addfile(info, io.BytesIO(data))
            if not packed and static is not None:
                # An app with no static files still gives a load balancer a directory to
                # serve from (an empty archive is not one that can be unpacked).
                info = tarfile.TarInfo(static.strip("/") or ".")
                info.type, info.mode, info.uname, info.gname = tarfile.DIRTYPE, 0o755, "root", "root"
                archive.addfile(info)
    except BaseException:
        os.unlink(path)
        raise
    return path, digest.hexdigest()[:12]


def main(argv):
    job, src, patterns = argv[1], argv[2], json.loads(argv[3])
    # Refusals go to stdout with status 0: the role's lookup then shows them (a lookup that
    # fails shows only its status), and the role's next check fails the run with them.
    try:
        entries = walk(src, patterns)
    except Refused as error:
        print(f"flask_nginx_app_src = {json.dumps(src)} is refused: {error}")
        return 0
    if job == "id":
        print(release_id(entries))
        return 0
    planned = argv[4]
    path, packed = pack(entries, argv[5] if len(argv) > 5 else None)
    if packed != planned:
        os.unlink(path)
        print(f"flask_nginx_app_src = {json.dumps(src)} changed during this run: release {planned} was planned,"
              f" its files now make {packed}; nothing was shipped, run again")
        return 0
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
