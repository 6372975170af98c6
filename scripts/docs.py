#!/usr/bin/env python3
"""Write docs/variables.md, the reference of the role's variables, from the role's argument spec.

    python3 scripts/docs.py           rewrite docs/variables.md
    python3 scripts/docs.py --check   exit 1 if docs/variables.md is stale (tests/test_readme.py)

Source of truth: roles/flask_nginx/meta/argument_specs.yml. For the entry point main,
every option with its type, default, choices and the first sentence of its description
(two when the first is short). The page opens with the essential variables (ESSENTIALS
below: what a first deployment sets, at most 10), then one table per concern, grouped by
the "# --- Section ---" comments of roles/flask_nginx/defaults/main.yml, in that file's
order; options without a default there come last, alphabetically. Every other entry point
of the spec (tasks_from) gets a table of its own options at the end. The whole page is
generated: edit the spec, never the page.
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
PAGE = REPO / "docs" / "variables.md"
# The variables a first deployment sets (README.md shows them in one block), in that order.
ESSENTIALS = (
    "flask_nginx_app_name",
    "flask_nginx_app_src",
    "flask_nginx_wsgi_app",
    "flask_nginx_app_env",
    "flask_nginx_server_names",
    "flask_nginx_tls_mode",
    "flask_nginx_acme_email",
    "flask_nginx_acme_staging",
)
MAX_ESSENTIALS = 10
GENERATED = "<!-- Generated from roles/flask_nginx/meta/argument_specs.yml by scripts/docs.py: edit that file, then run python3 scripts/docs.py. -->"
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


def rows(options, names):
    lines = ["| Variable | Type | Default | Description |", "|---|---|---|---|"]
    for name in names:
        option = options[name]
        keys = option.get("options") if option.get("type") == "dict" else None
        text = description(option) + render_choices(option.get("choices"))
        default = "its keys' (below)" if keys else render_default(option)
        lines.append(f"| {code(name)} | {render_type(option)} | {cell(default)} | {cell(text)} |")
        # A grouped variable: a row per key, named as the rules and messages name it.
        for key, sub in (keys or {}).items():
            text = description(sub) + render_choices(sub.get("choices"))
            lines.append(f"| {code(name + '.' + key)} | {render_type(sub)} | {cell(render_default(sub))} | {cell(text)} |")
    return lines


def anchor(title):
    """GitHub's anchor of a heading."""
    return re.sub(r"[^a-z0-9 _-]", "", title.lower()).replace(" ", "-")


def page(spec, defaults_text):
    """The whole of docs/variables.md."""
    specs = spec["argument_specs"]
    options = specs["main"]["options"]
    missing = [name for name in ESSENTIALS if name not in options]
    if missing or len(ESSENTIALS) > MAX_ESSENTIALS:
        raise SystemExit(f"scripts/docs.py: ESSENTIALS must name at most {MAX_ESSENTIALS} options of the spec; "
                         f"not in the spec: {missing}")
    where, order = sections(defaults_text)
    position = {name: index for index, name in enumerate(order)}
    groups = {}
    for name in sorted(options, key=lambda n: (n not in position, position.get(n, 0), n)):
        if name not in ESSENTIALS:
            groups.setdefault(where.get(name, UNGROUPED), []).append(name)
    others = [name for name in specs if name != "main"]
    lines = [
        "# Variables",
        "",
        GENERATED,
        "",
        f"The role has {len(options)} variables. A first deployment sets the essentials below; every other",
        "variable has a default that works, grouped here by concern. The full description of each is in",
        "`ansible-doc -t role -r roles flask_nginx` (run after `make bootstrap && . .venv/bin/activate`).",
        "A value of the wrong type, outside its choices or refused by the role's rules stops the run",
        "before any change, naming the variable, its value and what is allowed.",
        "",
        "Related settings are grouped in one dict variable (`flask_nginx_timeouts`, `flask_nginx_gunicorn`, ...).",
        "Set only the keys you change (`flask_nginx_timeouts: {proxy_read: 120s}`): the role fills in the",
        "others. As with any Ansible dict, a value at a higher precedence (host_vars over group_vars, `-e`",
        "over all) replaces a lower one whole: repeat there the keys you set lower down.",
        "",
        "- [Essentials](#essentials)",
    ]
    lines += [f"- [{title}](#{anchor(title)})" for title in groups]
    lines += [f"- [Entry point `{name}`](#{anchor('Entry point ' + name)})" for name in others]
    lines += ["", "## Essentials", "", *rows(options, ESSENTIALS)]
    for title, names in groups.items():
        lines += ["", f"## {title}", "", *rows(options, names)]
    for name in others:
        entry = specs[name]
        lines += ["", f"## Entry point `{name}`", ""]
        if entry.get("short_description"):
            lines += [plain(entry["short_description"]), ""]
        lines += [f"`tasks_from: {name}`.", ""]
        lines += rows(entry.get("options") or {}, sorted(entry.get("options") or {}))
    lines.append("")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if docs/variables.md is stale, change nothing")
    args = parser.parse_args(argv)
    spec = yaml.safe_load(SPEC.read_text())
    current = PAGE.read_text() if PAGE.exists() else ""
    wanted = page(spec, DEFAULTS.read_text())
    if args.check:
        if current != wanted:
            diff = difflib.unified_diff(current.splitlines(), wanted.splitlines(),
                                        "docs/variables.md", "docs/variables.md (generated)", n=0, lineterm="")
            sys.stderr.write("\n".join(list(diff)[:40]) + "\n")
            sys.stderr.write("docs/variables.md does not match meta/argument_specs.yml: "
                             f"{REGENERATE}\n")
            return 1
        print("docs/variables.md is up to date")
        return 0
    if current != wanted:
        PAGE.parent.mkdir(exist_ok=True)
        PAGE.write_text(wanted)
        print("docs/variables.md written")
    else:
        print("docs/variables.md already up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
