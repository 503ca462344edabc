"""The surnames of DD2424 A3 (18 languages), every data piece in one place:

- ``files.py``: the course files (ascii_names.txt, category_labels.txt, Validation_Inds.txt);
- ``tutorial.py``: the PyTorch tutorial's names archive, downloaded and folded to ASCII, when the
  course files are not there;
- ``grouped.py``: the leak-free split (de-duplicated, grouped by name, stratified by language);
- ``encoder.py``: a name as one-hot columns or character indices;
- ``ngrams.py``: character n-gram TF-IDF rows;
- ``inputs.py``: ``surnames(...)``, all of that put together as a model's data set
  (``handgrad.datasets.surnames``).
"""
