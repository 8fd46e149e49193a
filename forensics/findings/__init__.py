"""Ranked findings: what an investigator should look at first."""
