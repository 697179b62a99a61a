"""Seeing: camera frames to per-cell classes, without torch (the fast path).

Frames come from a camera, a video or a recording; the frozen backbone turns each into a grid
of patch features, the current adapter (robot/adapter) into classes, confidence and novelty
per cell; the cell geometry places the grid on the ground. A test keeps this package free of
torch.

    camera.py      open_source, LiveCamera, VideoFile, RecordingSource, RateLimited, CameraFrame
    recording.py   Recording, RecordingWriter, RecordingMeta: the recording format
    video.py       video_capture, video_writer: OpenCV video opened with FFmpeg kept quiet
    backbone.py    Backbone, load_card, verify: the frozen backbone on onnxruntime
    perception.py  Perception, CellMap, StoreClassifier, CellClassifier
    cells.py       cell_ground_centres, cell_ground_samples, pixel_to_cell: grid ↔ ground
    labels.py      cell_labels: a pixel label map → per-cell labels
    overlay.py     render_overlay: the annotated frame
    config.py      CameraConfig, PerceptionConfig: the [camera] and [perception] sections
"""
