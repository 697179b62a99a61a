"""The desktop simulation (`gardenbot simulate`): the robot's own loop on recorded gardens.

    sequence.py    several recordings played one after another as one camera
    world.py       the simulated world: the MCU emulator in its own process, fed each frame's
                   ground truth (pose, bumper, slip, moisture …) from the recording
    scoreboard.py  accuracy against the label maps, per season and adapter version; the
                   held-back evaluation; the final summary
"""
