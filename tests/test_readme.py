"""The manual stays true to the code: docs/variables.md is generated from meta/argument_specs.yml
by scripts/docs.py and must not drift from it (a variable added to the spec without regenerating
fails here); the README stays a short manual whose commands exist and whose links to docs/ resolve;
the example inventory it tells you to copy deploys over HTTPS and passes the role's checks."""
import importlib.util
import re
import subprocess
import sys

import pytest
import yaml

from conftest import REPO, ROLE, SAMPLE_APP, ansible_playbook, load_yaml

SCRIPT = REPO / "scripts" / "docs.py"
README = REPO / "README.md"
DOCS = REPO / "docs"
MAX_README_LINES = 300
# The pages the README's sections link to, one per concern.
PAGES = ("fleet", "https", "deploys", "apps", "observability", "security", "performance", "cache",
         "development", "variables")
LINK = re.compile(r"\[[^\]]*\]\((?P<target>[^)\s]+)\)")
FENCE = re.compile(r"^```.*?^```", re.S | re.M)


@pytest.fixture(scope="module")
def docs():
    spec = importlib.util.spec_from_file_location("flask_nginx_docs", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def anchors(path):
    """GitHub's anchors of the headings of a Markdown file."""
    text = FENCE.sub("", path.read_text())
    return {re.sub(r"[^a-z0-9 _-]", "", heading.strip().lower()).replace(" ", "-")
            for heading in re.findall(r"^#+ (.+)$", text, re.M)}


def links(path):
    """The relative links of a Markdown file (outside code blocks): (target file, anchor)."""
    for match in LINK.finditer(FENCE.sub("", path.read_text())):
        target = match.group("target")
        if re.match(r"[a-z]+:", target):
            continue
        file_part, _, anchor = target.partition("#")
        yield (path.parent / file_part).resolve() if file_part else path, anchor


def test_variables_page_is_up_to_date():
    result = subprocess.run([sys.executable, str(SCRIPT), "--check"], cwd=REPO,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, (
        "docs/variables.md is stale: run python3 scripts/docs.py\n" + result.stdout + result.stderr)


def test_every_variable_of_the_spec_is_on_the_variables_page():
    page = (DOCS / "variables.md").read_text()
    options = load_yaml(ROLE / "meta" / "argument_specs.yml")["argument_specs"]["main"]["options"]
    missing = [name for name in options if f"| `{name}` |" not in page]
    assert not missing, f"not in docs/variables.md (run python3 scripts/docs.py): {missing}"


def test_the_variables_page_opens_with_at_most_ten_essentials(docs):
    page = (DOCS / "variables.md").read_text()
    first_table = page.split("## Essentials", 1)[1].split("\n## ", 1)[0]
    listed = re.findall(r"^\| `(flask_nginx_\w+)` \|", first_table, re.M)
    assert listed == list(docs.ESSENTIALS)
    assert 0 < len(listed) <= 10


def test_check_fails_with_the_instruction_when_a_variable_is_added(docs, tmp_path, monkeypatch, capsys):
    spec = load_yaml(docs.SPEC)
    spec["argument_specs"]["main"]["options"]["flask_nginx_brand_new"] = {
        "type": "str", "default": "x", "description": ["A variable nobody documented yet."]}
    spec_file = tmp_path / "argument_specs.yml"
    spec_file.write_text(yaml.safe_dump(spec))
    page = tmp_path / "variables.md"
    page.write_text((DOCS / "variables.md").read_text())
    monkeypatch.setattr(docs, "SPEC", spec_file)
    monkeypatch.setattr(docs, "PAGE", page)
    assert docs.main(["--check"]) == 1
    assert "run python3 scripts/docs.py" in capsys.readouterr().err
    assert docs.main([]) == 0
    assert "| `flask_nginx_brand_new` | str | `x` | A variable nobody documented yet. |" in page.read_text()
    assert docs.main(["--check"]) == 0


def test_defaults_render_readably(docs):
    assert docs.render_default({"default": ""}) == '`""`'
    assert docs.render_default({"default": False}) == "`false`"
    assert docs.render_default({"default": "/opt/{{ flask_nginx_app_name }}"}) == "`/opt/{{ flask_nginx_app_name }}`"
    long_dict = docs.render_default({"default": {f"Header-{n}": "value" * 4 for n in range(6)}})
    assert long_dict.endswith("(6 entries)") and "…" in long_dict
    # a pipe inside a Jinja default would end the Markdown table cell
    assert docs.cell(docs.render_default({"default": "{{ a | default('b') }}"})) == "`{{ a \\| default('b') }}`"
    assert docs.summary("Where it listens. Empty means auto. More.") == "Where it listens. Empty means auto."
    assert docs.first_sentence("Proxy for pip, e.g. `http://x.example`. Later.") == "Proxy for pip, e.g. `http://x.example`."


def test_readme_is_a_short_manual():
    lines = README.read_text().splitlines()
    assert len(lines) <= MAX_README_LINES, f"README.md has {len(lines)} lines; move details to docs/"


def test_readme_commands_are_makefile_targets():
    targets = set(re.findall(r"^([a-z][a-z-]*):", (REPO / "Makefile").read_text(), re.M))
    used = set(re.findall(r"\bmake ([a-z][a-z-]*)", README.read_text()))
    assert {"demo", "test"} <= used
    assert used <= targets, f"README.md names make targets the Makefile lacks: {sorted(used - targets)}"


def test_every_readme_section_links_to_a_docs_page():
    sections = re.split(r"^## ", FENCE.sub("", README.read_text()), flags=re.M)[1:]
    lacking = [section.splitlines()[0] for section in sections if "](docs/" not in section]
    assert not lacking, f"README sections without a link to docs/: {lacking}"


def test_readme_links_every_docs_page():
    text = README.read_text()
    assert [page for page in PAGES if f"](docs/{page}.md" not in text] == []


@pytest.mark.parametrize("path", [README, *sorted(DOCS.glob("*.md"))], ids=lambda p: p.name)
def test_relative_links_resolve(path):
    broken = []
    for target, anchor in links(path):
        if not target.exists():
            broken.append(str(target.relative_to(REPO)) if REPO in target.parents else str(target))
        elif anchor and target.suffix == ".md" and anchor not in anchors(target):
            broken.append(f"{target.relative_to(REPO)}#{anchor}")
    assert not broken, f"{path.relative_to(REPO)} links to what is not there: {broken}"


def test_readme_shows_the_essentials_in_one_block(docs):
    blocks = re.findall(r"^```yaml\n(.*?)^```", README.read_text(), re.S | re.M)
    assert any(all(f"{name}:" in block for name in docs.ESSENTIALS) for block in blocks)


def test_example_inventory_deploys_https_and_passes_the_role_checks(tmp_path):
    values = load_yaml(REPO / "inventories" / "example" / "group_vars" / "all.yml")
    assert values["flask_nginx_tls_mode"] == "acme" and values["flask_nginx_acme_staging"] is True
    assert values["flask_nginx_acme_email"]
    # The controller-side app directory and the vaulted values are the user's; the checks need some.
    values |= {"flask_nginx_app_src": SAMPLE_APP, "vault_myapp_secret_key": "x", "vault_myapp_database_url": "sqlite://"}
    result = ansible_playbook("validate.yml", values, tmp_path)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
