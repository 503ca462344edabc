"""Pages generated when the site is built (mkdocs-gen-files runs this script).

- ``tutorials/NN_name.ipynb``: every tutorial of ``docs/tutorials/``, executed (``docs/notebooks.py``;
  the budget comes from ``HANDGRAD_BUDGET``, default full), so every figure on the site is one its
  code made;
- ``reference/cli.md``: the command line, from the typer app;
- ``reference/config.md``: every config key, its type, default and meaning, from the config schema;
- ``references.md``: the published sources, from ``handgrad.references``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import mkdocs_gen_files
import nbformat
import typer
from typer.cli import get_docs_for_click

sys.path.insert(0, str(Path(__file__).parent))
import notebooks  # noqa: E402  (docs/notebooks.py, beside this script)

from handgrad.cli import app  # noqa: E402
from handgrad.config.reference import format_markdown  # noqa: E402
from handgrad.references import markdown as references_markdown  # noqa: E402

budget = notebooks.budget()
for src in notebooks.sources():
    run = notebooks.execute(src, budget=budget)
    nb = nbformat.read(run.path, as_version=4)
    with mkdocs_gen_files.open(f"tutorials/{src.stem}.ipynb", "w") as f:
        nbformat.write(nb, f)
    mkdocs_gen_files.set_edit_path(f"tutorials/{src.stem}.ipynb", f"tutorials/{src.name}")

command = typer.main.get_command(app)
cli = get_docs_for_click(obj=command, ctx=typer.Context(command), name="handgrad", title="Command-line reference")
with mkdocs_gen_files.open("reference/cli.md", "w") as f:
    f.write(cli + "\n")

with mkdocs_gen_files.open("reference/config.md", "w") as f:
    f.write("# Configuration reference\n\n"
            "Every key a config can hold, per model kind (`[model] kind`), generated from the config schema "
            "(`handgrad config keys [KIND]` prints the same). A key not listed for a kind is an error naming it; "
            "`handgrad config show CONFIG` prints a config resolved, with the values its file gave marked. "
            "The [configs page](../configs.md) explains the tables.\n\n")
    f.write(format_markdown() + "\n")

with mkdocs_gen_files.open("references.md", "w") as f:
    f.write("# References\n\n"
            "The sources whose published numbers handgrad reproduces, and which its reports and these pages "
            "cite: students' reports for KTH's DD2424 *Deep Learning in Data Science*, the course's "
            "assignment sheets (written by its teacher; the text changes little from year to year) and "
            "public student repositories whose numbers serve as further points of comparison. A report "
            "cites them as, for example, \"Ruggeri 2020, DD2424 assignment 3 report, table 2\". "
            "The list is `handgrad.references.REFERENCES`.\n\n")
    f.write(references_markdown(heading="##") + "\n")
