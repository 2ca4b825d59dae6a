"""exemplar: reproduce and extend "Parallelization of a Neural Network Algorithm for
Handwriting Recognition" (Todorov, Zdravski, Kostoska, Gusev) with scikit-learn and ipyparallel."""

__version__ = "0.1.0"
