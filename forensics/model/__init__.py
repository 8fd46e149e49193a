"""The decoded checkpoint as typed records: what every view, analysis and renderer works on."""
