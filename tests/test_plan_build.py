"""One build for the fleet (flask_nginx_build_host): which app host builds for which, and
what the installers of a host that takes another's build may ask (its wheels, no index)."""
import pytest

from conftest import SAMPLE_APP, plan_module, role_context, role_options, role_values

PLAN, OPTIONS = plan_module(), role_options()
COMMON = {"flask_nginx_app_src": SAMPLE_APP, "flask_nginx_app_name": "shop", "flask_nginx_server_names": ["shop.test"],
          "flask_nginx_fleet": {"private_network": True}}
BOOKWORM = {"distribution": "Debian", "distribution_major_version": "12", "architecture": "x86_64"}
TRIXIE = {**BOOKWORM, "distribution_major_version": "13"}
WHEELS = "/var/lib/flask-nginx/shop/wheels"


def plan_of(host, platforms, lbs=("lb1",), **variables):
    """The plan of HOST in a fleet of load balancers LBS and app hosts PLATFORMS (name: facts, None =
    not gathered), everyone with VARIABLES: (plan, refusals)."""
    groups = {"flask_lb": list(lbs), "flask_app": list(platforms)}
    hostvars = {name: ({"ansible_facts": facts} if facts else {}) for name, facts in platforms.items()}
    hostvars.update({name: {"ansible_facts": BOOKWORM} for name in lbs})
    values = role_values(**COMMON, **variables)
    return PLAN.make_plan(values, OPTIONS, role_context(values, host, groups, hostvars))


def build_from(host, platforms, **variables):
    found, refused = plan_of(host, platforms, **variables)
    assert not refused, refused
    return found["python"]["build_from"]


FLEET = {"app1": BOOKWORM, "app2": TRIXIE, "app3": BOOKWORM, "app4": TRIXIE}


def test_the_first_app_host_builds_for_the_hosts_of_its_platform_and_the_first_of_another_for_its_own():
    assert [build_from(h, FLEET) for h in FLEET] == ["", "", "app1", "app2"]


def test_the_build_host_can_be_chosen():
    assert [build_from(h, FLEET, flask_nginx_build_host="app3") for h in FLEET] == ["app3", "", "", "app2"]


def test_a_host_whose_platform_is_unknown_and_a_single_host_build_for_themselves():
    assert build_from("app3", {**FLEET, "app3": None}) == ""
    assert build_from("app1", {"app1": BOOKWORM}) == ""
    assert build_from("lb1", FLEET) == ""


def test_a_host_that_takes_the_build_asks_no_index_only_its_wheels():
    found, _ = plan_of("app3", FLEET, flask_nginx_package_index={"url": "https://pypi.example/simple/"})
    pip, uv = found["python"]["pip_env"], found["python"]["uv_env"]
    assert (pip["PIP_NO_INDEX"], pip["PIP_FIND_LINKS"]) == ("1", WHEELS)
    assert uv["UV_FIND_LINKS"] == WHEELS and uv["UV_NO_CACHE"] == "1" and found["python"]["uv_args"] == ["--no-index"]
    builder, _ = plan_of("app1", FLEET, flask_nginx_package_index={"url": "https://pypi.example/simple/"})
    assert "PIP_NO_INDEX" not in builder["python"]["pip_env"] and builder["python"]["uv_args"] == []
    assert builder["python"]["pip_env"]["PIP_INDEX_URL"] == "https://pypi.example/simple/"


@pytest.mark.parametrize("value", ["lb1", "app9"])
def test_a_build_host_outside_the_app_hosts_is_refused_naming_them(value):
    _, refused = plan_of("app1", FLEET, flask_nginx_build_host=value)
    assert refused == [f'flask_nginx_build_host = "{value}" is refused: empty (the first app host) or a host of the '
                       "app-host group flask_app (flask_nginx_fleet.app_hosts): app1, app2, app3, app4"]


def test_the_build_host_makes_the_wheels_with_its_own_index_not_the_one_of_the_host_that_takes_them():
    platforms = {"app1": BOOKWORM, "app3": BOOKWORM}
    groups = {"flask_lb": ["lb1"], "flask_app": list(platforms)}
    hostvars = {"lb1": {"ansible_facts": BOOKWORM},
                "app1": {"ansible_facts": BOOKWORM, "flask_nginx_package_index": {"url": "https://mirror.example/simple/"}},
                "app3": {"ansible_facts": BOOKWORM}}
    values = role_values(**COMMON, flask_nginx_package_index={"url": "http://192.0.2.1:9/simple/"})
    found, refused = PLAN.make_plan(values, OPTIONS, role_context(values, "app3", groups, hostvars))
    assert not refused, refused
    assert found["python"]["build_env"]["PIP_INDEX_URL"] == "https://mirror.example/simple/"
    assert "PIP_CERT" not in found["python"]["build_env"] and "PIP_NO_INDEX" not in found["python"]["build_env"]
    del hostvars["app1"]["flask_nginx_package_index"]  # none of its own: the same as ours
    found, _ = PLAN.make_plan(values, OPTIONS, role_context(values, "app3", groups, hostvars))
    assert found["python"]["build_env"]["PIP_INDEX_URL"] == "http://192.0.2.1:9/simple/"
