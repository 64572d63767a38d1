"""Run every console example of the documentation, page by page, as CI does.

Each ``.. code-block:: console`` line that starts with ``$ `` is a command.
A page's commands run in order in one bash session (``set -e``): the model
tutorial, the formats and token-view pages and the overview in an empty
temporary folder, the asv tutorial from the repository root. Two kinds of line are not run here, and say why:

* ``pip install ...``: this environment *is* that install;
* the two commands of the Overview (the README's), which ``.ci/run`` runs
  word for word itself.

A command ending in ``# serves until Ctrl-C`` must still be serving after a
few seconds (it is then stopped).

    python docs/run_examples.py            # all pages
    python docs/run_examples.py formats    # one page
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
from pathlib import Path

DOCS = Path(__file__).resolve().parent
REPO = DOCS.parent
PAGES = {
    "tutorial_model": "temp",
    "formats": "temp",
    "tutorial_asv": "repo",
    "index": "temp",
    "view": "temp",
    "selectors": "temp",
    "tutorial_corpus": "temp",
}
README_COMMANDS = {
    "python3 -m venv .venv && .venv/bin/pip install . && .venv/bin/cascade-core analyze",
    'python3 -m venv .venv && .venv/bin/pip install -e ".[test]" && .venv/bin/python -m pytest',
}
SERVER = "# serves until Ctrl-C"


def commands(page: str) -> list[str]:
    text = (DOCS / f"{page}.rst").read_text()
    found = []
    for block in re.finditer(r"\.\. code-block:: console\n\n((?:   .*\n|\n)+)", text):
        for line in block.group(1).splitlines():
            line = line.strip()
            if line.startswith("$ "):
                found.append(line[2:])
    return found


def script(page: str) -> str:
    lines = ["set -euo pipefail"]
    for command in commands(page):
        if command in README_COMMANDS:
            lines.append(f"echo '# run by .ci/run itself: {command}'")
        elif "pip install" in command:
            lines.append(f"echo '# not run (this environment is the install): {command}'")
        elif command.endswith(SERVER):
            server = command[: -len(SERVER)].strip()
            lines.append(f"echo '$ {server}  (for 8 s)'")
            lines.append(f"rc=0; timeout 8 {server} || rc=$?; [ $rc -eq 124 ] || {{ echo 'stopped serving'; exit 1; }}")
        else:
            lines.append(f"printf '%s\\n' {_quote('$ ' + command)}")
            lines.append(command)
    return "\n".join(lines) + "\n"


def _quote(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"


def main(argv: list[str]) -> int:
    pages = argv or list(PAGES)
    bindir = str(Path(sys.executable).parent)
    for page in pages:
        with tempfile.TemporaryDirectory(prefix=f"cascade-docs-{page}-") as tmp:
            cwd = REPO if PAGES[page] == "repo" else tmp
            env = {"PATH": f"{bindir}:/usr/bin:/bin", "HOME": str(Path.home()), "MPLBACKEND": "Agg"}
            print(f"== {page}: {len(commands(page))} commands in {cwd}", flush=True)
            result = subprocess.run(["bash", "-c", script(page)], cwd=cwd, env=env)
            if result.returncode:
                print(f"== {page}: FAILED (exit {result.returncode})")
                return 1
    print(f"== every console example ran ({', '.join(pages)})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
