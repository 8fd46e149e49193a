"""Analyses that turn the model and other analyses' results into declared tables (forensics.records).

Each function here fills one record type; the renderers (forensics.render) format any table. Masking of
secrets happens here, on the way out of the model, through one `Masker` per command.
"""
