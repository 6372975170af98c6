#!/usr/bin/env python3
"""Write the README's table of role variables from the role's argument spec.

    python3 scripts/docs.py           rewrite the table in README.md
    python3 scripts/docs.py --check   exit 1 if README.md's table is stale (tests/test_readme.py)

Source of truth: roles/flask_nginx/meta/argument_specs.yml (entry point main):
every option with its type, default, choices and the first sentence of its
description (two when the first is short). The table is grouped by the "# --- Section ---" comments of
roles/flask_nginx/defaults/main.yml, in that file's order; options without a
default there come last, alphabetically. Only the text between the markers
below is written; the rest of README.md is left as it is.
"""
import argparse
import difflib
import re
import sys
from pathlib import Path

try:
    import yaml
except ImportError:  # pragma: no cover - depends on the Python used
    sys.exit("scripts/docs.py needs PyYAML: run it with .venv/bin/python3 (make bootstrap)")

REPO = Path(__file__).resolve().parent.parent
ROLE = REPO / "roles" / "flask_nginx"
SPEC = ROLE / "meta" / "argument_specs.yml"
DEFAULTS = ROLE / "defaults" / "main.yml"
README = REPO / "README.md"
BEGIN = "<!-- BEGIN VARIABLES (scripts/docs.py) -->"
END = "<!-- END VARIABLES -->"
REGENERATE = "run python3 scripts/docs.py"
MAX_DEFAULT = 60  # characters of a rendered list or dict before it is shortened
SHORT_SENTENCE = 50  # characters: a shorter first sentence takes the second one along
UNGROUPED = "Without a default in defaults/main.yml"

SECTION = re.compile(r"^#\s*---\s*(?P<title>.*?)\s*-*\s*$")
VARIABLE = re.compile(r"^(?P<name>[A-Za-z_][A-Za-z0-9_]*)\s*:")
# Ansible's documentation markup: C(code), O(option), V(value), I(italic), B(bold), ...
MARKUP = re.compile(r"\b(?P<kind>[CMOVEPIBUL])\((?P<body>[^()]*(?:\([^()]*\)[^()]*)*)\)")


def sections(defaults_text):
    """{variable: section title} from the comment headings of defaults/main.yml, and the order."""
    where, order, title = {}, [], "Variables"
    for line in defaults_text.splitlines():
        heading = SECTION.match(line)
        if heading and heading.group("title"):
            title = heading.group("title")
            continue
        variable = VARIABLE.match(line)
        if variable:
            where[variable.group("name")] = title
            order.append(variable.group("name"))
    return where, order


def plain(text):
    """Ansible markup to Markdown."""
    def convert(match):
        kind, body = match.group("kind"), match.group("body")
        if kind == "I":
            return f"*{body}*"
        if kind == "B":
            return f"**{body}**"
        if kind == "U":
            return body
        if kind == "L":
            label, _, url = body.rpartition(",")
            return f"[{label.strip()}]({url.strip()})"
        if kind in "OV":
            body = body.split("=", 1)[0] if kind == "O" else body
        return code(body)
    return MARKUP.sub(convert, " ".join(str(text).split()))


def first_sentence(text):
    """Up to the first full stop that ends a sentence (not inside `code`, not "e.g.")."""
    in_code = False
    for index, char in enumerate(text):
        if char == "`":
            in_code = not in_code
        elif char == "." and not in_code:
            rest = text[index + 1:]
            before = text[:index]
            if re.match(r"\s+[A-Z(`*0-9]", rest) and not re.search(r"\b(e\.g|i\.e|etc|cf|vs)$", before):
                return text[:index + 1]
    return text.strip()


def summary(text):
    """The first sentence; a short one (a mere heading such as "Where Gunicorn listens.")
    takes the next sentence along."""
    first = first_sentence(text)
    if len(first) < SHORT_SENTENCE and len(first) < len(text.strip()):
        return first + " " + first_sentence(text[len(first):].strip())
    return first


def code(value):
    """A Markdown code span holding VALUE (which may contain backticks)."""
    value = str(value)
    ticks = "`"
    while ticks in value:
        ticks += "`"
    pad = " " if value.startswith("`") or value.endswith("`") else ""
    return f"{ticks}{pad}{value}{pad}{ticks}"


def scalar(value):
    """A value as YAML would show it in a flow collection."""
    text = yaml.safe_dump(value, default_flow_style=True, width=10_000, allow_unicode=True)
    return text.strip().removesuffix("...").strip()


def render_default(option):
    if option.get("required"):
        return "required"
    if "default" not in option or option["default"] is None:
        return "none"
    value = option["default"]
    if isinstance(value, bool):
        return code("true" if value else "false")
    if isinstance(value, str):
        return code(value) if value else '`""`'
    if isinstance(value, (list, dict)):
        return render_collection(value)
    return code(value)


def render_collection(value):
    """A list or dict as a flow collection; long ones keep their first items and say how many."""
    if not value:
        return code("[]" if isinstance(value, list) else "{}")
    items = [scalar(item) for item in value] if isinstance(value, list) else \
        [f"{scalar(key)}: {scalar(item)}" for key, item in value.items()]
    opening, closing = ("[", "]") if isinstance(value, list) else ("{", "}")
    whole = opening + ", ".join(items) + closing
    if len(whole) <= MAX_DEFAULT:
        return code(whole)
    shown = []
    for item in items:
        if shown and len(", ".join(shown + [item])) > MAX_DEFAULT - 6:
            break
        shown.append(item)
    noun = "items" if isinstance(value, list) else "entries"
    return f"{code(opening + ', '.join(shown) + ', …' + closing)} ({len(items)} {noun})"


def render_type(option):
    kind = option.get("type", "str")
    if kind == "list" and option.get("elements"):
        return f"list of {option['elements']}"
    return kind


def render_choices(choices):
    if not choices:
        return ""
    if all(isinstance(c, int) and not isinstance(c, bool) for c in choices) and len(choices) > 3 \
            and list(choices) == list(range(choices[0], choices[-1] + 1)):
        return f" From {code(choices[0])} to {code(choices[-1])}."
    return " One of " + ", ".join(code(c) for c in choices) + "."


def description(option):
    text = option.get("description", "")
    if isinstance(text, list):
        text = text[0] if text else ""
    return summary(plain(text))


def cell(text):
    """Table cells: a pipe would end the cell, even inside a code span (GitHub Markdown)."""
    return text.replace("|", "\\|")


def table(spec, defaults_text):
    options = spec["argument_specs"]["main"]["options"]
    where, order = sections(defaults_text)
    position = {name: index for index, name in enumerate(order)}
    groups = {}
    for name in sorted(options, key=lambda n: (n not in position, position.get(n, 0), n)):
        groups.setdefault(where.get(name, UNGROUPED), []).append(name)
    lines = [
        BEGIN,
        "<!-- Generated from roles/flask_nginx/meta/argument_specs.yml: edit that file, then "
        f"{REGENERATE}. -->",
        "",
        "| Variable | Type | Default | Description |",
        "|---|---|---|---|",
    ]
    for title, names in groups.items():
        lines.append(f"| **{cell(title)}** | | | |")
        for name in names:
            option = options[name]
            text = description(option) + render_choices(option.get("choices"))
            lines.append(f"| {code(name)} | {render_type(option)} | {cell(render_default(option))} | {cell(text)} |")
    lines.append("")
    lines.append(END)
    return "\n".join(lines)


def updated_readme(readme_text, block):
    start, end = readme_text.find(BEGIN), readme_text.find(END)
    if start < 0 or end < start:
        raise SystemExit(f"README.md lacks the markers {BEGIN} ... {END} (in the section Variables)")
    return readme_text[:start] + block + readme_text[end + len(END):]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if README.md is stale, change nothing")
    args = parser.parse_args(argv)
    spec = yaml.safe_load(SPEC.read_text())
    current = README.read_text()
    wanted = updated_readme(current, table(spec, DEFAULTS.read_text()))
    if args.check:
        if current != wanted:
            diff = difflib.unified_diff(current.splitlines(), wanted.splitlines(),
                                        "README.md", "README.md (generated)", n=0, lineterm="")
            sys.stderr.write("\n".join(list(diff)[:40]) + "\n")
            sys.stderr.write("README.md's variable table does not match meta/argument_specs.yml: "
                             f"{REGENERATE}\n")
            return 1
        print("README.md's variable table is up to date")
        return 0
    if current != wanted:
        README.write_text(wanted)
        print("README.md: variable table written")
    else:
        print("README.md: variable table already up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
