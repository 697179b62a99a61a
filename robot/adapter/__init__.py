"""The adapter artifact: what learning writes and seeing reads, torch-free.

The small per-cell classifier on top of the frozen backbone travels as an ONNX graph with the
learner state it was exported from, in a versioned store that publishes a new version
atomically and only when it validates at least as well; perception runs the current version
and swaps to a newer one between frames. Learning trains it with torch (robot/learning/learner)
and never shares more with seeing than this package.

    exported.py  ExportedAdapter (ONNX bytes + metadata), CellPredictions, evaluate
    state.py     LearnerState (the adapter's weights as named numpy arrays), grow_classes
    store.py     AdapterStore: versions, publish, rollback, verification; score_adapter
    runner.py    AdapterRunner: perception's runner, hot-swaps a newly published version
"""
