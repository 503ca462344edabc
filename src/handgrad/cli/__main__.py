"""``python -m handgrad.cli``: the ``handgrad`` command."""

from handgrad.cli import app

if __name__ == "__main__":
    app()
