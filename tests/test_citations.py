"""Citations stay inside the repository: a comment, docstring or string of the package (docstrings, env
cards, preset sources, experiment targets and notes) cites only files that exist in this checkout, and
never notes a user of the repository does not have."""

from __future__ import annotations

import ast
import io
import re
import tokenize
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("metarl_envs", "baselines", "benchmarks")
_MARKDOWN = re.compile(r"(?<![\w/.-])((?:\.\./|[\w-]+/)*[\w.-]+\.md)\b")
_OUTSIDE = re.compile(r"\bSTYLE R\d+|\bSTYLE\b|DESIGN\.md|\.\./shared|/work/shared|\breference/\w+\.md")


def _strings(tree: ast.AST) -> list[tuple[int, str]]:
    return [(node.lineno, node.value) for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str)]


def _comments(source: str) -> list[tuple[int, str]]:
    return [(token.start[0], token.string) for token in tokenize.generate_tokens(io.StringIO(source).readline)
            if token.type == tokenize.COMMENT]


def _sources() -> list[Path]:
    return sorted(path for package in PACKAGES for path in (ROOT / package).rglob("*.py"))


def _written_names() -> set[str]:
    """Markdown files the package writes: a string literal that is exactly a file name (not a citation)."""
    return {node.value for path in _sources() for node in ast.walk(ast.parse(path.read_text()))
            if isinstance(node, ast.Constant) and isinstance(node.value, str)
            and re.fullmatch(r"[\w.-]+\.md", node.value)}


def _exists(cited: str) -> bool:
    """A path from the repository root, or from docs/ (the relative links of the documentation pages)."""
    return (ROOT / cited).is_file() or (ROOT / "docs" / cited).is_file()


def citations() -> list[tuple[str, int, str]]:
    """(file, line, text) of every comment and string (docstrings included) of the package."""
    found = []
    for path in _sources():
        source = path.read_text()
        tree = ast.parse(source)
        texts = _strings(tree) + _comments(source)
        found += [(str(path.relative_to(ROOT)), line, text) for line, text in texts]
    return found


def test_cited_files_are_in_the_repository():
    written = _written_names()
    missing = [f"{file}:{line}: {cited}" for file, line, text in citations() for cited in _MARKDOWN.findall(text)
               if not _exists(cited) and cited.split("/")[-1] not in written]
    assert not missing, "cited files that are not in the repository (cite docs/sources/<page>.md from the " \
                        "repository root, or the paper by section):\n" + "\n".join(sorted(set(missing)))


def test_no_citation_of_notes_outside_the_repository():
    outside = [f"{file}:{line}: {match.group(0)}" for file, line, text in citations()
               for match in _OUTSIDE.finditer(text)]
    assert not outside, "citations of notes a user of the repository does not have:\n" + "\n".join(sorted(set(outside)))


def test_source_pages_exist():
    pages = {path.name for path in (ROOT / "docs" / "sources").glob("*.md")}
    assert {"index.md", "sgmrl.md", "memrl.md", "pmetarl.md", "bomrl.md"} <= pages
