"""Learning: from what the robot felt to a better adapter (the slow path).

Telemetry becomes labels on the frames that saw that ground earlier; labelled cells go into a
bytes-capped replay buffer on disk; a schedule, a button or a drift alarm starts a retrain in a
separate low-priority process that trains the adapter with torch and publishes it through the
adapter store (robot/adapter). Only robot/learning/learner and what runs inside a retrain job
import torch; the rest of this package is torch-free and safe for the control loop.

    experience.py     events_from_telemetry, experience_labels, PoseTrack, resolve_label
    replay_buffer.py  ReplayBuffer: bytes-capped, balanced or reservoir, save/load, split
    triggers.py       ScheduleTrigger, RetrainButton, DriftMonitor
    schedule.py       parse_schedule, next_fire_time, Schedule: "nightly at 02:00" …
    retrain.py        RetrainJob, run_retrain: one retrain start to finish
    process.py        LearnerProcess, LearnerStatus, read_status: the background process
    paths.py          LearnerPaths, default_data_dir: where the learner's files live
    config.py         BufferConfig, TrainConfig, PublishConfig, LearnerProcessConfig,
                      TriggerConfig, LearnerSettings; the [learner], [triggers] and
                      [experience] sections
    learner/          the torch learner: train, STRATEGIES, export_adapter
"""
