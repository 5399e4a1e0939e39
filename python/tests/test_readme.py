"""README.md's Python example runs as written: the first ```python block of its "Python"
section, run from a copy of the repository's test data as the working directory."""

import re
import shutil
import subprocess
import sys

from conftest import REPO


def readme_example():
    text = (REPO / "README.md").read_text()
    section = re.search(r"^## Python\n(.*?)(?=^## )", text, re.S | re.M)
    assert section, "README.md has no '## Python' section"
    block = re.search(r"^```python\n(.*?)^```", section.group(1), re.S | re.M)
    assert block, "the Python section has no ```python block"
    return block.group(1)


def test_readme_example_runs(tmp_path):
    code = readme_example()
    for path in re.findall(r'"(tests/data/[^"]+)"', code):  # the files it names, where it names them
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO / path, tmp_path / path)
    p = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip(), "the example prints nothing"
    if "model.save(" in code:
        assert (tmp_path / "model.cfm").exists()
