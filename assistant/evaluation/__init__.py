"""`assistant eval`: question sets, metrics, the run, its report, and the baseline it compares with."""
