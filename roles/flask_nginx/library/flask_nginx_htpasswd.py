#!/usr/bin/python
"""Write Nginx's basic-auth password file: one SHA-512 crypt(3) hash per user, never a password."""
import grp
import hashlib
import os
import pwd
import secrets
import tempfile

from ansible.module_utils.basic import AnsibleModule

DOCUMENTATION = r"""
module: flask_nginx_htpasswd
short_description: Keep a basic-auth password file of SHA-512 crypt hashes for Nginx
description:
  - Writes O(path) with one C(user:$6$salt$hash) line per user of O(users), sorted by name. Nginx checks a
    login with the system's crypt(3), which knows SHA-512 crypt (C($6$)) on Debian 12 and 13.
  - The hash is computed here, on the host, in Python (hashlib), so neither passlib nor the C(crypt) module
    (gone in Python 3.13) is needed, and no password ever reaches a command line.
  - A user whose line already holds a hash of the same password keeps it; a new or changed password gets a
    new random salt. So a re-run changes nothing, and the same password has another hash on every host.
  - Never returns a password or a hash; check mode reports what would change.
options:
  path:
    description: The password file.
    type: path
    required: true
  users:
    description: User name to password (never logged). Names must not contain C(:) or a line break.
    type: dict
    required: true
  owner:
    description: Owner of the file.
    type: str
    default: root
  group:
    description: Group of the file (Nginx's, which reads it).
    type: str
    default: www-data
  mode:
    description: Mode of the file.
    type: str
    default: "0640"
  header:
    description: A comment written as the file's first line.
    type: str
    default: ""
author: flask-nginx
"""

RETURN = r"""
users:
  description: The user names in the file (never their passwords or hashes).
  returned: always
  type: list
"""

ALPHABET = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
# Bytes of the final digest, three at a time, in the order of Drepper's specification.
ORDER = ((0, 21, 42), (22, 43, 1), (44, 2, 23), (3, 24, 45), (25, 46, 4), (47, 5, 26), (6, 27, 48), (28, 49, 7),
         (50, 8, 29), (9, 30, 51), (31, 52, 10), (53, 11, 32), (12, 33, 54), (34, 55, 13), (56, 14, 35), (15, 36, 57),
         (37, 58, 16), (59, 17, 38), (18, 39, 60), (40, 61, 19), (62, 20, 41))


def _repeat(digest, length):
    return (digest * (length // len(digest) + 1))[:length]


def sha512_crypt(password, salt, rounds=5000):
    """crypt(3)'s SHA-512 scheme ("Unix crypt using SHA-256 and SHA-512", U. Drepper), default
    rounds: the same string as `openssl passwd -6 -salt SALT` and glibc's crypt()."""
    key, salt = password.encode("utf-8"), salt[:16]
    salt_bytes = salt.encode("ascii")
    alternate = hashlib.sha512(key + salt_bytes + key).digest()
    first = hashlib.sha512(key + salt_bytes)
    first.update(_repeat(alternate, len(key)))
    length = len(key)
    while length:
        first.update(alternate if length & 1 else key)
        length >>= 1
    result = first.digest()
    key_sequence = _repeat(hashlib.sha512(key * len(key)).digest(), len(key))
    salt_sequence = _repeat(hashlib.sha512(salt_bytes * (16 + result[0])).digest(), len(salt_bytes))
    for i in range(rounds):
        step = hashlib.sha512(key_sequence if i & 1 else result)
        if i % 3:
            step.update(salt_sequence)
        if i % 7:
            step.update(key_sequence)
        step.update(result if i & 1 else key_sequence)
        result = step.digest()
    encoded = []
    for a, b, c in ORDER + ((None, None, 63),):
        value = (result[a] << 16 | result[b] << 8 | result[c]) if a is not None else result[c]
        for _ in range(4 if a is not None else 2):
            encoded.append(ALPHABET[value & 0x3F])
            value >>= 6
    return f"$6${salt}${''.join(encoded)}"


def new_salt():
    return "".join(secrets.choice(ALPHABET) for _ in range(16))


def verifies(password, line_hash):
    """Whether LINE_HASH (a $6$ hash with the default rounds) is a hash of PASSWORD."""
    parts = line_hash.split("$")
    if len(parts) != 4 or parts[1] != "6" or not parts[2]:
        return False
    return secrets.compare_digest(sha512_crypt(password, parts[2]), line_hash)


def content(users, existing_text, header=""):
    """The file's text for USERS, keeping each hash of EXISTING_TEXT that still verifies."""
    existing = {}
    for line in (existing_text or "").splitlines():
        if line and not line.startswith("#") and ":" in line:
            name, _, line_hash = line.partition(":")
            existing[name] = line_hash.strip()
    lines = [f"# {header}"] if header else []
    for name in sorted(users):
        password = str(users[name])
        kept = existing.get(name, "")
        lines.append(f"{name}:{kept if kept and verifies(password, kept) else sha512_crypt(password, new_salt())}")
    return "\n".join(lines) + "\n"


def main():
    module = AnsibleModule(
        argument_spec={
            "path": {"type": "path", "required": True},
            "users": {"type": "dict", "required": True, "no_log": True},
            "owner": {"type": "str", "default": "root"},
            "group": {"type": "str", "default": "www-data"},
            "mode": {"type": "str", "default": "0640"},
            "header": {"type": "str", "default": ""},
        },
        supports_check_mode=True,
    )
    path, users = module.params["path"], module.params["users"]
    for name, password in users.items():
        if not name or any(ch in name for ch in ":\r\n") or any(ch in str(password) for ch in "\r\n"):
            module.fail_json(msg=f"flask_nginx_htpasswd: user {name!r} is refused: no ':' or line break in a name, "
                                 "no line break in a password")
    try:
        with open(path, encoding="utf-8") as handle:
            existing_text = handle.read()
    except FileNotFoundError:
        existing_text = None
    text = content(users, existing_text, module.params["header"])
    changed = text != existing_text
    if changed and not module.check_mode:
        uid = pwd.getpwnam(module.params["owner"]).pw_uid
        gid = grp.getgrnam(module.params["group"]).gr_gid
        # Owner, group and mode are right before the file takes its place: no moment in
        # which another user could read the hashes.
        fd, temp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".flask-nginx-htpasswd-")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(text)
            os.chown(temp, uid, gid)
            os.chmod(temp, int(module.params["mode"], 8))
            os.replace(temp, path)
        except BaseException:
            if os.path.exists(temp):
                os.unlink(temp)
            raise
    file_args = module.load_file_common_arguments({"path": path, "owner": module.params["owner"],
                                                   "group": module.params["group"], "mode": module.params["mode"]})
    if existing_text is not None or not module.check_mode:
        changed = module.set_fs_attributes_if_different(file_args, changed)
    module.exit_json(changed=changed, users=sorted(users))


if __name__ == "__main__":
    main()
