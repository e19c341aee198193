"""Helpers of the reliability tests (fuzzing, faults, crash safety, soak)."""
