"""Figures, tables, the paper-versus-report claims, the status page and the performance targets."""
