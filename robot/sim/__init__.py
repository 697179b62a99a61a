"""The desktop simulation (`gardenbot simulate`): the robot's own loop on recorded gardens.

    session.py     simulate, SimulationOptions, find_samples: one session, start to summary
    sequence.py    RecordingSequence: several recordings played one after another as one camera
    world.py       EmulatorWorld, RecordedTruth: the MCU emulator in its own process, fed each
                   frame's ground truth (pose, bumper, slip, moisture …) from the recording
    scoreboard.py  Scoreboard, evaluate_versions: accuracy against the label maps, per season
                   and adapter version; the held-back evaluation
    report.py      format_summary: the final summary in plain text
"""
