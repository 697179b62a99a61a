"""The common base every stage builds on; it imports no other part of the robot.

    errors.py    GardenbotError and its leaves (ConfigError, ModelError, RecordingError, …)
    atomic.py    atomic_write_bytes, atomic_write_json, fsync_dir: crash-safe writes
    logs.py      configure_logging, JsonLinesFormatter: text or JSON-lines logs
    classes.py   DEFAULT_CLASSES, TRAVERSABLE, SEASONS, UNLABELLED, class_colour
    geometry.py  CameraModel, robot_to_world, world_to_robot: the camera and robot frames
    body.py      RobotConfig: the robot's size (the [robot] section of gardenbot.toml)
    metrics.py   confusion_matrix, classification_scores, validation_score
    samples.py   LabelledCells, make_cells, cells_from_grid, validate_cells, LABEL_SOURCES
    schema.py    setting and the value checks every config section declares its keys with
"""
