"""``handgrad predict``, ``sample`` and ``serve``: using a trained model from its run folder."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from handgrad.cli.common import app, friendly
from handgrad.errors import HandgradError


#: names per forward pass of ``handgrad predict`` (a long --file is a few batched passes, memory bounded)
PREDICT_CHUNK = 4096


@app.command()
@friendly
def predict(run_dir: Annotated[Path, typer.Argument(help="run folder of a surnames model (ConvNet, n-gram or ensemble)")],
            names: Annotated[Optional[list[str]], typer.Argument(help="surnames to classify")] = None,
            file: Annotated[Optional[str], typer.Option("--file", "-f", help="read names from FILE, one per line ('-': standard input)")] = None,
            top: Annotated[Optional[int], typer.Option("--top", help="print each name's K most probable languages")] = None,
            json_: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
            fold: Annotated[bool, typer.Option("--fold", help="map accented letters to their base letter first")] = False,
            ) -> None:
    """Probability of every language for each name, and the predicted one (as Ruggeri 2020's A3 report, table 3).

    Names come from the arguments and/or --file (one per line; '-' reads standard input)."""
    from handgrad import predict as predict_mod

    names = list(names or [])
    if file is not None:
        names += predict_mod.read_names(file)
    if not names:
        raise HandgradError("give names as arguments or with --file FILE (one per line, '-' for standard input)")
    predictor = predict_mod.load_predictor(run_dir)  # read and checked once, whatever the number of names
    results = [r for i in range(0, len(names), PREDICT_CHUNK)
               for r in predictor.predict(names[i:i + PREDICT_CHUNK], fold=fold, top=top)]
    for r in results:
        if r["truncated"]:
            typer.echo(f"note: {r['name']!r} is longer than the model's {len(r['encoded'])} characters; "
                       f"only its first {len(r['encoded'])} ({r['encoded']!r}) were used", err=True)
    if json_:
        typer.echo(json.dumps(results, indent=2))
    elif top is not None:
        typer.echo(predict_mod.format_top(results))
    else:
        typer.echo(predict_mod.format_table(results))


@app.command()
@friendly
def sample(run_dir: Annotated[Path, typer.Argument(help="run folder of a trained character RNN")],
           n: Annotated[int, typer.Option("--n", help="characters to generate")] = 1000,
           temperature: Annotated[float, typer.Option(help="divide the scores by this before the softmax")] = 1.0,
           top_p: Annotated[float, typer.Option("--top-p", help="nucleus sampling: keep the most probable characters up to this mass")] = 1.0,
           prime: Annotated[Optional[str], typer.Option(help="start from this text (printed first)")] = None,
           seed: Annotated[Optional[int], typer.Option(help="seed of the sampling Generator (same seed, same text)")] = None,
           ) -> None:
    """Print new text from a character RNN (train it with a configs/rnn/ config)."""
    from handgrad.tasks.charrnn import sample_run

    typer.echo(sample_run(run_dir, n, temperature=temperature, top_p=top_p, prime=prime, seed=seed))


@app.command()
@friendly
def serve(run_dir: Annotated[Path, typer.Argument(help="run folder of a surnames ConvNet or a CIFAR-10 classifier")],
          host: Annotated[str, typer.Option(help="address to bind (the default serves this machine only)")] = "127.0.0.1",
          port: Annotated[int, typer.Option(min=0, max=65535, help="port")] = 8000,
          threads: Annotated[int, typer.Option(min=1, help="BLAS threads of the model's thread (the other cores "
                                                          "answer HTTP)")] = 1) -> None:
    """A web page (and JSON API) to try a trained model: type a surname, or drop an image."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(threads, user_api="blas")  # small batched passes: threads would wait more than they work
    try:
        from handgrad.serve.app import create_app
        from handgrad.serve.app import serve as serve_app
    except ImportError as e:
        raise HandgradError(f"handgrad serve needs the serve extra ({e.name} is missing): "
                            "pip install 'handgrad[serve]'") from None
    app_ = create_app(run_dir)  # reads and checks the run folder: a bad one fails here, before the banner
    typer.echo(f"serving {run_dir} on http://{host}:{port}/ (Ctrl-C stops)")
    serve_app(app_, host=host, port=port)
