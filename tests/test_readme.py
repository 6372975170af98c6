"""The README's variable table is generated from meta/argument_specs.yml by scripts/docs.py
and must not drift from it: a variable added to the spec without regenerating fails here."""
import importlib.util
import subprocess
import sys

import pytest
import yaml

from conftest import REPO, ROLE, load_yaml

SCRIPT = REPO / "scripts" / "docs.py"


@pytest.fixture(scope="module")
def docs():
    spec = importlib.util.spec_from_file_location("flask_nginx_docs", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_readme_variable_table_is_up_to_date():
    result = subprocess.run([sys.executable, str(SCRIPT), "--check"], cwd=REPO,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, (
        "README.md's variable table is stale: run python3 scripts/docs.py\n" + result.stdout + result.stderr)


def test_every_variable_of_the_spec_is_in_the_readme_table(docs):
    readme = (REPO / "README.md").read_text()
    block = readme[readme.index(docs.BEGIN):readme.index(docs.END)]
    options = load_yaml(ROLE / "meta" / "argument_specs.yml")["argument_specs"]["main"]["options"]
    missing = [name for name in options if f"| `{name}` |" not in block]
    assert not missing, f"not in README.md's table (run python3 scripts/docs.py): {missing}"


def test_check_fails_with_the_instruction_when_a_variable_is_added(docs, tmp_path, monkeypatch, capsys):
    spec = load_yaml(docs.SPEC)
    spec["argument_specs"]["main"]["options"]["flask_nginx_brand_new"] = {
        "type": "str", "default": "x", "description": ["A variable nobody documented yet."]}
    spec_file = tmp_path / "argument_specs.yml"
    spec_file.write_text(yaml.safe_dump(spec))
    readme = tmp_path / "README.md"
    readme.write_text((REPO / "README.md").read_text())
    monkeypatch.setattr(docs, "SPEC", spec_file)
    monkeypatch.setattr(docs, "README", readme)
    assert docs.main(["--check"]) == 1
    assert "run python3 scripts/docs.py" in capsys.readouterr().err
    assert docs.main([]) == 0
    assert "| `flask_nginx_brand_new` | str | `x` | A variable nobody documented yet. |" in readme.read_text()
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
