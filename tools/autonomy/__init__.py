"""The season change with nobody there (issue 17): many simulated days in one synthetic garden,
each with its own look of the year, the robot working a daily session from its dock; the drift
alarm and a nightly schedule start every retrain, the robot's own label sources feed them.

``days.py`` runs the days (`gardenbot simulate --autonomous`), ``timeline.py`` turns the day
records into the owner's timeline: a summary per season change and a plot.
"""
