"""``handgrad serve``: a web page and a JSON API to try a trained model (the ``serve`` extra).

``model.py`` reads the run folder and turns input into predictions; ``app.py`` is the FastAPI app;
``templates/`` and ``static/`` the page.
"""
