"""The report as an analysis: everything the HTML page shows, gathered into a `Report` (findings of
each checkpoint, diffs between consecutive ones, the timeline of every value that moved, the evidence
manifest, page pictures' data, the masker). forensics.render.html only lays a Report out."""
