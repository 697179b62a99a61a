"""The robot's main loop and the steps it is made of (docs/runtime.md, "The loop").

    settings.py   Config → the learner's own config dataclasses; the data folder and its seeding
    loop.py       Tick, Step, Loop: a fixed-rate list of steps, shut down in ``finally``
    vision.py     camera, perception (backbone + adapter store) and accuracy steps
    control.py    policy (drive + watering) and the serial link to the microcontroller
    telemetry.py  MCU telemetry → timestamped records (odometry pose, bumper, stall, moisture)
    learning.py   experience and annotation labels → replay buffer; triggers → learner process
    output.py     status line, annotated video, window, recording writer
"""
