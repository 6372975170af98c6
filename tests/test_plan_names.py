"""Refusals of names and sources that would let one app reach another's units, trust an
unknown git server, or ship files by surprise. The plan function is called directly."""
import json

import pytest
from conftest import SAMPLE_APP, plan_module, role_context, role_options, role_values

PLAN = plan_module()
OPTIONS = role_options()


def refusals(**overrides):
    values = role_values(**{"flask_nginx_app_src": SAMPLE_APP, **overrides})
    return PLAN.make_plan(values, OPTIONS, role_context(values))[1]


@pytest.mark.parametrize("name", ["shop-worker-mail", "shop-job-report", "a-worker-b-job-c"])
def test_an_app_name_that_another_apps_unit_clean_up_would_match_is_refused(name):
    refused = refusals(flask_nginx_app_name=name)
    assert any(r.startswith(f"flask_nginx_app_name = {json.dumps(name)} is refused: a name without '-worker-'")
               for r in refused), refused


@pytest.mark.parametrize("name", ["shop", "shop-workers", "job-board", "my-jobs"])
def test_names_that_only_look_alike_are_accepted(name):
    assert not [r for r in refusals(flask_nginx_app_name=name) if "-worker-" in r], name


@pytest.mark.parametrize("repo", ["git@git.example.com:team/shop.git", "ssh://git@git.example.com/team/shop.git",
                                  "deploy@10.0.0.5:shop"])
def test_an_ssh_git_repository_without_pinned_host_keys_is_refused(repo):
    refused = refusals(flask_nginx_app_src="", flask_nginx_app_git_repo=repo)
    assert any(r.startswith("flask_nginx_app_git_known_hosts = [] is refused: the git server's host keys")
               and repo in r for r in refused), refused
    pinned = refusals(flask_nginx_app_src="", flask_nginx_app_git_repo=repo,
                      flask_nginx_app_git_known_hosts=["git.example.com ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAA"])
    assert not [r for r in pinned if r.startswith("flask_nginx_app_git_known_hosts")], pinned


def test_an_https_git_repository_needs_no_host_keys():
    refused = refusals(flask_nginx_app_src="", flask_nginx_app_git_repo="https://git.example.com/team/shop.git")
    assert not [r for r in refused if r.startswith("flask_nginx_app_git_known_hosts")], refused


@pytest.mark.parametrize("exclude", [[""], ["/"], ["ok", "two\nlines"], "not-a-list"])
def test_exclusion_patterns_are_non_empty_one_line_strings(exclude):
    refused = refusals(flask_nginx_app_exclude=exclude)
    assert any(r.startswith(f"flask_nginx_app_exclude = {json.dumps(exclude)} is refused") for r in refused), refused
