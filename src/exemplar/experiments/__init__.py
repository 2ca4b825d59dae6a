"""One module per chapter: its parameters as one validated object (``SPEC``), ``run``, ``summarize``, and its
computed sentences. :data:`CHAPTERS` maps each notebook to its module."""

#: notebook stem -> the module (in this package) that holds its parameters and logic
CHAPTERS = {
    "00-paper-vs-report": "paper_vs_report",
    "01-data": "data_overview",
    "02-sequential-sweep": "sweep",
    "03-exemplar-parallel": "exemplar_parallel",
    "04-communication": "communication",
    "04b-combining": "combining",
    "05-algorithms": "algorithms",
    "06-performance": "performance",
    "99-status": "status",
}
