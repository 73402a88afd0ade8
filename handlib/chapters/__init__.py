"""Per-chapter study logic: which runs a chapter trains, and the tables, figure selections and
claim verdicts it builds from their results. Notebooks call these; they hold no logic of their
own beyond orchestration."""
