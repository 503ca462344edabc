"""The course's data sets, ready for a model: each loader returns a :class:`Dataset` (training,
validation and test arrays, class names, and what a saved model needs: the standardisation, the
alphabet, the preamble).

- ``cifar10(split="a1" | "all")``: images standardised with the training statistics;
- ``surnames(split="course" | "grouped", features="indices" | "ngrams")``: the 18 languages' names;
- ``text(path)``: any UTF-8 text file as characters (the A4 sheet's book).

Data is read from the folder named by the environment variable ``HANDGRAD_DATA`` (holding
``cifar-10-batches-py/``, ``surnames/`` and ``text/``); without it CIFAR-10 is downloaded from the
official site into the user cache, its checksum verified (``handgrad.datasets.sources``).
"""

from handgrad.datasets.cifar import CLASSES as CIFAR10_CLASSES
from handgrad.datasets.cifar import cifar10
from handgrad.datasets.dataset import Dataset
from handgrad.datasets.names.inputs import surnames
from handgrad.datasets.textfile import text

__all__ = ["CIFAR10_CLASSES", "Dataset", "cifar10", "surnames", "text"]
