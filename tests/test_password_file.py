"""The basic-auth password file (library/flask_nginx_htpasswd.py): crypt(3)'s SHA-512 scheme as
glibc and OpenSSL make it, a hash kept while its password is unchanged, never a password."""
import shutil
import subprocess

import pytest

from conftest import role_module

HTPASSWD = role_module("flask_nginx_htpasswd")


def test_the_hash_is_the_one_of_the_specification():
    """The test vector of Drepper's "Unix crypt using SHA-256 and SHA-512" (default rounds)."""
    assert HTPASSWD.sha512_crypt("Hello world!", "saltstring") == (
        "$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1")


@pytest.mark.skipif(not shutil.which("openssl"), reason="no openssl")
@pytest.mark.parametrize("password", ["a", "s3cret-Test-pw", "x" * 64, "y" * 65, "p\u00e4ss w\u00f6rd", "z" * 200])
def test_the_hash_is_the_one_openssl_makes(password):
    salt = "abcdefghijklmnop"
    made = subprocess.run(["openssl", "passwd", "-6", "-salt", salt, "-stdin"], input=password.encode(),
                          capture_output=True, check=True, timeout=30).stdout.decode().strip()
    assert HTPASSWD.sha512_crypt(password, salt) == made


def test_a_hash_is_kept_while_its_password_is_unchanged_and_renewed_when_it_changes():
    # '-' is not in the hashes' alphabet: a password with one cannot show by chance.
    first = HTPASSWD.content({"editor": "pass-one", "ops": "pass-two"}, None, "header")
    assert first.splitlines()[0] == "# header" and "pass-" not in first
    assert HTPASSWD.content({"editor": "pass-one", "ops": "pass-two"}, first, "header") == first  # a re-run changes nothing
    changed = HTPASSWD.content({"editor": "new", "ops": "pass-two"}, first, "header")
    assert changed.splitlines()[2] == first.splitlines()[2]  # ops kept
    editor = changed.splitlines()[1].split(":", 1)[1]
    assert editor != first.splitlines()[1].split(":", 1)[1] and HTPASSWD.verifies("new", editor)
    assert HTPASSWD.content({"ops": "pass-two"}, first, "header").count("\n") == 2  # a removed user goes


def test_each_new_hash_has_its_own_salt():
    one, other = (HTPASSWD.content({"editor": "same"}, None).split("$")[2] for _ in range(2))
    assert one != other and len(one) == 16
