"""gardenbot: everything that runs on the robot, in packages by stage of the data flow.

    commands/  the `gardenbot` command and one module per subcommand
    sim/       the desktop simulation: the robot's loop on recorded gardens
    runtime/   the control loop, its steps, and the config file that sets them up
    learning/  labels from experience, the replay buffer, triggers, the learner and its process
    acting/    the policy: cells → drive and water commands, safety clamps
    seeing/    camera, recordings, backbone, perception, cell geometry, overlay
    adapter/   the adapter artifact: ONNX graph, learner state, versioned store, hot-swap runner
    common/    errors, atomic writes, logs, classes, geometry, metrics, labelled cells, key schema

A package imports only the packages listed below it (learning and acting not each other);
docs/architecture.md is the map, and the contract in pyproject.toml is checked by a test.
"""

__version__ = "0.1.0"
