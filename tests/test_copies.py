"""`# Copied from` marks keep the code that families share identical (as transformers' utils/check_copies.py does).

A saved folder may import only its own siblings, so a helper two families need is written in both. The copy carries a
mark on the line above its `def`/`class` (or above its decorators):

    # Copied from hf_models.bert.modeling_bert._check_ids
    # Copied from hf_models.rnn.modeling_rnn._one_state with recurrent->decoder
    # Copied from hf_models.bert.modeling_bert._classifier_dropout with BertConfig->RnnConfig,hidden_dropout_prob->dropout

The check reads every `hf_models/**/*.py`, finds the definition each mark names (a function, a class or a method,
`Class.method`), applies the renames (`Old->New`, plain text replacement, in order) to its source and compares it with
the marked block, normalising only indentation (a method may be copied to module level and back). A copy that
drifted fails the test with a diff that names both places: change the original and every copy together.
"""

from __future__ import annotations

import ast
import difflib
import re
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "hf_models"
MARK = re.compile(r"^\s*# Copied from (?P<target>[A-Za-z_][\w.]*)(?: with (?P<renames>.+?))?\s*$")


@dataclass(frozen=True)
class Block:
    """A definition's source: the file, its first line (decorators included) and last line, 1-based, and the text."""

    path: Path
    start: int
    end: int
    text: str

    def where(self, root: Path) -> str:
        try:
            shown = self.path.relative_to(root)
        except ValueError:
            shown = self.path
        return f"{shown}:{self.start}"


@dataclass(frozen=True)
class Mark:
    path: Path
    line: int  # 1-based line of the comment
    target: str  # dotted name: hf_models.<family>.<module>.<name>[.<method>]
    renames: tuple[tuple[str, str], ...]


def parse_renames(text: str | None) -> tuple[tuple[str, str], ...]:
    """`Old->New,Old2->New2` (spaces around the commas allowed) -> ((Old, New), (Old2, New2))."""
    if not text:
        return ()
    pairs = []
    for item in text.split(","):
        if "->" not in item:
            raise ValueError(f"a rename must be Old->New, got {item.strip()!r}")
        old, new = (part.strip() for part in item.split("->", 1))
        if not old:
            raise ValueError(f"a rename must be Old->New, got {item.strip()!r}")
        pairs.append((old, new))
    return tuple(pairs)


def find_marks(path: Path) -> list[Mark]:
    marks = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        match = MARK.match(line)
        if match:
            marks.append(Mark(path, number, match["target"], parse_renames(match["renames"])))
    return marks


def _definitions(body: list[ast.stmt]) -> dict[str, ast.AST]:
    return {node.name: node for node in body if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))}


def _block(path: Path, lines: list[str], node: ast.AST) -> Block:
    start = min([node.lineno] + [d.lineno for d in node.decorator_list])
    return Block(path, start, node.end_lineno, "\n".join(lines[start - 1 : node.end_lineno]))


def marked_block(mark: Mark) -> Block | None:
    """The definition right below a mark (only blank lines between), or None."""
    source = mark.path.read_text(encoding="utf-8")
    lines = source.splitlines()
    first_code = mark.line + 1
    while first_code <= len(lines) and not lines[first_code - 1].strip():
        first_code += 1
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            block = _block(mark.path, lines, node)
            if block.start == first_code:
                return block
    return None


def resolve(target: str, root: Path) -> Block | None:
    """The source of `package.module.Name[.method]` under `root`, or None when it does not exist."""
    parts = target.split(".")
    for split in range(len(parts) - 1, 0, -1):
        path = root.joinpath(*parts[:split]).with_suffix(".py")
        if not path.is_file():
            continue
        source = path.read_text(encoding="utf-8")
        lines, body, node = source.splitlines(), ast.parse(source).body, None
        for name in parts[split:]:
            node = _definitions(body).get(name)
            if node is None:
                return None
            body = node.body
        return _block(path, lines, node)
    return None


def normalise(text: str) -> list[str]:
    """Dedented lines without trailing white space: indentation is all that may differ."""
    return [line.rstrip() for line in textwrap.dedent(text).splitlines()]


def check_mark(mark: Mark, root: Path) -> str | None:
    """None when the copy matches its original, else a message naming both places, with a diff."""
    here = f"{mark.path.relative_to(root) if mark.path.is_relative_to(root) else mark.path}:{mark.line}"
    copy = marked_block(mark)
    if copy is None:
        return f"{here}: '# Copied from {mark.target}' is not directly above a def or class"
    original = resolve(mark.target, root)
    if original is None:
        return f"{here}: '# Copied from {mark.target}': no such function, class or method"
    expected = original.text
    for old, new in mark.renames:
        if old not in expected:
            return f"{here}: the rename {old}->{new} does not occur in {mark.target} ({original.where(root)})"
        expected = expected.replace(old, new)
    expected_lines, copy_lines = normalise(expected), normalise(copy.text)
    if expected_lines == copy_lines:
        return None
    renamed = "".join(f" with {old}->{new}" for old, new in mark.renames)
    diff = "\n".join(difflib.unified_diff(expected_lines, copy_lines, lineterm="",
                                          fromfile=f"{original.where(root)} ({mark.target}{renamed})",
                                          tofile=f"{copy.where(root)} (the copy)"))
    return f"{copy.where(root)} is marked as a copy of {mark.target} ({original.where(root)}) but differs:\n{diff}"


def check_copies(root: Path = ROOT, package: str = PACKAGE) -> tuple[list[Mark], list[str]]:
    """Every mark under root/package and the problems found (empty when every copy matches its original)."""
    marks = [mark for path in sorted((root / package).rglob("*.py")) for mark in find_marks(path)]
    problems = [problem for mark in marks if (problem := check_mark(mark, root)) is not None]
    return marks, problems


# ----------------------------------------------------------------------------------------------------------------------
# The package's copies
# ----------------------------------------------------------------------------------------------------------------------
def test_every_copy_matches_its_original():
    marks, problems = check_copies()
    assert not problems, "copies drifted from their originals (edit the original and every copy alike):\n\n" + (
        "\n\n".join(problems)
    )
    # the marks are really found: each family's modeling file but the originals' carries some
    marked_files = {mark.path.relative_to(ROOT).as_posix() for mark in marks}
    for family in ("rnn", "seq2seq", "ngram", "word2vec"):
        assert f"hf_models/{family}/modeling_{family}.py" in marked_files, marked_files


def test_shared_registration_helpers_are_marked_copies_in_every_family():
    """The helpers that derive auto_map and the registration from HEADS exist once, and are copies elsewhere."""
    from hf_models.auto import FAMILIES

    marks, _ = check_copies()
    for name in FAMILIES:
        if name == "bert":  # the original
            continue
        path = ROOT / "hf_models" / name / f"modeling_{name}.py"
        targets = {mark.target for mark in marks if mark.path == path}
        assert {"hf_models.bert.modeling_bert._auto_map",
                "hf_models.bert.modeling_bert._register_for_auto_classes"} <= targets, (name, targets)


# ----------------------------------------------------------------------------------------------------------------------
# The checker itself
# ----------------------------------------------------------------------------------------------------------------------
ORIGINAL = '''\
import torch


def helper(x):
    """Add one."""
    return x + 1


class FooState:
    """The state of Foo."""

    def reorder(self, beam_idx):
        self.foo_hidden = self.foo_hidden.index_select(1, beam_idx)
'''


def write_package(root: Path, copy: str) -> Path:
    family = root / "hf_models" / "fam"
    family.mkdir(parents=True)
    (root / "hf_models" / "__init__.py").write_text("")
    (family / "__init__.py").write_text("")
    (family / "modeling_a.py").write_text(ORIGINAL)
    path = family / "modeling_b.py"
    path.write_text(copy)
    return path


def test_checker_accepts_an_exact_copy_at_another_indentation(tmp_path):
    write_package(tmp_path, textwrap.dedent('''\
        class Other:
            # Copied from hf_models.fam.modeling_a.helper
            def helper(x):
                """Add one."""
                return x + 1
        '''))
    marks, problems = check_copies(tmp_path)
    assert len(marks) == 1 and problems == []


def test_checker_reports_a_drifted_copy_naming_both_places(tmp_path):
    path = write_package(tmp_path, textwrap.dedent('''\
        import torch


        # Copied from hf_models.fam.modeling_a.helper
        def helper(x):
            """Add one."""
            return x + 2
        '''))
    marks, problems = check_copies(tmp_path)
    assert len(marks) == 1 and len(problems) == 1
    problem = problems[0]
    assert "hf_models/fam/modeling_b.py:5" in problem  # the copy, at its def
    assert "hf_models/fam/modeling_a.py:4" in problem  # the original, at its def
    assert "-    return x + 1" in problem and "+    return x + 2" in problem
    # fixed, the same file passes
    path.write_text(path.read_text().replace("x + 2", "x + 1"))
    assert check_copies(tmp_path)[1] == []


def test_checker_applies_renames_and_compares_methods(tmp_path):
    copy = textwrap.dedent('''\
        # Copied from hf_models.fam.modeling_a.FooState with Foo->Bar,foo_hidden->hidden
        class BarState:
            """The state of Bar."""

            def reorder(self, beam_idx):
                self.hidden = self.hidden.index_select(1, beam_idx)


        class Holder:
            # Copied from hf_models.fam.modeling_a.FooState.reorder with foo_hidden->hidden
            def reorder(self, beam_idx):
                self.hidden = self.hidden.index_select(1, beam_idx)
        ''')
    path = write_package(tmp_path, copy)
    marks, problems = check_copies(tmp_path)
    assert [m.renames for m in marks] == [(("Foo", "Bar"), ("foo_hidden", "hidden")), (("foo_hidden", "hidden"),)]
    assert problems == []
    # without the rename the same copy differs
    path.write_text(copy.replace(" with Foo->Bar,foo_hidden->hidden", ""))
    problems = check_copies(tmp_path)[1]
    assert len(problems) == 1 and "hf_models.fam.modeling_a.FooState" in problems[0]
    assert "-class FooState:" in problems[0] and "+class BarState:" in problems[0]


def test_checker_reports_a_mark_without_original_or_without_definition(tmp_path):
    write_package(tmp_path, textwrap.dedent('''\
        # Copied from hf_models.fam.modeling_a.gone
        def gone():
            pass


        # Copied from hf_models.fam.modeling_a.helper with absent->present
        def helper(x):
            """Add one."""
            return x + 1


        # Copied from hf_models.fam.modeling_a.helper
        VALUE = 1
        '''))
    problems = check_copies(tmp_path)[1]
    assert len(problems) == 3, problems
    assert "no such function, class or method" in problems[0]
    assert "the rename absent->present does not occur" in problems[1]
    assert "is not directly above a def or class" in problems[2]


@pytest.mark.parametrize("text", ["Old", "->New", "A->B,C"])
def test_a_malformed_rename_is_an_error(text):
    with pytest.raises(ValueError, match="a rename must be Old->New"):
        parse_renames(text)
