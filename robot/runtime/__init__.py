"""The robot's main loop, the steps it is made of, and the config file that sets it up.

The loop runs a fixed-rate list of steps that see, decide, act and learn (docs/runtime.md,
"The loop"); `gardenbot run`, `gardenbot record` and the simulation build it from the same
parts.

    config.py     Config, load_config, parse_config, render_config: gardenbot.toml; the
                  [serial], [logging] and [paths] sections
    settings.py   open_parts, learner_settings, prepare_data_dir: config → the parts the loop
                  runs on (backbone, data folder, perception, replay buffer)
    loop.py       Tick, Step, Loop: a fixed-rate list of steps, shut down in ``finally``
    vision.py     CameraStep, PerceptionStep: camera, perception and accuracy steps
    control.py    PolicyStep, ActuationStep, RobotLink, RobotState: policy and the serial link
    telemetry.py  TelemetryStep: MCU telemetry → timestamped records (odometry pose, bumper …)
    learning.py   Memory, ExperienceStep, AnnotationStep, LearnerStep: labels → replay buffer;
                  triggers → learner process
    output.py     StatusLine, OverlayStep, RecorderStep: status line, video, recording writer
"""
