"""Tests of the primitive ops in minigrad.functions, one file per family."""
