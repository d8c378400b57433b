"""The error corpus: bad kernels, bad IR texts and bad arguments, generated from templates.

Each case is one distinct bad input; `tests/test_error_corpus.py` runs them all and checks that only
tiledsl errors escape, with a hint, and with the kernel's file and line where there is kernel source."""
