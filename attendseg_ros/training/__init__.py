"""Training and offline evaluation: the trainer, its resume state, evaluation on labelled frames and
the training report. Uses torch; nothing at run time imports it."""
