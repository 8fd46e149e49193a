"""`forensics doctor`: why a checkpoint or restore failed, from CRIU's logs and the engines' error texts.

    rules.py    the rule table (causes, known noise, symptoms) as data
    grammar.py  what a log says about itself: version, kernel, action, verdict, where the log is
    inputs.py   which files a path brings (logs, engine texts, images, stats)
    scan.py     one pass over one text against the table
    diagnose.py `diagnose(path) -> Diagnosis`: the findings ranked, the noise apart
    model.py    Diagnosis, Finding, Source, LogLine, BenignLines
    render.py   `render_terminal(diag, console)`, `to_json(diag)`
"""

from forensics.doctor.diagnose import diagnose
from forensics.doctor.model import BenignLines, Diagnosis, Finding, LogLine, Source
from forensics.doctor.render import render_terminal, to_json

__all__ = ["BenignLines", "Diagnosis", "Finding", "LogLine", "Source", "diagnose", "render_terminal", "to_json"]
