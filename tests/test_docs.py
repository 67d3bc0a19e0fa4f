"""The documentation keeps up with the code: settings, modules, paths and the names ARCHITECTURE.md uses.

The site's own checks (links, anchors, includes, the nav) are `mkdocs build --strict`, run by scripts/test.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from hub.settings import Settings

ROOT = Path(__file__).parent.parent
DOCS = ROOT / "docs"
PAGES = [ROOT / "README.md", ROOT / "ARCHITECTURE.md", *sorted(DOCS.glob("*.md"))]
SOURCE_FILE = re.compile(
    r"(?<![\w@/.-])((?:hub|simulators|tests|bench)/[\w/.-]*\.(?:py|mjs|ts|yaml)|scripts/(?:setup|serve|test|contract))\b"
)
"""A path to a source file: an MQTT topic (hub/devices/…) or an import path (@hub/contract) is none."""


def shown(default: object) -> str:
    """A setting's default as the configuration table writes it."""
    if default is None:
        return "unset"
    if isinstance(default, bool):
        return str(default).lower()
    if isinstance(default, float):
        return f"{default:g}"
    if isinstance(default, list):
        return ",".join(map(str, default))
    return str(default)


def test_configuration_table_lists_every_setting_with_its_flag_and_default() -> None:
    """docs/configuration.md has one row per setting (its variable, flag and default), and no other rows."""
    text = (DOCS / "configuration.md").read_text()
    rows = {
        match["variable"]: (match["flag"], match["default"].strip().strip("`"))
        for match in re.finditer(
            r"^\| `(?P<variable>HUB_\w+)` \| `(?P<flag>--[\w-]+)` \| (?P<default>[^|]+) \|", text, re.M
        )
    }
    expected = {
        f"HUB_{name.upper()}": (f"--{name.replace('_', '-')}", shown(field.default))
        for name, field in Settings.model_fields.items()
    }
    assert rows == expected


def test_layout_names_every_module_of_hub_and_no_module_that_does_not_exist() -> None:
    """docs/layout.md names each module and package of hub/, and every file name it gives exists."""
    text = (DOCS / "layout.md").read_text()
    named = set(re.findall(r"\b([a-z_]+\.py)\b", text)) | set(re.findall(r"\b([a-z_]+)/", text))
    modules = [p for p in (ROOT / "hub").rglob("*.py") if p.name not in ("__init__.py", "__main__.py")]
    packages = [p.parent for p in (ROOT / "hub").rglob("__init__.py")]
    missing = sorted({p.name for p in modules} - named) + sorted({p.name for p in packages} - named)
    assert not missing, f"docs/layout.md does not name {missing}"
    existing = {p.name for p in ROOT.glob("*.py")} | {
        p.name for top in ("hub", "simulators") for p in (ROOT / top).rglob("*.py")
    }
    assert not sorted(set(re.findall(r"\b([a-z_]+\.py)\b", text)) - existing)


def test_paths_in_the_docs_exist() -> None:
    """Every source file that the README, ARCHITECTURE.md and docs/ name (hub/….py, scripts/…) exists."""
    stale = [
        f"{page.name}: {path}"
        for page in PAGES
        for path in re.findall(SOURCE_FILE, page.read_text())
        if not (ROOT / path).exists()
    ]
    assert not stale


def members() -> dict[str, set[str]]:
    """Every class of hub/, with the methods and attributes it defines (self.x = … included)."""
    classes: dict[str, set[str]] = {}
    for path in (ROOT / "hub").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.ClassDef):
                continue
            names = classes.setdefault(node.name, set())
            for item in ast.walk(node):
                if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef):
                    names.add(item.name)
                elif isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
                    names.add(item.target.id)
                elif (
                    isinstance(item, ast.Attribute)
                    and isinstance(item.value, ast.Name)
                    and item.value.id == "self"
                    and isinstance(item.ctx, ast.Store)
                ):
                    names.add(item.attr)
    return classes


def test_the_methods_architecture_names_exist() -> None:
    """Each Class.member of hub/ the README, ARCHITECTURE.md and docs/ name (Hub.command…) is defined."""
    classes = members()
    unknown = [
        f"{page.name}: {cls}.{name}"
        for page in PAGES
        for cls, name in re.findall(r"\b([A-Z]\w+)\.(\w+)\b", page.read_text())
        if cls in classes and name not in classes[cls]
    ]
    assert not unknown
