"""The base every layer stands on: errors (exit codes), strict data files, names, the run folder
and its state records, the lab's PKI."""
