"""One module per chapter: its parameters as one validated object (``SPEC``, ``parameters``) and, for the chapters
that run experiments, the chapter protocol that :func:`exemplar.experiments.runner.run_chapter` drives (``load``,
``configs``, ``run_one``, ``summarize``). A chapter's numbers are :mod:`exemplar.analysis`, its text
:mod:`exemplar.reporting`. :data:`CHAPTERS` maps each notebook to its module."""

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
