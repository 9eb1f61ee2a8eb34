"""The README's quick start is the tested examples, not a second copy that can drift."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FENCE = re.compile(r"```(?:python|sh)\n(.*?)```", re.S)


def snippets_with_their_example():
    text = (ROOT / "README.md").read_text()
    previous_end = 0
    for block in FENCE.finditer(text):
        mentioned = re.findall(r"examples/([\w.]+)", text[previous_end:block.start()])
        previous_end = block.end()
        if mentioned:
            yield mentioned[-1], block.group(1)


def stripped_lines(text):
    return [line.strip() for line in text.splitlines() if line.strip()]


def test_every_quick_start_snippet_is_in_its_example_in_order():
    pairs = list(snippets_with_their_example())
    assert {name for name, _ in pairs} >= {"dictconfig_service.py", "uncaught_exceptions.py",
                                           "deploy.sh", "deploy_at_startup.py"}
    for name, snippet in pairs:
        example = stripped_lines((ROOT / "examples" / name).read_text())
        position = 0
        for line in stripped_lines(snippet):
            assert line in example[position:], f"README line not in examples/{name}: {line}"
            position = example.index(line, position) + 1
